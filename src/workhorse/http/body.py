"""Reading a request body by its framing: Content-Length or chunked.

Strategy: one small reader object per body. ``read(buf, pos, eof)`` looks at
the connection's buffer from ``pos`` and returns one event (``Data`` as soon as
any body bytes are there, never waiting for the whole body or chunk;
``EndOfMessage`` at the end; ``NEED_DATA`` to wait) with the new offset, so
the connection consumes pipelined bytes without copying its buffer. A body
that exactly fills the buffer is handed out as the very same bytes object.

The chunked reader is a four-state machine (size line, data, CRLF after the
data, trailer section). Every line it buffers is bounded (chunk-size line by
``max_chunk_extension_size``, trailers by ``max_trailer_size``) and checked
for bare CR/LF while it waits, so no read can make it hold an unbounded line.
Chunk sizes are at most 16 hex digits; the body size limit is enforced when a
chunk is announced, before its bytes are read. Choices: no whitespace after
the chunk size except BWS before ``;`` (RFC 9112 7.1.1 has none there);
forbidden trailer fields (framing, routing, authentication, content format,
``X-Forwarded-*``) are refused with 400 rather than silently dropped.
"""

from __future__ import annotations

from typing import Final

from . import grammar
from .errors import ProtocolError, bad_request, quote
from .events import NEED_DATA, Data, EndOfMessage, NeedData
from .fields import checked_upto, find_bare_break, line_break_fault, parse_fields
from .limits import Limits

#: chunk-size hex digits (leading zeros included): 16 hex digits are 64 bits,
#: more than any body, and a bounded ``int(digits, 16)``.
MAX_CHUNK_SIZE_DIGITS: Final = 16

_NO_LIMIT: Final = 1 << 62
_CRLF = b"\r\n"

ReadResult = tuple["Data | EndOfMessage | NeedData", int]


def _incomplete_body() -> ProtocolError:
    return bad_request("connection closed before the end of the request body", "Incomplete request")


def _take(buf: bytes | bytearray, start: int, end: int) -> bytes:
    """``buf[start:end]`` as bytes: the buffer itself when it is all of it."""
    if type(buf) is bytes:
        return buf if start == 0 and end == len(buf) else buf[start:end]
    return bytes(memoryview(buf)[start:end])


class ContentLengthReader:
    """A body of exactly ``remaining`` bytes."""

    __slots__ = ("remaining",)

    def __init__(self, length: int) -> None:
        self.remaining = length

    def read(self, buf: bytes | bytearray, pos: int, eof: bool) -> ReadResult:
        remaining = self.remaining
        if not remaining:
            return EndOfMessage(), pos
        available = len(buf) - pos
        if not available:
            if eof:
                raise _incomplete_body()
            return NEED_DATA, pos
        if available <= remaining:
            self.remaining = remaining - available
            return Data(_take(buf, pos, len(buf))), len(buf)
        self.remaining = 0
        return Data(_take(buf, pos, pos + remaining)), pos + remaining

    @property
    def complete(self) -> bool:
        return not self.remaining


# Chunked reader states.
_SIZE_LINE: Final = 0
_CHUNK_DATA: Final = 1
_CHUNK_CRLF: Final = 2
_TRAILERS: Final = 3
_DONE: Final = 4


