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

The asgi worker differs in three ways that are its design, not leniency:

- It takes the client's FIN during a request as the client leaving (as
  uvicorn does): the request's app is told ``http.disconnect`` and the
  connection closes, with no answer for that request. The WSGI workers
  instead read the FIN as the end of the body and answer 400 when the body
  is short. So for asgi a client half-closes only once it has the answers
  the stream earns without the FIN (``answered_before_eof``; a real client
  waits for its responses), and a request still short of its body then is
  ``abandoned``: the app saw it, nobody answers it, the connection closes.
  A FIN between requests, or inside a head, is the core's as for WSGI
  (closed, or 400 for a head cut short).
- It serves WebSocket: a request that asks for the upgrade
  (``is_websocket_upgrade``) is a handshake, not an HTTP request. The asgi
  core's ``read_handshake`` decides: a HandshakeError is answered with its
  status before any app runs; a valid handshake goes to the app (the
  recording app refuses it: 403). Either way nothing after it on the
  connection is read. The WSGI workers serve it as a plain request, its
  body as a body.
- ASGI has no raw request target: the app sees ``raw_path`` and
  ``query_string`` (:func:`asgi_target`).
"""

from __future__ import annotations

import dataclasses

from http_corpus import Case, Outcome, _drain

from workhorse.asgi import HandshakeError, is_websocket_upgrade
from workhorse.asgi.ws_handshake import read_handshake
from workhorse.http import Limits, Request, ServerConnection

#: The recording ASGI app's answer to a valid WebSocket handshake: it closes
#: before accepting, which the server answers 403.
WEBSOCKET_REFUSED = 403

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
    #: Final responses the stream gets before the client's FIN.
    answered_before_eof: int = 0
    #: The FIN came while a request waited for its body, and the server (asgi)
    #: took it as the client leaving: that request has no answer.
    abandoned: bool = False

    @property
    def error(self) -> int | None:
        return self.outcome.error.status if self.outcome.error is not None else None

    @property
    def body_error(self) -> bool:
        """The error is found in a request body, so while the app reads it."""
        kinds = [kind for kind, _ in self.outcome.events]
        return bool(kinds) and kinds[-1] == "error" and len(kinds) > 1 and \
            kinds[-2] in ("request", "data")

    def targets(self, kind: str = "") -> list[tuple[str, str]]:
        """What the app of a ``kind`` server records for each request."""
        if kind == "asgi":
            return [(r.method, asgi_target(r)) for r in self.requests]
        return [(r.method, r.target) for r in self.requests]


def expect(data: bytes, limits: Limits, *, one_per_connection: bool,
           asgi: bool = False) -> Expectation:
    """Run the core on ``data`` as the server would, first without and then with EOF.

    ``asgi``: the asgi worker's model (see the module docstring): a FIN during
    a request is the client leaving, and a WebSocket upgrade is a handshake.
    """
    conn = ServerConnection(limits)
    if one_per_connection:
        conn.close_after_response()
    outcome = Outcome()
    if data:
        conn.receive_data(data)
    done = _drain(conn, outcome)
    upgrade = _first_upgrade(outcome) if asgi else None
    if upgrade is not None:
        return _handshake_expectation(outcome, upgrade)
    answered_before_eof = len(_answers(outcome)[0])
    abandoned = not done and asgi and _request_in_progress(outcome)
    if not done and not abandoned:
        conn.receive_data(b"")
        _drain(conn, outcome)
    statuses, methods = _answers(outcome)
    return Expectation(outcome.requests, statuses, methods, not done, outcome,
                       answered_before_eof, abandoned)


def _answers(outcome: Outcome) -> tuple[list[int], list[str]]:
    """The final statuses the events call for, and the method each answers."""
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
    return statuses, methods


def _first_upgrade(outcome: Outcome) -> int | None:
    """The index of the first event that is a WebSocket upgrade request, if any."""
    for index, (kind, value) in enumerate(outcome.events):
        if kind == "request" and isinstance(value, Request) and is_websocket_upgrade(value):
            return index
    return None


def _handshake_expectation(outcome: Outcome, index: int) -> Expectation:
    """The asgi worker's answer to a stream that reaches a WebSocket upgrade: the
    requests before it as usual, then the handshake's verdict, then the close."""
    request = outcome.events[index][1]
    assert isinstance(request, Request)
    # A refused body of the upgrade request itself would race the handshake's
    # verdict (the core refuses it as its bytes arrive): no corpus case has one.
    assert not [kind for kind, _ in outcome.events[index:] if kind == "error"], \
        "a WebSocket upgrade with a malformed body: model which answer comes first"
    before = Outcome(events=outcome.events[:index])
    statuses, methods = _answers(before)
    try:
        read_handshake(request)
    except HandshakeError as refused:
        before.error = refused  # answered by the server, with Connection: close
        return Expectation(before.requests, [*statuses, refused.status],
                           [*methods, request.method], False, before)
    before.add("request", request)  # a valid handshake: the app sees it and refuses
    return Expectation(before.requests, [*statuses, WEBSOCKET_REFUSED],
                       [*methods, request.method], False, before)


def _request_in_progress(outcome: Outcome) -> bool:
    """A request head came and its body has not ended (its app waits for more)."""
    in_progress = False
    for kind, _ in outcome.events:
        if kind == "request":
            in_progress = True
        elif kind in ("end", "error"):
            in_progress = False
    return in_progress


def asgi_target(request: Request) -> str:
    """The target an ASGI app can see: the path and, if any, ``?`` and the query
    (``raw_path`` and ``query_string``; the scheme and authority of an
    absolute-form target, and an empty ``?``, are not in the scope)."""
    return f"{request.path}?{request.query}" if request.query else request.path


def case_id(case: Case) -> str:
    return f"{case.file.removesuffix('.http')}/{case.name}"
