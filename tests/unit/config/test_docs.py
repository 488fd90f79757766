"""docs/settings.md is generated from the registry and must not go stale."""

from __future__ import annotations

from pathlib import Path

import pytest

from workhorse.config import Support, all_settings
from workhorse.config.docs import REGENERATE, main, render

SETTINGS_MD = Path(__file__).resolve().parents[3] / "docs" / "settings.md"


def test_settings_md_is_up_to_date() -> None:
    current = SETTINGS_MD.read_text(encoding="utf-8") if SETTINGS_MD.exists() else ""
    if current != render():
        pytest.fail(f"docs/settings.md is stale: run `{REGENERATE}` from the repository root")


def test_every_setting_has_an_entry() -> None:
    text = render()
    for info in all_settings():
        assert f"### `{info.name}`\n" in text


def test_entries_show_flags_env_default_accepts_and_support() -> None:
    text = render()
    assert "| Flags | `-w INT`, `--workers INT` |" in text
    assert "| Environment | `WEB_CONCURRENCY` |" in text
    assert "| Default | 1, or $WEB_CONCURRENCY when set |" in text
    assert "| Accepts | a non-negative integer |" in text
    assert "| Flags | `--proxy-protocol [MODE]` |" in text
    assert "| Flags | `--no-sendfile` |" in text
    for info in all_settings():
        if info.spec.support is Support.ACCEPTED:
            assert f"accepted, not implemented: {info.spec.note}" in text


def test_intro_covers_precedence_and_worker_tmp_dir() -> None:
    text = render()
    assert "## Where values come from" in text
    assert "`WORKHORSE_CMD_ARGS` wins" in text
    assert "## worker_tmp_dir" in text


def test_render_does_not_depend_on_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    first = render()
    monkeypatch.setenv("PORT", "1234")
    monkeypatch.setenv("WEB_CONCURRENCY", "9")
    monkeypatch.chdir("/")
    assert render() == first


def test_check_mode(tmp_path: Path) -> None:
    output = tmp_path / "settings.md"
    assert main(["--output", str(output), "--check"]) == 1
    assert main(["--output", str(output)]) == 0
    assert main(["--output", str(output), "--check"]) == 0


COMPATIBILITY_MD = SETTINGS_MD.parent / "compatibility.md"
STATUSES = ("same", "better on purpose", "accepted, ignored with a warning", "not yet: ")


def test_compatibility_md_gives_every_gunicorn_27_setting_a_status() -> None:
    from gunicorn.config import KNOWN_SETTINGS

    rows: dict[str, str] = {}  # the settings table is the first to name a setting
    for line in COMPATIBILITY_MD.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            cells = line.split("|")
            rows.setdefault(cells[1].strip().strip("`"), cells[3].strip())
    missing = [s.name for s in KNOWN_SETTINGS if s.name not in rows]
    assert missing == []
    unclassified = {
        s.name: rows[s.name] for s in KNOWN_SETTINGS if not rows[s.name].startswith(STATUSES)
    }
    assert unclassified == {}


def test_accepted_settings_are_documented_as_ignored_or_not_yet() -> None:
    text = COMPATIBILITY_MD.read_text(encoding="utf-8")
    for info in all_settings():
        if info.spec.support is Support.ACCEPTED:
            row = next(line for line in text.splitlines() if line.startswith(f"| `{info.name}` |"))
            assert "ignored with a warning" in row or "not yet" in row or "not implemented" in row
