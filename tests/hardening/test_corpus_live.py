"""Every request-corpus case, sent to a real server (sync, gthread, gevent, asgi) over a real
socket.

The unit tests prove the sans-I/O core parses each case as the corpus says;
this proves the server around it does too (corpus_model.py turns a case into
the expectation):

- a malformed case gets the expected 4xx (or 5xx: 501, 505) status line,
  with ``Connection: close``, and the server closes the connection by
  itself, without waiting for the client's FIN;
- a valid case gets exactly one 2xx per request (the sync worker serves
  one request per connection: exactly one);
- the application sees exactly the requests of the case, and never one
  whose target is the ``/smuggled`` marker hidden in attack bodies.

The asgi worker serves hardening_asgi_app.py, the recording app's twin; where
it differs by design (a FIN during a request is the client leaving; a
WebSocket upgrade is a handshake; the app sees ``raw_path`` and
``query_string``, not the raw target), corpus_model.py says so and the
checks stay the same.

A case whose ``limits:`` have a setting runs on a server started with that
setting; a limit with no setting (head, trailer and chunk-line sizes) is
fixed in the server, so those cases run against the default and the model
uses the default too (the unit tests cover the smaller limits).
"""

from __future__ import annotations

import pytest
from corpus_model import FIXED_LIMITS, case_id, expect, server_flags
from hardening_support import SERVED_KINDS, exchange, parse_responses
from http_corpus import check, load_cases

CASES = load_cases()
IDS = [case_id(c) for c in CASES]

#: Cases whose error is found while the application reads the request body (a bad
#: chunk, a body cut short, a chunked body over the limit): the ProtocolError that
#: _body_source raises inside the app is caught by _run_app as an app failure.

def _params() -> list[object]:
    params = []
    for case in CASES:
        for kind in SERVED_KINDS:
            params.append(pytest.param(case, kind, id=f"{kind}:{case_id(case)}"))
    return params


def test_the_corpus_covers_the_attack_classes():
    names = {c.name for c in CASES}
    assert len(CASES) >= 281
    for needed in ("cl-te-classic", "te-cl-classic", "cl-duplicate-different", "cl-comma-list",
                   "te-chunked-case-insensitive", "te-chunked-identity", "te-xchunked",
                   "te-repeated-fields", "chunk-size-overflow", "chunk-size-garbage",
                   "chunk-extension-no-name", "last-chunk-missing-final-crlf",
                   "trailers-too-large", "trailers-forbidden-content-length", "obs-fold",
                   "bare-lf-in-header", "bare-cr-in-header", "value-with-nul",
                   "space-before-colon", "method-not-a-token", "version-http12",
                   "target-control-char", "absolute-form", "connect", "http09-request",
                   "request-line-over-default-limit", "field-over-default-limit"):
        assert needed in names, needed


@pytest.mark.parametrize(("case", "kind"), _params())
def test_case_live(case, kind, server_pool):
    flags, limits = server_flags(case.limits)
    server, records = server_pool.get(kind, flags)
    model = expect(case.data, limits, one_per_connection=kind == "sync",
                   asgi=kind == "asgi")
    if limits == case.limits and kind == "gthread":
        check(case, model.outcome)  # the model is the corpus (the unit tests prove it too)
    mark = records.mark()

    # Half-close only when the case needs the client's end of stream to be decided:
    # otherwise the server must close by itself. The WSGI workers get the FIN at
    # once (it must not cost an answer); the asgi worker once the answers that need
    # no FIN are in (a FIN before them would be the client leaving).
    result = exchange(server.port, case.data, half_close=model.needs_eof,
                      half_close_after=model.answered_before_eof if kind == "asgi" else 0,
                      methods=model.methods)

    responses, rest = parse_responses(result.received, model.methods)
    expected = model.targets(kind)
    seen = [(r["method"], r["target"]) for r in records.wait_since(mark, len(expected))]
    context = (f"{case_id(case)} on {kind} {' '.join(flags)}: got {result.received[:600]!r} "
               f"ending {result.ending}; app saw {seen}")
    assert [r.status for r in responses] == model.statuses, context
    assert not rest, context
    assert result.closed, "the server did not close the connection: " + context
    if model.error is not None and not model.abandoned:
        assert responses[-1].header("Connection") == "close", context
    for response in responses[:-1] if model.error is not None else responses:
        assert 200 <= response.status < 300, context
    assert seen == expected, context
    assert not [t for _, t in seen if "smuggled" in t.lower()], context


def test_fixed_limits_are_named():
    # A corpus case using a limit that has neither a flag nor a fixed-limit entry
    # would silently run against the wrong server.
    from corpus_model import DEFAULT_LIMITS, LIMIT_FLAGS

    for case in CASES:
        for name in DEFAULT_LIMITS.__dataclass_fields__:
            if getattr(case.limits, name) != getattr(DEFAULT_LIMITS, name):
                assert name in LIMIT_FLAGS or name in FIXED_LIMITS, (case.name, name)