class ChunkedReader:
    """A chunked body (RFC 9112 7.1), decoded into Data events as it arrives."""

    __slots__ = ("chunk_left", "limits", "received", "scanned", "state")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.state = _SIZE_LINE
        self.chunk_left = 0
        #: Bytes of the line or section being waited for already checked
        #: (relative to its start), so a trickle of bytes costs linear time.
        self.scanned = 0
        #: Decoded body bytes announced so far (for max_body_size).
        self.received = 0

    @property
    def complete(self) -> bool:
        return self.state == _DONE

    def read(self, buf: bytes | bytearray, pos: int, eof: bool) -> ReadResult:
        while True:
            state = self.state
            if state == _CHUNK_DATA:
                available = len(buf) - pos
                if not available:
                    break
                left = self.chunk_left
                if available < left:
                    self.chunk_left = left - available
                    return Data(_take(buf, pos, len(buf))), len(buf)
                self.chunk_left = 0
                self.state = _CHUNK_CRLF
                return Data(_take(buf, pos, pos + left)), pos + left
            if state == _CHUNK_CRLF:
                tail = bytes(buf[pos : pos + 2])
                if tail == _CRLF:
                    pos += 2
                    self.state = _SIZE_LINE
                    continue
                if tail not in (b"", b"\r"):
                    raise bad_request(
                        f"chunk data not followed by CRLF: {quote(tail)}", "Invalid chunk"
                    )
                break
            if state == _SIZE_LINE:
                pos = self._size_line(buf, pos)
                if pos < 0:
                    pos = -pos - 1
                    break
                continue
            if state == _TRAILERS:
                event = self._trailers(buf, pos)
                if event is None:
                    break
                return event
            raise AssertionError("read() after the end of the body")
        if eof:
            raise _incomplete_body()
        return NEED_DATA, pos

    def _size_line(self, buf: bytes | bytearray, pos: int) -> int:
        """Consume one chunk-size line; return the new offset, or -pos-1 to wait."""
        limits = self.limits
        max_line = (
            MAX_CHUNK_SIZE_DIGITS + limits.max_chunk_extension_size
            if limits.max_chunk_extension_size
            else _NO_LIMIT
        )
        eol = buf.find(_CRLF, pos + max(self.scanned - 1, 0))
        if eol < 0:
            bare, fault = find_bare_break(buf, pos + self.scanned, pos)
            if bare >= 0:
                raise bad_request(f"{fault} in chunk-size line", "Invalid chunk")
            self.scanned = checked_upto(buf) - pos
            if self.scanned > max_line:
                raise bad_request("chunk-size line too long", "Invalid chunk")
            return -pos - 1
        self.scanned = 0
        line = bytes(buf[pos:eol])
        if len(line) > max_line:
            raise bad_request("chunk-size line too long", "Invalid chunk")
        m = grammar.CHUNK_LINE.fullmatch(line)
        if m is None:
            line_fault = line_break_fault(line)
            if line_fault:
                raise bad_request(f"{line_fault} in chunk-size line", "Invalid chunk")
            if grammar.CHUNK_LINE.match(line) is None:
                raise bad_request(f"invalid chunk size {quote(line)}", "Invalid chunk")
            raise bad_request(f"invalid chunk extension {quote(line)}", "Invalid chunk")
        digits = m.group(1)
        if len(digits) > MAX_CHUNK_SIZE_DIGITS:
            raise bad_request(f"chunk size too large {quote(digits)}", "Invalid chunk")
        size = int(digits, 16)
        if size == 0:
            self.state = _TRAILERS
            return eol + 2
        self.received += size
        if limits.max_body_size and self.received > limits.max_body_size:
            raise ProtocolError(
                413,
                "Request body too large",
                f"chunked body over limit {limits.max_body_size}",
            )
        self.chunk_left = size
        self.state = _CHUNK_DATA
        return eol + 2

    def _trailers(self, buf: bytes | bytearray, pos: int) -> ReadResult | None:
        """Consume the trailer section and the final CRLF, or return None to wait."""
        start = bytes(buf[pos : pos + 2])
        if start == _CRLF:
            self.state = _DONE
            return EndOfMessage(), pos + 2
        if start in (b"", b"\r"):
            return None
        limits = self.limits
        max_size = limits.max_trailer_size or _NO_LIMIT
        end = buf.find(b"\r\n\r\n", pos + max(self.scanned - 3, 0))
        if end < 0:
            bare, fault = find_bare_break(buf, pos + self.scanned, pos)
            if bare >= 0:
                raise bad_request(f"{fault} in trailer section", "Invalid trailer")
            self.scanned = checked_upto(buf) - pos
            if len(buf) - pos >= max_size:
                raise _trailers_too_large(limits)
            return None
        if end + 4 - pos > max_size:
            raise _trailers_too_large(limits)
        trailers = parse_trailers(bytes(buf[pos:end]), limits)
        self.state = _DONE
        return EndOfMessage(trailers), end + 4


def _trailers_too_large(limits: Limits) -> ProtocolError:
    return ProtocolError(
        431,
        "Request trailer section too large",
        f"trailer section larger than {limits.max_trailer_size} bytes",
    )


def parse_trailers(raw: bytes, limits: Limits) -> list[tuple[str, str]]:
    """Parse a trailer section (without its final CRLFCRLF) like header fields."""
    lines = raw.decode("latin-1").split("\r\n")
    hits: list[int] = []
    trailers = parse_fields(lines, 0, limits, grammar.FORBIDDEN_TRAILERS, hits)
    for name, _ in trailers:
        if name in grammar.FORBIDDEN_TRAILERS or name.startswith(grammar.FORBIDDEN_TRAILER_PREFIX):
            # RFC 9110 6.5.1: framing, routing, authentication and content
            # fields cannot be trailers; refusing beats letting an app that
            # merges trailers into headers be fooled.
            raise bad_request(f"field {quote(name)} is not allowed in a trailer", "Invalid trailer")
    return trailers
