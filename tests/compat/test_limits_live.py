"""The request limits at their boundaries, on workhorse and on Gunicorn 27 side by side.

Three command lines (the defaults, Superset's zeros, values above Gunicorn's
caps) and, for each, requests one byte or one field below, at and above
each limit as Gunicorn applies it. Both servers must answer with the same
status, or differ as tests/compat/differences.py lists (``limits:NAME``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from differences import KNOWN_DIFFERENCES, known_difference
from harness import CONTROL, SUBJECT, Case, running, status_of

pytestmark = pytest.mark.compat

APP = "compat_wsgi:app"


def request_line(length: int) -> bytes:
    """A request line of exactly ``length`` bytes (CRLF not counted)."""
    target = "/" + "a" * (length - len("GET / HTTP/1.1"))
    return f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()


def field_line(length: int) -> bytes:
    """One extra header line of exactly ``length`` bytes (its CRLF not counted)."""
    value = "v" * (length - len("X-Big: "))
    return f"GET / HTTP/1.1\r\nHost: t\r\nX-Big: {value}\r\nConnection: close\r\n\r\n".encode()


def big_head(fields: int, size: int) -> bytes:
    """``fields`` header lines of ``size`` bytes each: every line within its limit."""
    extra = "".join(f"X-{i:04}: {'v' * (size - 8)}\r\n" for i in range(fields))
    return f"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{extra}\r\n".encode()


def field_count(count: int) -> bytes:
    """A request with ``count`` header fields in all."""
    extra = "".join(f"X-{i}: v\r\n" for i in range(count - 2))
    return f"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{extra}\r\n".encode()


@dataclasses.dataclass(frozen=True)
class Limits:
    name: str
    flags: tuple[str, ...]
    probes: dict[str, Callable[[], bytes]]


CONFIGS = [
    Limits("defaults", (), {
        "line-4094": lambda: request_line(4094), "line-4095": lambda: request_line(4095),
        # limit_request_field_size counts the CRLF: 8188 + 2 = 8190.
        "field-8187": lambda: field_line(8187), "field-8188": lambda: field_line(8188),
        "field-8189": lambda: field_line(8189),
        "fields-99": lambda: field_count(99), "fields-100": lambda: field_count(100),
        "fields-101": lambda: field_count(101),
        # 9 fields of 8000 bytes: each within limit_request_field_size, 72 KB in all.
        "head-72k": lambda: big_head(9, 8000),
    }),
    # Superset's command line: 0 means no limit for the line, 8190 for a field.
    Limits("zeros", ("--limit-request-line", "0", "--limit-request-field_size", "0"), {
        "line-20000": lambda: request_line(20000),
        "field-8188": lambda: field_line(8188), "field-8189": lambda: field_line(8189),
    }),
    # Above Gunicorn's caps: 8190 for the line, 32768 fields.
    Limits("above-caps", ("--limit-request-line", "100000", "--limit-request-fields", "40000"), {
        "line-8190": lambda: request_line(8190), "line-8191": lambda: request_line(8191),
        "fields-5000": lambda: field_count(5000),
    }),
]  # fmt: skip


def _statuses(case: Case, server: str, root: Path, limits: Limits) -> dict[str, int | None]:
    with running(case, server, root) as run:
        return {name: status_of(run, build()) for name, build in limits.probes.items()}


@pytest.mark.parametrize("limits", CONFIGS, ids=[limits.name for limits in CONFIGS])
def test_limits_answer_as_gunicorn_does(limits: Limits, tmp_path: Path) -> None:
    (tmp_path / "case").mkdir()
    case = Case(
        name=f"limits-{limits.name}",
        directory=tmp_path / "case",
        command=["gunicorn", "-b", "127.0.0.1:@PORT@", *limits.flags, APP],
        env={}, worker="sync", probe="127.0.0.1:@PORT@", project="", source="",
    )  # fmt: skip
    with ThreadPoolExecutor(max_workers=2) as pool:
        control = pool.submit(_statuses, case, CONTROL, tmp_path, limits)
        subject = pool.submit(_statuses, case, SUBJECT, tmp_path, limits)
        found = {name: (control.result()[name], subject.result()[name]) for name in limits.probes}
    differing = {name for name, (theirs, ours) in found.items() if theirs != ours}
    listed = {
        name for name in limits.probes if known_difference(f"limits:{limits.name}:{name}", "")
    }
    assert differing == listed, f"(gunicorn, workhorse) statuses: {found}"
    assert all(ours is not None for _, ours in found.values()), found


def test_every_limits_entry_names_a_probe() -> None:
    probes = {f"limits:{c.name}:{name}" for c in CONFIGS for name in c.probes}
    entries = {key for key in KNOWN_DIFFERENCES if key.startswith("limits:")}
    assert sorted(entries - probes) == []
