"""Every request-corpus case, sent to the master's metrics listener over a real socket.

The metrics listener faces the network when ``metrics_bind`` is public, and
it parses requests with the same sans-I/O core as the workers (with its own,
tighter limits), so the corpus is its model too: a case the core refuses
before its first request gets that status; a case whose first request is
valid gets the listener's own answer for it (200 for ``/metrics`` and
``/healthz``, 404 elsewhere, 405 for methods other than GET and HEAD). The
listener answers one request per connection, always with
``Connection: close``, and closes by itself. Bodies are never read, so
errors that only a body reveals are not its to find. Cases larger than the
listener's whole-head cap (8 KiB) are answered 431 before parsing ends;
tests/unit/observe checks that cap.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus_model import case_id, expect
from hardening_support import exchange, parse_responses
from http_corpus import load_cases

from support import Server, free_port, wait_for
from workhorse.http import Request
from workhorse.observe.metrics_http import LIMITS, MAX_HEAD

CASES = [case for case in load_cases() if len(case.data) <= MAX_HEAD]


@pytest.fixture(scope="module")
def metrics_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    directory = tmp_path_factory.mktemp("metrics-corpus")
    port = free_port()
    server = Server(["-w", "1", "--metrics-bind", f"127.0.0.1:{port}", "testapp:app"],
                    log_path=directory / "server.log")
    server.start()
    try:
        wait_for(lambda: _answers(port), message="the metrics listener")
        yield port
    finally:
        server.stop()


def _answers(port: int) -> bool:
    try:
        result = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", half_close=False)
    except OSError:
        return False
    return result.received.startswith(b"HTTP/1.1 200 ")


def routed(request: Request) -> int:
    if request.method not in ("GET", "HEAD"):
        return 405
    return 200 if request.path in ("/metrics", "/healthz") else 404


def test_the_corpus_reaches_the_listener():
    assert len(CASES) >= 250, len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_case_on_the_metrics_listener(case, metrics_port):
    model = expect(case.data, LIMITS, one_per_connection=True)
    first = model.outcome.events[0] if model.outcome.events else None
    if first is not None and first[0] == "request":
        request = first[1]
        assert isinstance(request, Request)
        status, method = routed(request), request.method
    elif model.error is not None:
        status, method = model.error, "GET"
    else:  # the client closed without a request: closed without an answer
        result = exchange(metrics_port, case.data, half_close=True)
        assert (result.received, result.closed) == (b"", True), case_id(case)
        return
    result = exchange(metrics_port, case.data, half_close=model.needs_eof)
    responses, rest = parse_responses(result.received, [method])
    context = f"{case_id(case)}: got {result.received[:300]!r} ending {result.ending}"
    assert [r.status for r in responses] == [status], context
    assert responses[0].header("Connection") == "close", context
    assert result.closed, "the listener did not close the connection: " + context
    assert not rest, context


if __name__ == "__main__":
    sys.exit(pytest.main([str(Path(__file__))]))
