"""One client connection's HTTP/1.1 state, server side, without I/O.

Strategy: two small state machines, one per direction, advanced by the
caller's calls; nothing here reads a socket or a clock (except the cached
Date). Bytes go in with ``receive_data()``; ``next_event()`` parses as much as
one event needs; ``send_*()`` return the bytes to write.

The client's side (``_their``), driven by ``next_event()``::

    IDLE --Request, body follows--> BODY --EndOfMessage--> DONE
    IDLE --Request, no body-------> EOM  --EndOfMessage--> DONE
    DONE --start_next_cycle()-----> IDLE     (DONE answers PAUSED)
    IDLE --EOF, nothing buffered--> CLOSED   (answers ConnectionClosed)
    any  --ProtocolError----------> ERROR    (raises it again, forever)

Our side (``_our``), driven by the ``send_*()`` calls::

    IDLE --send_response()--> SENDING --send_end()--> SENT
    SENT --start_next_cycle()--> IDLE      (send_continue() only in IDLE)

Rules that tie the two: a response needs a request; the next request is
parsed only after ``start_next_cycle()``, which needs the request body read
and the response ended on a connection that stays open, so pipelined bytes
are never read as part of the previous request. ``_must_close`` collects
every reason the connection cannot be reused (the client's wish, EOF, an
error, a body delimited by close, a short Content-Length body,
``close_after_response()``, an unanswered ``Expect: 100-continue``), and
``keep_alive`` adds the last one: the request body must have been read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from .body import ChunkedReader, ContentLengthReader
from .errors import LocalProtocolError, ProtocolError
from .events import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    EndOfMessage,
    Event,
    NeedData,
    Paused,
    Request,
)
from .limits import Limits
from .parser import (
    HTTP_11,
    MAX_LEADING_EMPTY_LINES,
    HeadProgress,
    check_partial_head,
    parse_head,
)
from .writer import (
    CHUNKED,
    CONTINUE_RESPONSE,
    DEFAULT_SERVER_NAME,
    LAST_CHUNK,
    LENGTH,
    NO_BODY,
    UNTIL_CLOSE,
    last_chunk,
    response_head,
    server_header_line,
)

DEFAULT_LIMITS: Final = Limits()

# The client's side.
_IDLE: Final = 0
_BODY: Final = 1
_EOM: Final = 2
_DONE: Final = 3
_CLOSED: Final = 4
_ERROR: Final = 5
# Our side.
_SENDING: Final = 1
_SENT: Final = 2


class ServerConnection:
    """The server side of one HTTP/1.1 connection (see the module docstring)."""

    __slots__ = (
        "_buf",
        "_continue_sent",
        "_eof",
        "_error",
        "_framing",
        "_left",
        "_limits",
        "_must_close",
        "_our",
        "_pos",
        "_progress",
        "_reader",
        "_request",
        "_server_line",
        "_skipped",
        "_their",
        "server_name",
    )

    def __init__(self, limits: Limits = DEFAULT_LIMITS, server_name: str = DEFAULT_SERVER_NAME):
        self._limits = limits
        self._server_line = server_header_line(server_name)
        #: The Server header value (for answers built outside the connection,
        #: such as ``error_response``).
        self.server_name = server_name
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self._eof = False
        self._their = _IDLE
        self._our = _IDLE
        self._reader: ContentLengthReader | ChunkedReader | None = None
        self._request: Request | None = None
        self._error: ProtocolError | None = None
        self._progress: HeadProgress | None = None
        self._skipped = 0
        self._must_close = False
        self._continue_sent = False
        self._framing = NO_BODY
        self._left = 0

    # -- input ------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer bytes from the client; ``b""`` means it closed its side.

        The buffer is not bounded here: call this only after ``next_event()``
        returned NEED_DATA, and the limits bound what a request can make it hold.
        """
        if not data:
            self._eof = True
            self._must_close = True
            return
        if self._eof:
            raise LocalProtocolError("receive_data() after the end of the stream")
        buf = self._buf
        pos = self._pos
        if pos == len(buf):
            # The common case: everything before was consumed.
            self._buf = data if type(data) is bytes else bytes(data)
        else:
            # Bytes accumulate (a head or line arriving in pieces): a
            # bytearray appends in amortized constant time.
            if isinstance(buf, bytes):
                buf = bytearray(memoryview(buf)[pos:])
            elif pos:
                del buf[:pos]
            buf += data
            self._buf = buf
        self._pos = 0

    def next_event(self) -> Event | NeedData | Paused:
        """The next event, NEED_DATA or PAUSED; raises ProtocolError."""
        try:
            their = self._their
            if their == _IDLE:
                return self._read_head()
            if their == _BODY:
                reader = self._reader
                assert reader is not None
                event, self._pos = reader.read(self._buf, self._pos, self._eof)
                if type(event) is EndOfMessage:
                    self._their = _DONE
                return event
            if their == _EOM:
                self._their = _DONE
                return EndOfMessage([])
            if their == _DONE:
                return PAUSED
            if their == _CLOSED:
                return ConnectionClosed()
            assert self._error is not None
            raise self._error
        except ProtocolError as exc:
            self._error = exc
            self._their = _ERROR
            self._must_close = True
            raise

    def _read_head(self) -> Request | NeedData | ConnectionClosed:
        buf = self._buf
        pos = self._pos
        size = len(buf)
        if pos < size and buf[pos] == 13:
            while buf.startswith(b"\r\n", pos):
                pos += 2
                self._skipped += 2
                if self._skipped > 2 * MAX_LEADING_EMPTY_LINES:
                    raise ProtocolError(
                        400, "Bad request", "too many empty lines before the request line"
                    )
            self._pos = pos
            self._progress = None
        progress = self._progress
        resume = pos if progress is None else pos + max(progress.checked - 3, 0)
        end = buf.find(b"\r\n\r\n", resume)
        if end < 0:
            if pos == size:
                if self._eof:
                    self._their = _CLOSED
                    return ConnectionClosed()
                return NEED_DATA
            if progress is None:
                progress = self._progress = HeadProgress()
            check_partial_head(buf, pos, progress, self._limits)
            if self._eof:
                raise ProtocolError(
                    400, "Incomplete request", "connection closed in the middle of a request head"
                )
            return NEED_DATA
        request = parse_head(buf, pos, end, self._limits, self._skipped)
        pos = end + 4
        if pos == size:
            self._buf = b""
            self._pos = 0
        else:
            self._pos = pos
        self._progress = None
        self._skipped = 0
        self._request = request
        if request.chunked:
            self._reader = ChunkedReader(self._limits)
            self._their = _BODY
        elif request.content_length:
            self._reader = ContentLengthReader(request.content_length)
            self._their = _BODY
        else:
            self._their = _EOM
        return request

    # -- output -----------------------------------------------------------

    def send_continue(self) -> bytes:
        """``100 Continue`` once, if the client waits for it and it still matters."""
        request = self._request
        if (
            request is None
            or not request.expect_continue
            or self._continue_sent
            or self._our != _IDLE
            or self.request_body_complete
        ):
            return b""
        self._continue_sent = True
        return CONTINUE_RESPONSE

    def send_response(
        self,
        status: int,
        headers: Iterable[tuple[str, str]],
        *,
        reason: str | None = None,
        trailers: bool = False,
    ) -> bytes:
        """Validate and frame the response head; raises LocalProtocolError.

        ``trailers``: the body will end with trailer fields (``send_end``), so
        the caller may announce them with a ``Trailer`` field.
        """
        if self._our != _IDLE:
            raise LocalProtocolError("a response was already started")
        request = self._request
        if request is None:
            raise LocalProtocolError("no request to respond to")
        if request.expect_continue and not self._continue_sent and not self.request_body_complete:
            # The client may be holding the body back until it sees a 100: we
            # cannot know whether the next bytes are body or a new request.
            self._must_close = True
        head, framing, length, close = response_head(
            status,
            headers,
            reason,
            request.method == "HEAD",
            request.version >= HTTP_11,
            request.keep_alive and not self._must_close,
            self._server_line,
            trailers,
        )
        if close:
            self._must_close = True
        self._framing = framing
        self._left = length
        self._our = _SENDING
        return head

    def send_data(self, data: bytes | bytearray | memoryview) -> bytes:
        """Frame body bytes (``b""`` when there is nothing to write)."""
        if self._our != _SENDING:
            raise LocalProtocolError("send_data() outside a response body")
        framing = self._framing
        if type(data) is not bytes:
            data = bytes(data)
        if framing == LENGTH:
            left = self._left
            if len(data) > left:
                self._must_close = True
                raise LocalProtocolError(
                    f"response body longer than its Content-Length ({len(data)} bytes, {left} left)"
                )
            self._left = left - len(data)
            return data
        if not data or framing == NO_BODY:
            return b""
        if framing == CHUNKED:
            return b"%x\r\n%b\r\n" % (len(data), data)
        return data

    def send_data_sent_elsewhere(self, count: int) -> None:
        """Account for ``count`` body bytes the caller wrote itself (``sendfile``).

        Only a Content-Length framed body can be written around the framing;
        the caller sets a Content-Length before using sendfile for this reason.
        """
        if self._our != _SENDING:
            raise LocalProtocolError("send_data_sent_elsewhere() outside a response body")
        if self._framing == LENGTH:
            if count > self._left:
                self._must_close = True
                raise LocalProtocolError("sendfile wrote more than the Content-Length")
            self._left -= count
        elif self._framing != NO_BODY:
            raise LocalProtocolError("sendfile needs a Content-Length framed body")

    def send_end(self, trailers: Iterable[tuple[str, str]] = ()) -> bytes:
        """End the response body; returns the terminating chunk if chunked.

        ``trailers`` are (name, value) fields sent after a chunked body; only
        chunked framing can carry them, so with any other framing they are
        dropped (the caller cannot choose the framing of every response:
        HEAD, 204, 304 and HTTP/1.0 decide it).
        """
        if self._our != _SENDING:
            raise LocalProtocolError("send_end() outside a response body")
        framing = self._framing
        if framing == CHUNKED:
            end = last_chunk(trailers) if trailers else LAST_CHUNK
            self._our = _SENT
            return end
        self._our = _SENT
        if framing == LENGTH and self._left:
            # The client is still waiting for bytes that will never come;
            # only closing tells it the response is over (and short).
            self._must_close = True
        elif framing == UNTIL_CLOSE:
            self._must_close = True
        return b""

    def close_after_response(self) -> None:
        """Make this the last exchange (server stopping, max_requests...)."""
        self._must_close = True

    def start_next_cycle(self) -> None:
        """Reset for the next request after a complete exchange on a kept connection."""
        if self._our != _SENT or not (_EOM <= self._their <= _DONE or self.request_body_complete):
            raise LocalProtocolError("start_next_cycle() before the exchange is complete")
        request = self._request
        if self._must_close or request is None or not request.keep_alive:
            raise LocalProtocolError("start_next_cycle() on a connection that must close")
        self._their = _IDLE
        self._our = _IDLE
        self._request = None
        self._reader = None
        self._continue_sent = False
        self._framing = NO_BODY
        self._left = 0

    # -- state ------------------------------------------------------------

    @property
    def keep_alive(self) -> bool:
        """Can the connection be reused after this exchange, as things stand?

        False once anything forces a close (see the module docstring), and
        while the current request's body is not completely read: a caller
        that answered without reading it can drain it with ``next_event()``.
        """
        if self._must_close:
            return False
        request = self._request
        if request is None:
            return True
        return request.keep_alive and (_EOM <= self._their <= _DONE or self.request_body_complete)

    @property
    def response_chunked(self) -> bool:
        """The response head chose chunked framing."""
        return self._framing == CHUNKED

    @property
    def request_body_complete(self) -> bool:
        """All of the current request's body was received and parsed."""
        their = self._their
        if _EOM <= their <= _DONE:
            return True
        reader = self._reader
        return their == _BODY and reader is not None and reader.complete

    @property
    def idle(self) -> bool:
        """Between requests with no byte of the next one received: a keep-alive
        timeout or a graceful shutdown may close the connection without an answer."""
        return self._their == _IDLE and self._pos == len(self._buf)

    @property
    def request(self) -> Request | None:
        """The request being answered, if its head was read."""
        return self._request

    @property
    def response_started(self) -> bool:
        """``send_response()`` was called for the current request."""
        return self._our != _IDLE

    @property
    def response_complete(self) -> bool:
        """``send_end()`` was called for the current request."""
        return self._our == _SENT

    @property
    def content_length_left(self) -> int:
        """Body bytes the response head promised (Content-Length) and
        ``send_data`` has not framed yet; 0 for any other framing."""
        return self._left if self._framing == LENGTH else 0

    @property
    def trailing_data(self) -> bytes:
        """Received bytes not parsed yet (a pipelined request, for instance)."""
        return bytes(self._buf[self._pos :])

    @property
    def client_closed(self) -> bool:
        """The client closed its sending side (``receive_data(b"")`` was called)."""
        return self._eof
