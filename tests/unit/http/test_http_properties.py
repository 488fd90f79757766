"""Property tests: split invariance, a model check, and a bounded fuzz.

* A stream of valid requests, however it is cut into reads, gives the same
  events, and those events are the requests that were generated.
* Arbitrary bytes, and valid streams with bytes flipped, inserted or
  deleted, give events or a ProtocolError with a 4xx/5xx status, never any
  other exception and never an endless loop (the driver bounds its calls).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from http_corpus import Outcome, run_stream
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workhorse.http import EndOfMessage, Limits, ProtocolError, Request

SETTINGS = settings(
    # WORKHORSE_FUZZ_EXAMPLES=20000 for a longer fuzz run by hand.
    max_examples=int(os.environ.get("WORKHORSE_FUZZ_EXAMPLES", "300")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NAMES = st.text(TCHARS, min_size=1, max_size=12).filter(
    lambda n: (
        n.upper() not in {"HOST", "CONTENT-LENGTH", "TRANSFER-ENCODING", "CONNECTION", "EXPECT"}
    )
)
# A field value: visible characters, SP/HTAB and obs-text inside, none at the ends.
_VALUE_CHARS = st.sampled_from(
    [chr(c) for c in range(0x21, 0x7F)] + [" ", "\t", "\x80", "\xe9", "\xff"]
)
_VALUES = st.lists(_VALUE_CHARS, max_size=20).map("".join).map(lambda v: v.strip(" \t"))
_PATH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@%/"
_PATHS = st.text(_PATH_CHARS, max_size=20).map(lambda p: "/" + p)
_QUERIES = st.none() | st.text(_PATH_CHARS + "?", max_size=20)


@dataclass
class GeneratedRequest:
    method: str
    path: str
    query: str | None
    headers: list[tuple[str, str]]
    body: bytes
    framing: str  # "none", "length", "chunked"
    chunks: list[int]
    trailers: list[tuple[str, str]]

    @property
    def target(self) -> str:
        return self.path if self.query is None else f"{self.path}?{self.query}"

    def encode(self) -> bytes:
        lines = [f"{self.method} {self.target} HTTP/1.1", "Host: example.com"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.framing == "length":
            lines.append(f"Content-Length: {len(self.body)}")
        elif self.framing == "chunked":
            lines.append("Transfer-Encoding: chunked")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self.framing != "chunked":
            return head + self.body
        out, rest = [head], self.body
        for size in self.chunks:
            piece, rest = rest[:size], rest[size:]
            if piece:
                out.append(b"%x\r\n%b\r\n" % (len(piece), piece))
        if rest:
            out.append(b"%x\r\n%b\r\n" % (len(rest), rest))
        out.append(b"0\r\n")
        out += [f"{n}: {v}\r\n".encode("latin-1") for n, v in self.trailers]
        out.append(b"\r\n")
        return b"".join(out)


@st.composite
def requests(draw: st.DrawFn) -> GeneratedRequest:
    framing = draw(st.sampled_from(["none", "length", "chunked"]))
    body = b"" if framing == "none" else draw(st.binary(max_size=200))
    return GeneratedRequest(
        method=draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "PROPFIND"])),
        path=draw(_PATHS),
        query=draw(_QUERIES),
        headers=draw(st.lists(st.tuples(_NAMES, _VALUES), max_size=6)),
        body=body,
        framing=framing,
        chunks=draw(st.lists(st.integers(1, 50), max_size=6)),
        trailers=draw(st.lists(st.tuples(_NAMES.map(lambda n: "X-" + n), _VALUES), max_size=3))
        if framing == "chunked"
        else [],
    )


def _cuts(data: bytes, positions: list[int]) -> list[bytes]:
    cuts = sorted({p % (len(data) + 1) for p in positions})
    pieces, start = [], 0
    for cut in cuts:
        pieces.append(data[start:cut])
        start = cut
    pieces.append(data[start:])
    return [p for p in pieces if p]


def _comparable(outcome: Outcome) -> list[object]:
    out: list[object] = []
    for kind, value in outcome.events:
        if isinstance(value, Request):
            out.append((kind, value.method, value.target, value.headers, value.head_size))
        elif isinstance(value, EndOfMessage):
            out.append((kind, value.trailers))
        elif isinstance(value, ProtocolError):
            out.append((kind, value.status))
        else:
            out.append((kind, value))
    return out


@SETTINGS
@given(
    st.lists(requests(), min_size=1, max_size=4),
    st.lists(st.integers(0, 10_000), max_size=12),
)
def test_any_split_of_valid_requests_gives_the_same_events(
    generated: list[GeneratedRequest], positions: list[int]
) -> None:
    stream = b"".join(r.encode() for r in generated)
    whole = run_stream([stream])
    assert whole.error is None, whole.summary()
    assert _comparable(run_stream(_cuts(stream, positions))) == _comparable(whole)

    # ... and the events are the generated requests.
    assert [kind for kind, _ in whole.events][-1] == "closed"
    requests_seen = whole.requests
    assert len(requests_seen) == len(generated)
    bodies = _bodies(whole)
    for request, model, body in zip(requests_seen, generated, bodies, strict=True):
        assert request.method == model.method
        assert request.target == model.target
        assert request.path == model.path
        assert request.query == (model.query or "")
        assert request.headers[1 : 1 + len(model.headers)] == [
            (n.upper(), v) for n, v in model.headers
        ]
        assert request.chunked == (model.framing == "chunked")
        assert body == model.body
    trailers = [v.trailers for _, v in whole.events if isinstance(v, EndOfMessage)]
    assert trailers == [[(n.upper(), v) for n, v in m.trailers] for m in generated]


def _bodies(outcome: Outcome) -> list[bytes]:
    bodies, current = [], b""
    for kind, value in outcome.events:
        if kind == "data":
            assert isinstance(value, bytes)
            current += value
        elif kind == "end":
            bodies.append(current)
            current = b""
    return bodies


def _assert_only_protocol_errors(outcome: Outcome) -> None:
    error = outcome.error
    if error is not None:
        assert 400 <= error.status <= 599
        assert outcome.events[-1][0] == "error"
        # The reason goes back to the client: short, fixed text, never request bytes.
        assert error.reason.isascii() and error.reason.isprintable() and len(error.reason) < 60
        # The detail goes to the log: request bytes in it are bounded and escaped.
        assert error.detail.isprintable() and len(error.detail) < 300


SMALL_LIMITS = Limits(
    max_request_line=64,
    max_header_count=8,
    max_header_field_size=64,
    max_head_size=256,
    max_body_size=300,
    max_chunk_extension_size=16,
    max_trailer_size=64,
)


@SETTINGS
@given(st.binary(max_size=400), st.lists(st.integers(0, 10_000), max_size=8), st.booleans())
def test_arbitrary_bytes_give_events_or_a_protocol_error(
    data: bytes, positions: list[int], small: bool
) -> None:
    _assert_only_protocol_errors(
        run_stream(_cuts(data, positions), SMALL_LIMITS if small else None)
    )


@SETTINGS
@given(
    st.lists(requests(), min_size=1, max_size=3),
    st.lists(
        st.tuples(st.sampled_from(["flip", "insert", "delete"]), st.integers(0, 10_000),
                  st.sampled_from(b"\r\n\t \x00:;,0Ff\x7f\x80-\"")),
        min_size=1,
        max_size=4,
    ),
    st.lists(st.integers(0, 10_000), max_size=6),
    st.booleans(),
)  # fmt: skip
def test_mutated_requests_give_events_or_a_protocol_error(
    generated: list[GeneratedRequest],
    mutations: list[tuple[str, int, int]],
    positions: list[int],
    small: bool,
) -> None:
    data = bytearray(b"".join(r.encode() for r in generated))
    for operation, where, byte in mutations:
        i = where % (len(data) + 1)
        if operation == "insert":
            data[i:i] = bytes([byte])
        elif i < len(data):
            if operation == "flip":
                data[i] = byte
            else:
                del data[i]
    limits = SMALL_LIMITS if small else None
    outcome = run_stream(_cuts(bytes(data), positions), limits)
    _assert_only_protocol_errors(outcome)
    # Whatever came out, it came out the same when read whole, up to an error:
    # only which fault is reported first may depend on the reads.
    whole = run_stream([bytes(data)], limits)
    _assert_only_protocol_errors(whole)
    if whole.error is None and outcome.error is None:
        assert _comparable(outcome) == _comparable(whole)
