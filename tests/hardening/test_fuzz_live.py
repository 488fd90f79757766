"""Bounded fuzzing of a real server: random and mutated request streams over real sockets.

The property tests (tests/unit/http/test_http_properties.py) fuzz the
sans-I/O core in memory; this sends what hypothesis generates to a real
server (sync, gthread, gevent, and asgi serving hardening_asgi_app.py), in
random pieces, then closes its side, and asserts after every example:

- the server answers with well-formed responses (a valid status line and
  complete framing) or closes without a byte; it never leaves the
  connection hanging (a socket timeout is a failure);
- it keeps serving: a fresh request on a new connection gets 200;
- no worker died (the worker pids are the ones it started with);
- nothing in the log is a traceback (the app never raises).

The asgi worker takes the FIN as the client leaving when a request is still
in progress (corpus_model.py): that request gets no answer, only the close,
which these checks allow for every kind (a stream may end in a close).

The streams are corpus cases mutated byte-wise (insert attack tokens, delete,
duplicate, splice two cases, truncate), structured requests with random
framing (right or wrong Content-Length, right or broken chunked, both,
pipelined), and raw bytes. CI runs a fixed, derandomized set of
``DEFAULT_EXAMPLES`` per worker kind; the long form (docs/security.md)::

    WORKHORSE_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/hardening/test_fuzz_live.py -q

runs randomized examples (hypothesis prints the seed of a failure).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import pytest
from hardening_support import (
    Malformed,
    parse_responses,
    read_until_closed,
    start_server,
    tracebacks,
    worker_pids,
)
from http_corpus import load_cases
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

DEFAULT_EXAMPLES = 300
EXAMPLES = int(os.environ.get("WORKHORSE_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
#: CI replays the same examples every run; the long form explores.
DERANDOMIZE = "WORKHORSE_FUZZ_EXAMPLES" not in os.environ
#: After the client's FIN every stream must be answered or closed within this.
ANSWER_TIMEOUT = 5.0
#: Statuses the server may answer a stream with.
STATUSES = {100, 200, 400, 408, 413, 414, 417, 431, 501, 505}

SEEDS = [case.data for case in load_cases() if len(case.data) <= 9000]

#: Bytes that matter to an HTTP/1.1 parser, and whole attack fragments.
TOKENS = [
    b"\r\n", b"\r", b"\n", b"\r\n\r\n", b" ", b"\t", b":", b";", b",", b"=", b'"', b"\x00",
    b"\x0b", b"\x7f", b"\xff", b"0", b"1", b"9", b"f", b"F", b"-", b"+", b"x", b"/", b"?", b"#",
    b"Transfer-Encoding: chunked\r\n", b"Transfer-Encoding: chunked, identity\r\n",
    b"Content-Length: 0\r\n", b"Content-Length: 5\r\n", b"Content-Length: 99999\r\n",
    b"Connection: close\r\n", b"Connection: keep-alive\r\n", b"Expect: 100-continue\r\n",
    b"Host: a\r\n", b" chunked", b"0\r\n\r\n", b"5\r\nhello\r\n", b"ffffffffffffffffff\r\n",
    b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/0.9",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
]

METHODS = [b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT",
           b"get", b"G T", b"", b"\xffGET"]
TARGETS = [b"/", b"/a?b=1", b"*", b"http://a/b", b"a:1", b"/%00", b"/\xff", b"", b"/a b",
           b"/" + b"a" * 5000]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.2", b"HTTP/2.0", b"http/1.1", b"", b"HTTP/1.1 "]
HEADER_NAMES = [b"Host", b"X-A", b"Content-Length", b"Transfer-Encoding", b"Connection",
                b"Expect", b"X-Forwarded-Proto", b"Trailer", b"Upgrade", b"Host ", b"X\x00",
                b"", b"Transfer_Encoding"]
HEADER_VALUES = [b"a", b"chunked", b"0", b"3", b"-1", b"close", b"keep-alive",
                 b"100-continue", b"https", b"", b" chunked", b"chunked, chunked", b"x\ty",
                 b"\x01", b"a" * 9000]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "duplicate", "splice",
                                   "truncate", "flip"]))
        pos = draw(st.integers(0, len(data)))
        if op == "insert":
            data[pos:pos] = draw(st.sampled_from(TOKENS))
        elif op == "replace" and data:
            data[pos:pos + 1] = draw(st.sampled_from(TOKENS))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 8))]
        elif op == "duplicate":
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 64))]
        elif op == "splice":
            other = draw(st.sampled_from(SEEDS))
            data[pos:] = other[draw(st.integers(0, len(other))):]
        elif op == "truncate":
            del data[pos:]
        elif op == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


@st.composite
def structured(draw: st.DrawFn) -> bytes:
    """One to three pipelined requests with random heads and right or wrong framing."""
    stream = b""
    for _ in range(draw(st.integers(1, 3))):
        line = b" ".join([draw(st.sampled_from(METHODS)), draw(st.sampled_from(TARGETS)),
                          draw(st.sampled_from(VERSIONS))])
        fields = [b"Host: a"]
        for _ in range(draw(st.integers(0, 4))):
            fields.append(draw(st.sampled_from(HEADER_NAMES)) + b": "
                          + draw(st.sampled_from(HEADER_VALUES)))
        body = draw(st.binary(max_size=40))
        framing = draw(st.sampled_from(["none", "length", "short-length", "long-length",
                                        "chunked", "broken-chunked", "both"]))
        payload = b""
        if framing in ("length", "short-length", "long-length", "both"):
            delta = {"short-length": -1, "long-length": 3}.get(framing, 0)
            fields.append(b"Content-Length: %d" % max(0, len(body) + delta))
            payload = body
        if framing in ("chunked", "broken-chunked", "both"):
            fields.append(b"Transfer-Encoding: chunked")
            size = b"%x" % len(body) if framing != "broken-chunked" else b"%X;" % len(body)
            payload = (size + b"\r\n" + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
        stream += line + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n" + payload
    return stream


STREAMS = st.one_of(mutated(), structured(), st.binary(max_size=400))


@pytest.fixture(scope="module", params=["sync", "gthread", "gthread1", "gevent", "asgi"])
def fuzz_server(request, tmp_path_factory) -> Iterator[object]:
    kind = request.param
    extra = ["-w", "2"] if kind == "sync" else ["-w", "1"]
    server, _ = start_server(tmp_path_factory.mktemp(f"fuzz-{kind}"), kind, *extra,
                             name=f"fuzz-{kind}")
    try:
        server.wait_booted(2 if kind == "sync" else 1)
        yield server
    finally:
        server.stop()


def _send_in_pieces(port: int, data: bytes, cuts: list[int]) -> tuple[bytes, str]:
    chunks: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            previous = 0
            for cut in [*sorted(set(cuts)), len(data)]:
                if cut > previous:
                    sock.sendall(data[previous:cut])
                    previous = cut
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # refused and closed while we were sending: read what it said
        ending = read_until_closed(sock, chunks, deadline=time.monotonic() + ANSWER_TIMEOUT)
    return b"".join(chunks), ending


def _healthy(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT) as sock:
        sock.sendall(b"GET /pid HTTP/1.1\r\nHost: health\r\nConnection: close\r\n\r\n")
        chunks: list[bytes] = []
        read_until_closed(sock, chunks, deadline=time.monotonic() + ANSWER_TIMEOUT)
    return b"".join(chunks)


def _unexpected_tracebacks(log: str) -> list[str]:
    return tracebacks(log)


def test_fuzzed_streams_never_hang_crash_or_corrupt(fuzz_server):
    server = fuzz_server
    workers = worker_pids(server)
    assert workers
    log_start = len(server.log())

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=DERANDOMIZE,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
    @given(data=STREAMS, cut_fractions=st.lists(st.floats(0, 1), max_size=4))
    def one_stream(data: bytes, cut_fractions: list[float]) -> None:
        cuts = [int(f * len(data)) for f in cut_fractions]
        received, ending = _send_in_pieces(server.port, data, cuts)
        context = f"sent {data[:300]!r} cut at {cuts}; got {received[:300]!r} ({ending})"
        assert ending != "timeout", f"no answer or close {ANSWER_TIMEOUT}s after FIN: {context}"
        try:
            responses, rest = parse_responses(received)
        except Malformed as exc:
            raise AssertionError(f"{exc}: {context}") from None
        assert not rest, f"a response cut short: {context}"
        assert all(r.status in STATUSES for r in responses), context
        health = _healthy(server.port)
        assert health.startswith(b"HTTP/1.1 200 "), f"not serving after {context}: {health!r}"
        assert worker_pids(server) == workers, f"a worker died after {context}"
        found = _unexpected_tracebacks(server.log()[log_start:])
        assert not found, f"traceback after {context}:\n{found[0]}"

    one_stream()
    assert server.proc is not None and server.proc.poll() is None
