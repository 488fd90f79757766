"""Load the request corpus (tests/corpus/requests/*.http) and run cases.

File format: a file holds many cases. A case starts with ``=== name``; its
metadata lines follow (``# comment``, ``limits: key=value ...``, one
``expect: ...`` line per expected event); the first blank line ends the
metadata and the rest, up to the next ``===``, is the raw request stream.

In the stream, physical line breaks are ignored: every byte is written
explicitly, so editors and git cannot change CRLFs or trailing spaces.
Escapes: ``\\r \\n \\t \\0 \\\\ \\xHH``, and ``\\R{N:text}`` for ``text`` repeated
N times (for limit tests).

Expected events (``expect:`` lines), matched in order:

* ``request METHOD TARGET VERSION [key=value ...]`` -- a Request; the keys
  that are given must match: path, query, cl, chunked, keep_alive, expect,
  scheme, authority, head_size, headers (the count), ``h:NAME`` (the first
  value of that uppercased header);
* ``data BYTES`` -- body bytes (consecutive Data events are joined);
* ``end [trailers=N] [t:NAME=value ...]`` -- EndOfMessage;
* ``closed`` -- ConnectionClosed;
* ``close`` -- the server had to close after answering (keep_alive False),
  so the driver stopped reading;
* ``error STATUS ["detail substring"]`` -- a ProtocolError.

The driver answers each request (at PAUSED) with an empty 200 and starts the
next cycle while the connection stays open; after the stream it feeds EOF.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path

from workhorse.http import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Limits,
    ProtocolError,
    Request,
    ServerConnection,
)

CORPUS_DIR = Path(__file__).resolve().parents[2] / "corpus" / "requests"

#: A driver that needs more calls than this per fed piece is looping.
MAX_EVENTS_PER_PIECE = 10_000

_SIMPLE = {"r": "\r", "n": "\n", "t": "\t", "0": "\0", "\\": "\\"}
_REPEAT = re.compile(r"R\{(\d+):")


def unescape(text: str) -> bytes:
    """Decode the corpus escapes of ``text`` (physical newlines dropped)."""
    out, _ = _unescape(text.replace("\r", "").replace("\n", ""), 0, nested=False)
    return out.encode("latin-1")


def _unescape(text: str, i: int, nested: bool) -> tuple[str, int]:
    """Decode from ``i`` to the end, or to the "}" closing a \\R{ when nested."""
    out: list[str] = []
    while i < len(text):
        char = text[i]
        if char == "}" and nested:
            return "".join(out), i + 1
        if char != "\\":
            out.append(char)
            i += 1
            continue
        escape = text[i + 1 : i + 2]
        if escape == "x":
            out.append(chr(int(text[i + 2 : i + 4], 16)))
            i += 4
        elif (m := _REPEAT.match(text, i + 1)) is not None:
            inner, i = _unescape(text, m.end(), nested=True)
            out.append(inner * int(m.group(1)))
        elif escape in _SIMPLE:
            out.append(_SIMPLE[escape])
            i += 2
        else:
            raise ValueError(f"unknown escape \\{escape} in {text[:40]!r}")
    if nested:
        raise ValueError(f"unclosed \\R{{ in {text[:40]!r}")
    return "".join(out), i


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    file: str
    data: bytes
    expected: tuple[str, ...]
    limits: Limits
    comment: str

    @property
    def error_status(self) -> int | None:
        last = self.expected[-1] if self.expected else ""
        return int(last.split()[1]) if last.startswith("error ") else None


def _parse_limits(text: str) -> Limits:
    values: dict[str, object] = {}
    for item in text.split():
        key, _, raw = item.partition("=")
        values[key] = {"true": True, "false": False}.get(raw)
        if values[key] is None:
            values[key] = int(raw)
    return Limits(**values)  # type: ignore[arg-type]


def load_cases(directory: Path = CORPUS_DIR) -> list[Case]:
    cases: list[Case] = []
    for path in sorted(directory.glob("*.http")):
        text = path.read_text(encoding="utf-8")
        for chunk in re.split(r"^=== ", text, flags=re.MULTILINE)[1:]:
            header, _, rest = chunk.partition("\n")
            name = header.strip()
            meta, _, stream = rest.partition("\n\n")
            expected: list[str] = []
            comments: list[str] = []
            limits = Limits()
            for line in meta.splitlines():
                line = line.strip()
                if not line:
                    continue
                if line.startswith("#"):
                    comments.append(line.lstrip("# "))
                elif line.startswith("expect:"):
                    expected.append(line[len("expect:") :].strip())
                elif line.startswith("limits:"):
                    limits = _parse_limits(line[len("limits:") :])
                else:
                    raise ValueError(f"{path.name}/{name}: unknown metadata line {line!r}")
            if not expected:
                raise ValueError(f"{path.name}/{name}: no expect: lines")
            cases.append(
                Case(name, path.name, unescape(stream), tuple(expected), limits, " ".join(comments))
            )
    names = [c.name for c in cases]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate case names: {sorted(duplicates)}")
    return cases


# ---------------------------------------------------------------------------
# Running a stream


@dataclasses.dataclass
class Outcome:
    """What a connection made of a stream: event records, in order."""

    events: list[tuple[str, object]] = dataclasses.field(default_factory=list)
    error: ProtocolError | None = None

    def add(self, kind: str, value: object) -> None:
        if kind == "data" and self.events and self.events[-1][0] == "data":
            previous = self.events[-1][1]
            assert isinstance(previous, bytes) and isinstance(value, bytes)
            self.events[-1] = ("data", previous + value)
        else:
            self.events.append((kind, value))

    @property
    def requests(self) -> list[Request]:
        return [v for k, v in self.events if k == "request" and isinstance(v, Request)]

    def summary(self) -> list[str]:
        out = []
        for kind, value in self.events:
            if kind == "request":
                assert isinstance(value, Request)
                out.append(f"request {value.method} {value.target} {_version(value)}")
            elif kind == "data":
                assert isinstance(value, bytes)
                out.append(f"data {value!r}")
            elif kind == "end":
                assert isinstance(value, EndOfMessage)
                out.append(f"end {value.trailers!r}" if value.trailers else "end")
            elif kind == "error":
                assert isinstance(value, ProtocolError)
                out.append(f"error {value.status} {value.detail!r}")
            else:
                out.append(kind)
        return out


def _version(request: Request) -> str:
    return f"{request.version[0]}.{request.version[1]}"


def run_stream(pieces: Iterable[bytes], limits: Limits | None = None) -> Outcome:
    """Feed ``pieces`` then EOF to a fresh connection, answering each request."""
    conn = ServerConnection(limits or Limits())
    outcome = Outcome()
    for piece in [*pieces, b""]:
        conn.receive_data(piece)
        if _drain(conn, outcome):
            break
    return outcome


def _drain(conn: ServerConnection, outcome: Outcome) -> bool:
    """Read events until more data is needed; True when the stream is over."""
    for _ in range(MAX_EVENTS_PER_PIECE):
        try:
            event = conn.next_event()
        except ProtocolError as exc:
            outcome.error = exc
            outcome.add("error", exc)
            return True
        if event is NEED_DATA:
            return False
        if event is PAUSED:
            conn.send_response(200, [("Content-Length", "0")])
            conn.send_end()
            if not conn.keep_alive:
                outcome.add("close", None)
                return True
            conn.start_next_cycle()
        elif isinstance(event, Request):
            outcome.add("request", event)
        elif isinstance(event, Data):
            assert event.data, "empty Data event"
            outcome.add("data", event.data)
        elif isinstance(event, EndOfMessage):
            outcome.add("end", event)
        elif isinstance(event, ConnectionClosed):
            outcome.add("closed", None)
            return True
        else:  # pragma: no cover
            raise AssertionError(f"unexpected event {event!r}")
    raise AssertionError("next_event() never asked for data: infinite loop?")


# ---------------------------------------------------------------------------
# Matching an outcome against a case's expectations


def _match_request(request: Request, words: Sequence[str]) -> list[str]:
    problems = []
    method, target, version, *keys = words
    actual = {
        "method": request.method,
        "target": request.target,
        "version": _version(request),
        "path": request.path,
        "query": request.query,
        "cl": str(request.content_length),
        "chunked": str(int(request.chunked)),
        "keep_alive": str(int(request.keep_alive)),
        "expect": str(int(request.expect_continue)),
        "scheme": str(request.absolute_scheme),
        "authority": str(request.absolute_authority),
        "head_size": str(request.head_size),
        "headers": str(len(request.headers)),
    }
    wanted = {"method": method, "target": target, "version": version}
    for key_value in keys:
        key, _, value = key_value.partition("=")
        wanted[key] = value
    wanted = {key: unescape(value).decode("latin-1") for key, value in wanted.items()}
    for key, value in wanted.items():
        if key.startswith("h:"):
            found = [v for n, v in request.headers if n == key[2:]]
            got = found[0] if found else None
        else:
            got = actual[key]
        if got != value:
            problems.append(f"{key}: expected {value!r}, got {got!r}")
    return problems


def check(case: Case, outcome: Outcome) -> None:
    """Assert that ``outcome`` is what ``case`` expects."""
    summary = outcome.summary()
    problems: list[str] = []
    if len(outcome.events) != len(case.expected):
        problems.append(f"{len(outcome.events)} events, expected {len(case.expected)}")
    for i, (expected, (kind, value)) in enumerate(zip(case.expected, outcome.events, strict=False)):
        word, _, rest = expected.partition(" ")
        if word != kind:
            problems.append(f"event {i}: expected {expected!r}, got {summary[i]!r}")
            continue
        if kind == "request":
            assert isinstance(value, Request)
            problems += [f"event {i}: {p}" for p in _match_request(value, shlex.split(rest))]
        elif kind == "data":
            if value != unescape(rest):
                problems.append(f"event {i}: data {value!r} != {unescape(rest)!r}")
        elif kind == "end":
            assert isinstance(value, EndOfMessage)
            for key_value in shlex.split(rest):
                key, _, want = key_value.partition("=")
                want = unescape(want).decode("latin-1")
                if key == "trailers":
                    got: object = str(len(value.trailers))
                else:
                    found = [v for n, v in value.trailers if n == key[2:]]
                    got = found[0] if found else None
                if got != want:
                    problems.append(f"event {i}: {key}: expected {want!r}, got {got!r}")
        elif kind == "error":
            assert isinstance(value, ProtocolError)
            status, *detail = shlex.split(rest)
            if str(value.status) != status:
                problems.append(f"event {i}: status {value.status}, expected {status}")
            for fragment in detail:
                if fragment not in value.detail:
                    problems.append(f"event {i}: {fragment!r} not in detail {value.detail!r}")
    assert not problems, f"{case.file}/{case.name}: " + "; ".join(problems) + f"\n  got: {summary}"


def split_positions(length: int) -> range | list[int]:
    """Where to cut a stream in two: everywhere for small streams, a sample
    (both ends densely, the middle by stride) for the big limit tests."""
    if length <= 4096:
        return range(1, length)
    stride = max(1, length // 512)
    return sorted({*range(1, 256), *range(256, length - 256, stride), *range(length - 256, length)})
