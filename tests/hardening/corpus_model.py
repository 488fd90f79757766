"""What a live server must do with each corpus case: the sans-I/O core as the model.

Strategy: a corpus case (tests/corpus/requests, loaded by
tests/unit/http/http_corpus.py) lists the events the HTTP core produces. The
unit tests prove the core produces exactly them; here they become the
expectation for a real server over a real socket, for the limits that server
really has (flags translated from the case's ``limits:``):

- the requests the application must see (and none other);
- the final responses, in order: 200 from the recording app for each
  complete request, then the error's status;
- whether the server must close on its own (an error, ``Connection:
  close``, the sync worker's one request per connection) or only after the
  client's FIN (the case needs end-of-stream to be decided).

The sync worker serves one request per connection, so its model is the core
with ``close_after_response()``: it stops after the first response.
"""

from __future__ import annotations

import dataclasses

from http_corpus import Case, Outcome, _drain

from workhorse.http import Limits, Request, ServerConnection

#: Corpus ``limits:`` fields and the command-line flags that set them.
LIMIT_FLAGS = {
    "max_request_line": "--limit-request-line",
    "max_header_count": "--limit-request-fields",
    "max_header_field_size": "--limit-request-field_size",
    "max_body_size": "--limit-request-body",
    "permit_obsolete_folding": "--permit-obsolete-folding",
    "permit_unconventional_http_method": "--permit-unconventional-http-method",
    "permit_unconventional_http_version": "--permit-unconventional-http-version",
    "casefold_http_method": "--casefold-http-method",
    "strip_header_spaces": "--strip-header-spaces",
}
#: Limits with no setting (fixed in the server): such cases run with the default.
FIXED_LIMITS = ("max_head_size", "max_chunk_extension_size", "max_trailer_size")

DEFAULT_LIMITS = Limits()


def server_flags(limits: Limits) -> tuple[tuple[str, ...], Limits]:
    """The flags that give a server the case's limits, and the limits it will have."""
    flags: list[str] = []
    settable: dict[str, object] = {}
    for name, flag in LIMIT_FLAGS.items():
        value = getattr(limits, name)
        if value == getattr(DEFAULT_LIMITS, name):
            continue
        settable[name] = value
        if isinstance(value, bool):
            flags.append(flag)
        else:
            flags += [flag, str(value)]
    return tuple(flags), dataclasses.replace(DEFAULT_LIMITS, **settable)  # type: ignore[arg-type]


@dataclasses.dataclass
class Expectation:
    requests: list[Request]
    statuses: list[int]
    #: The request method each final response answers ("GET" for a refused head).
    methods: list[str]
    #: The server decides only once it sees the client's FIN.
    needs_eof: bool
    outcome: Outcome

    @property
    def error(self) -> int | None:
        return self.outcome.error.status if self.outcome.error is not None else None

    @property
    def body_error(self) -> bool:
        """The error is found in a request body, so while the app reads it."""
        kinds = [kind for kind, _ in self.outcome.events]
        return bool(kinds) and kinds[-1] == "error" and len(kinds) > 1 and \
            kinds[-2] in ("request", "data")

    def targets(self) -> list[tuple[str, str]]:
        return [(r.method, r.target) for r in self.requests]


def expect(data: bytes, limits: Limits, *, one_per_connection: bool) -> Expectation:
    """Run the core on ``data`` as the server would, first without and then with EOF."""
    conn = ServerConnection(limits)
    if one_per_connection:
        conn.close_after_response()
    outcome = Outcome()
    if data:
        conn.receive_data(data)
    done = _drain(conn, outcome)
    if not done:
        conn.receive_data(b"")
        _drain(conn, outcome)
    statuses: list[int] = []
    methods: list[str] = []
    pending: Request | None = None
    for kind, value in outcome.events:
        if kind == "request":
            assert isinstance(value, Request)
            pending = value
        elif kind == "end":
            assert pending is not None
            statuses.append(200)
            methods.append(pending.method)
            pending = None
        elif kind == "error":
            assert outcome.error is not None
            statuses.append(outcome.error.status)
            methods.append(pending.method if pending is not None else "GET")
    return Expectation(outcome.requests, statuses, methods, not done, outcome)


def case_id(case: Case) -> str:
    return f"{case.file.removesuffix('.http')}/{case.name}"
