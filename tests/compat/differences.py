"""The single table of known differences between workhorse and Gunicorn 27 on the corpus.

Strategy: a case whose two servers behave differently passes only if its
difference is listed here, exactly (the fields that differ), with the
reason and whether it is better on purpose or not done yet. An entry whose
difference is gone fails too, so the table never claims more than is true.

Entries are keyed by case name, or by ``worker:FAMILY`` for every case that
runs a worker family workhorse does not have (none today: the gevent
worker's entry went when it landed). ``limits:CONFIG:PROBE`` entries belong to the request-limit
boundaries of test_limits_live.py.
"""

from __future__ import annotations

import dataclasses

BETTER = "better on purpose"


def not_yet(issue: str) -> str:
    return f"not yet: {issue}"


@dataclasses.dataclass(frozen=True)
class Difference:
    #: The observation fields that differ (see harness.COMPARED).
    fields: frozenset[str]
    reason: str
    #: BETTER, or not_yet("<issue>").
    status: str


_UVICORN_ACCESS_FORMAT = Difference(
    frozenset({"access_line"}),
    "the access log line follows access_log_format (Gunicorn's default here), as for"
    " every worker; Gunicorn's uvicorn worker writes uvicorn's own line instead"
    ' (`HOST:PORT - "GET /path HTTP/1.1" 200`) and ignores access_log_format',
    BETTER,
)

_UVICORN_ACCESS_SWITCH = Difference(
    frozenset({"access_log", "access_line"}),
    "the access log is on, as Gunicorn turns it on for its own workers (accesslog,"
    " logconfig or logconfig_dict set: here logconfig_dict), and the line goes where the"
    " dict sends gunicorn.access; Gunicorn's uvicorn worker does not use that rule: it"
    " gives uvicorn's access logger only the handlers gunicorn.access has of its own,"
    " none when the dict configures the parent 'gunicorn' logger, so no line is written"
    " (Gunicorn's own asgi worker writes the same line as workhorse with this config)",
    BETTER,
)

KNOWN_DIFFERENCES: dict[str, Difference] = {
    "03-tiangolo-uvicorn-gunicorn-docker": _UVICORN_ACCESS_FORMAT,
    "06-authentik": _UVICORN_ACCESS_SWITCH,
    "36-plane": _UVICORN_ACCESS_FORMAT,
    # tests/compat/test_limits_live.py: limits:CONFIG:PROBE
    "limits:defaults:head-72k": Difference(
        frozenset({"status"}),
        "a request head over 64 KiB gets 431 from workhorse even when each line and the"
        " field count are within their limits; Gunicorn buffers up to"
        " limit_request_fields * (limit_request_field_size + 2) bytes (800 KiB by"
        " default, 268 MB with 32768 fields) per connection. The cap bounds the memory"
        " one slow client can hold, and 64 KiB is twice what nginx passes by default",
        BETTER,
    ),
}


def known_difference(case_name: str, worker: str) -> Difference | None:
    """The listed difference for a case: its own entry, else its worker family's."""
    return KNOWN_DIFFERENCES.get(case_name) or KNOWN_DIFFERENCES.get(f"worker:{worker}")


def corpus_result(case_name: str, worker: str) -> str:
    """The corpus table's result column for a case."""
    listed = known_difference(case_name, worker)
    if listed is None:
        return "same"
    return f"differs in {', '.join(sorted(listed.fields))} ({listed.status}): {listed.reason}"
