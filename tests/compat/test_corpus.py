"""Real published Gunicorn configurations behave the same under workhorse as under Gunicorn 27.

Each case of tests/compat/corpus runs under both servers side by side (see
harness.py); the test passes when the observations are equal, or when they
differ exactly as tests/compat/differences.py says.

The cases of tests/compat/pending are ready for the corpus but held back by
a workhorse bug, which their case.json names (``blocked_by``): each still
runs, and must still differ exactly in the fields that bug makes differ.
When one no longer does (the bug is fixed), it belongs in the corpus.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from differences import KNOWN_DIFFERENCES, corpus_result, known_difference
from harness import CONTROL, PENDING_DIR, SUBJECT, load_cases, observe_both
from harness import differences as observed_differences

pytestmark = pytest.mark.compat

CASES = load_cases()
PENDING = load_cases(PENDING_DIR)
#: The issue "Drop-in for real" asks for at least this many real configurations.
MIN_CASES = 25


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case_behaves_as_under_gunicorn(case: object, tmp_path: Path) -> None:
    control, subject = observe_both(case, tmp_path)  # type: ignore[arg-type]
    found = set(observed_differences(control, subject))
    listed = known_difference(case.name, case.worker)  # type: ignore[attr-defined]
    expected = set(listed.fields) if listed else set()
    varies = case.control_varies  # type: ignore[attr-defined]
    if varies and found == set(varies["fields"]):
        expected = found  # the control's race, as the case documents it
    assert found == expected, (
        f"{case.name}: differs in {sorted(found)}, the table lists {sorted(expected)}\n"  # type: ignore[attr-defined]
        f"{CONTROL}: {control}\n{SUBJECT}: {subject}"
    )


@pytest.mark.parametrize("case", PENDING, ids=[case.name for case in PENDING])
def test_pending_case_still_shows_its_bug(case: object, tmp_path: Path) -> None:
    blocked_by = case.blocked_by  # type: ignore[attr-defined]
    assert blocked_by and blocked_by.get("bug") and blocked_by.get("fields"), (
        f"{case.name}: a pending case names its bug and the fields it makes differ"  # type: ignore[attr-defined]
    )
    control, subject = observe_both(case, tmp_path)  # type: ignore[arg-type]
    found = set(observed_differences(control, subject))
    assert found == set(blocked_by["fields"]), (
        f"{case.name}: differs in {sorted(found)}, its bug in {sorted(blocked_by['fields'])}"  # type: ignore[attr-defined]
        f" ({blocked_by['bug']}). If the bug is fixed, move the case from"
        f" tests/compat/pending to tests/compat/corpus.\n"
        f"{CONTROL}: {control}\n{SUBJECT}: {subject}"
    )


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= MIN_CASES


def test_every_table_entry_names_a_case_or_a_worker_family() -> None:
    names = {case.name for case in CASES} | {f"worker:{case.worker}" for case in CASES}
    corpus_entries = {key for key in KNOWN_DIFFERENCES if not key.startswith("limits:")}
    assert sorted(corpus_entries - names) == []


def test_a_case_is_in_the_corpus_or_pending_not_both() -> None:
    assert sorted({c.name for c in CASES} & {c.name for c in PENDING}) == []


COMPATIBILITY_MD = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"
TABLE_START = "<!-- corpus table: generated from tests/compat; do not edit -->"
TABLE_END = "<!-- end of corpus table -->"


def render_corpus_table() -> str:
    """The corpus result table of docs/compatibility.md, and its totals."""
    rows = ["| Case | Project and source | Worker | Result |", "|---|---|---|---|"]
    for case in CASES:
        source = case.source.split(" ")[0]
        result = corpus_result(case.name, case.worker).replace("|", "\\|")
        rows.append(f"| `{case.name}` | [{case.project}]({source}) | {case.worker} | {result} |")
    same = sum(known_difference(case.name, case.worker) is None for case in CASES)
    totals = (
        f"{len(CASES)} cases: {same} behave the same under workhorse and Gunicorn 27,"
        f" {len(CASES) - same} differ as listed."
    )
    return "\n".join([TABLE_START, *rows, "", totals, TABLE_END])


def test_the_docs_show_the_current_corpus_table() -> None:
    text = COMPATIBILITY_MD.read_text(encoding="utf-8")
    start, end = text.index(TABLE_START), text.index(TABLE_END) + len(TABLE_END)
    if text[start:end] != render_corpus_table():
        pytest.fail(
            "docs/compatibility.md's corpus table is stale: replace it with"
            " tests/compat/test_corpus.py:render_corpus_table()"
        )
