"""One HTTP request between an ASGI application and the HTTP core.

Strategy: :class:`HTTPCycle` is the ``receive``/``send`` pair of one request.
It owns no socket: the worker feeds it what ``ServerConnection.next_event()``
parsed (``feed_body``, ``feed_end``, ``disconnected``) and gives it a
``write(bytes)`` callable that may return an awaitable (flow control).

``receive()`` hands out the buffered body as ``http.request`` messages; when
there is none it sends ``100 Continue`` if the client waits for it, calls
the worker's ``on_demand`` (read the socket now) and waits. After the last
body message it waits until the response is complete or the client is gone,
then says ``http.disconnect`` (what long-polling apps and Starlette's
disconnect listener wait for).

``send()`` checks the message sequence, each message's fields, and through
the HTTP core the status, header names and values, and turns each message
into one ``ServerConnection`` call: ``http.response.start`` builds the head
(not written yet, so a later mistake can still become a 500), the first
``http.response.body`` writes it with the first bytes, the last one ends the
body (or waits for ``http.response.trailers`` when the start said
``trailers: True``). Hop-by-hop headers from the app are dropped as the WSGI
response drops them (``Connection: close`` is honoured); HEAD, 204 and 304
get no body bytes on the wire whatever the app sends. A misuse raises
:class:`ASGIProtocolError`; a send after the client left raises
:class:`ClientDisconnected`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, Final

from workhorse.http import LocalProtocolError, ServerConnection, error_response

from .errors import ASGIProtocolError, ClientDisconnected
from .types import Message, Write

#: Hop-by-hop headers (RFC 9110 7.6.1, and Gunicorn's list), the WSGI
#: response's set: the server's business, dropped when an app sends them.
HOP_BY_HOP: Final = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                               "te", "trailer", "upgrade", "proxy-authenticate",
                               "proxy-authorization"})  # fmt: skip
#: A body chunk at least this large is written apart from a pending head: a
#: copy of a megabyte costs more than a second write (as in the WSGI response).
JOIN_LIMIT: Final = 32 * 1024
#: Response header names remembered, as bytes -> (name, lowercased name).
NAME_MEMO_SIZE: Final = 512
_names: dict[bytes, tuple[str, str]] = {}

# Where the response is, from the application's side.
_START: Final = 0  # waiting for http.response.start
_BODY: Final = 1  # http.response.body until more_body is false
_TRAILERS: Final = 2  # http.response.trailers until more_trailers is false
_DONE: Final = 3  # complete (or replaced by send_error): nothing more
_FAILED: Final = 4  # an ASGIProtocolError abandoned it


class HTTPCycle:
    """``receive``/``send`` for one request (see the module docstring).

    The worker creates it once ``next_event()`` returned the request, runs
    ``app(scope, cycle.receive, cycle.send)``, feeds the body while
    ``waiting_for_body`` (or up to its own buffer limit), calls
    ``disconnected()`` on EOF or a read error, and when the app is done
    looks at ``response_complete`` / ``headers_sent`` to keep the connection,
    answer with :meth:`send_error`, or close.
    """

    __slots__ = (
        "_body",
        "_body_done",
        "_conn",
        "_disconnected",
        "_end_delivered",
        "_event",
        "_head",
        "_on_demand",
        "_send_trailers",
        "_state",
        "_trailer_fields",
        "_trailers_announced",
        "_waiting",
        "_write",
        "body_buffered",
        "body_bytes_read",
        "bytes_in",
        "bytes_sent",
        "bytes_written",
        "extra_header",
        "headers_sent",
        "request",
        "response_headers",
        "status_code",
    )

    def __init__(
        self,
        conn: ServerConnection,
        write: Write,
        on_demand: Callable[[], None] | None = None,
    ) -> None:
        request = conn.request
        if request is None:
            raise ValueError("HTTPCycle needs a connection that has read a request head")
        self._conn = conn
        self._write = write
        self._on_demand = on_demand
        self.request = request
        self._body: list[bytes] = []
        self._body_done = not request.chunked and not request.content_length
        self._end_delivered = False
        self._disconnected = False
        self._event: asyncio.Event | None = None
        self._waiting = 0
        self._state = _START
        self._head: bytes | None = None
        self._trailers_announced = False
        self._send_trailers = False
        self._trailer_fields: list[tuple[str, str]] | None = None  # made when trailers come
        #: Request body bytes fed and not yet handed to the app.
        self.body_buffered = 0
        #: Request body bytes fed by the worker so far.
        self.body_bytes_read = 0
        #: Bytes the worker received for this exchange, head included (kept by
        #: the worker when its connection moves on before the app returns).
        self.bytes_in = 0
        #: The status the app started (or send_error sent); 0 before.
        self.status_code = 0
        #: The response headers as sent to the HTTP core (for the access log).
        self.response_headers: list[tuple[str, str]] = []
        #: Response body bytes the app sent (HEAD's included, like WSGI's ``sent``).
        self.bytes_sent = 0
        #: Every byte handed to ``write`` (head, framing, 100 Continue).
        self.bytes_written = 0
        #: The response head was handed to ``write``: a 500 can no longer replace it.
        self.headers_sent = False
        #: A header the server adds to the response unless the app sent one of
        #: that name (the request id): (name, value); or None.
        self.extra_header: tuple[str, str] | None = None

    # --- the worker's side -------------------------------------------------------------

    def feed_body(self, data: bytes) -> None:
        """Body bytes parsed for the app (a ``Data`` event's ``data``)."""
        if not data or self._disconnected:
            return
        if self._body_done:
            raise RuntimeError("feed_body() after feed_end()")
        self._body.append(data)
        self.body_buffered += len(data)
        self.body_bytes_read += len(data)
        self._wake()

    def feed_end(self) -> None:
        """The request body is complete (``EndOfMessage``)."""
        self._body_done = True
        self._wake()

    def disconnected(self) -> None:
        """The client is gone: receive says ``http.disconnect``, send raises."""
        self._disconnected = True
        self._wake()

    @property
    def waiting_for_body(self) -> bool:
        """The app waits in ``receive()`` for body bytes: read the socket."""
        return (self._waiting > 0 and not self._body_done and not self._disconnected
                and self._state < _DONE)

    @property
    def receive_waiting(self) -> bool:
        """The app waits in ``receive()`` (for body bytes or for a disconnect)."""
        return self._waiting > 0

    @property
    def response_started(self) -> bool:
        """The app's ``http.response.start`` was accepted (or send_error answered)."""
        return self.status_code != 0

    @property
    def response_complete(self) -> bool:
        """The whole response was handed to ``write`` (or send_error answered)."""
        return self._state == _DONE

    @property
    def request_body_complete(self) -> bool:
        return self._body_done

    async def send_error(self, status: int = 500, message: str = "", *,
                         retry_after: int = 0) -> bool:
        """Answer with a complete ``status`` response (it closes the connection)
        if no byte of the app's response was written; False if it was (the
        worker must close the connection instead). For 500, 503, 504; the
        request id (``extra_header``) goes with it, and ``Retry-After`` if given."""
        if self.headers_sent or self._state == _DONE:
            return False
        conn = self._conn
        conn.close_after_response()
        headers = [self.extra_header] if self.extra_header is not None else []
        if retry_after:
            headers.append(("Retry-After", str(retry_after)))
        data = error_response(status, message, server_name=conn.server_name,
                              extra_headers=headers)
        self._state = _DONE
        self._head = None
        self.status_code = status
        self.response_headers = []
        self.headers_sent = True
        self._wake()
        await self._put(data)
        return True

    # --- the application's side ----------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        """The next ``http.request`` or ``http.disconnect`` message."""
        while True:
            if self._disconnected or self._state >= _DONE:
                return {"type": "http.disconnect"}
            if self._body:
                return self._body_message()
            if self._body_done:
                if not self._end_delivered:
                    self._end_delivered = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                await self._wait()  # only a disconnect or the response's end is left
                continue
            if self.request.expect_continue:
                data = self._conn.send_continue()
                if data:
                    await self._put(data)
                    continue  # the state may have changed while writing
            if self._on_demand is not None:
                self._on_demand()
            await self._wait()

    async def send(self, message: Message) -> None:
        """Validate one message and write what it means."""
        try:
            kind = message["type"]
        except (KeyError, TypeError, IndexError):
            raise self._fail(f"an ASGI message is a dict with a 'type', got {message!r:.80}")
        state = self._state
        if self._disconnected and state < _DONE:
            raise ClientDisconnected()
        if state == _BODY and kind == "http.response.body":
            data = self._body_part(message)
        elif state == _START and kind == "http.response.start":
            self._start(message)
            return
        elif state == _TRAILERS and kind == "http.response.trailers":
            data = self._trailers(message)
        else:
            raise self._out_of_sequence(kind)
        head = self._head
        if head is not None:  # the first body message: the head goes with it
            self._head = None
            self.headers_sent = True
            if len(data) < JOIN_LIMIT:
                data = head + data
            else:
                await self._put(head)
        if data:
            self.bytes_written += len(data)
            waiting = self._write(data)
            if waiting is not None:
                await waiting

    # --- messages ---------------------------------------------------------------------------

    def _start(self, message: Message) -> None:
        status = message.get("status")
        if not isinstance(status, int) or isinstance(status, bool):
            raise self._fail(f"http.response.start: 'status' must be an int, got {status!r:.40}")
        if not 200 <= status <= 599:
            raise self._fail(_bad_status(status))
        status = int(status)  # an IntEnum such as HTTPStatus.OK
        announced = bool(message.get("trailers", False))
        send_trailers = announced and self._client_takes_trailers()
        headers = self._headers(message.get("headers", ()), "start", send_trailers)
        extra = self.extra_header
        if extra is not None and not any(name.lower() == extra[0].lower() for name, _ in headers):
            headers.append(extra)
        try:
            head = self._conn.send_response(status, headers, trailers=send_trailers)
        except LocalProtocolError as exc:
            raise self._fail(f"http.response.start: {exc}") from None
        self._head = head
        self.status_code = status
        self.response_headers = headers
        self._trailers_announced = announced
        self._send_trailers = send_trailers
        self._state = _BODY

    def _body_part(self, message: Message) -> bytes:
        body = message.get("body", b"")
        if type(body) is not bytes:
            if not isinstance(body, (bytearray, memoryview)):
                raise self._fail(
                    f"http.response.body: 'body' must be bytes, got {type(body).__name__}")
            body = bytes(body)
        conn = self._conn
        try:
            data = conn.send_data(body) if body else b""
        except LocalProtocolError as exc:
            raise self._fail(f"http.response.body: {exc}") from None
        self.bytes_sent += len(body)
        if not message.get("more_body", False):
            if self._trailers_announced:
                self._state = _TRAILERS
            else:
                data += self._end(())
        return data

    def _trailers(self, message: Message) -> bytes:
        fields = self._headers(message.get("headers", ()), "trailers")
        if self._trailer_fields is not None:
            fields = self._trailer_fields + fields
        if message.get("more_trailers", False):
            self._trailer_fields = fields
            return b""
        return self._end(fields if self._send_trailers else ())

    def _end(self, trailers: Iterable[tuple[str, str]]) -> bytes:
        conn = self._conn
        missing = conn.content_length_left
        if missing:
            raise self._fail(
                f"http.response.body: the body ended {missing} bytes short of its Content-Length "
                f"({self.bytes_sent} of {self.bytes_sent + missing})")
        try:
            data = conn.send_end(trailers)
        except LocalProtocolError as exc:
            raise self._fail(f"http.response.trailers: {exc}") from None
        self._state = _DONE
        self._wake()
        return data

    def _headers(
        self, headers: Any, what: str, keep_trailer: bool = False
    ) -> list[tuple[str, str]]:
        """The app's byte pairs as the core's str pairs. In a start, hop-by-hop
        fields are dropped (``Trailer`` kept when ``keep_trailer``); in trailers
        the core refuses the fields a trailer section may not carry."""
        fields: list[tuple[str, str]] = []
        append = fields.append
        in_start = what == "start"
        try:
            items = iter(headers)
        except TypeError:
            raise self._fail(f"http.response.{what}: 'headers' must be an iterable of "
                             f"[name, value] pairs, got {type(headers).__name__}") from None
        for item in items:
            try:
                name, value = item
            except (TypeError, ValueError):
                raise self._fail(f"http.response.{what}: each header must be a [name, value] "
                                 f"pair of bytes, got {item!r:.80}") from None
            if type(name) is not bytes or type(value) is not bytes:
                name, value = self._header_bytes(item, what)
            known = _names.get(name) or _remember(name)
            if in_start and known[1] in HOP_BY_HOP:
                lower = known[1]
                if lower == "connection" and b"close" in value.lower():
                    self._conn.close_after_response()
                if not (keep_trailer and lower == "trailer"):
                    continue
            append((known[0], value.decode("latin-1")))
        return fields

    def _header_bytes(self, item: Any, what: str) -> tuple[bytes, bytes]:
        """A header pair made of bytearray/memoryview as bytes, or the error."""
        if not isinstance(item, (bytes, bytearray, str)):
            name, value = item
            if isinstance(name, (bytearray, memoryview)):
                name = bytes(name)
            if isinstance(value, (bytearray, memoryview)):
                value = bytes(value)
            if type(name) is bytes and type(value) is bytes:
                return name, value
        raise self._fail(f"http.response.{what}: each header must be a [name, value] pair of "
                         f"bytes, got {item!r:.80}")

    def _client_takes_trailers(self) -> bool:
        """The client said ``TE: trailers`` (the extension sends them only then)."""
        for name, value in self.request.headers:
            if name == "TE" and any(
                part.split(";", 1)[0].strip().lower() == "trailers" for part in value.split(",")
            ):
                return True
        return False

    # --- state ------------------------------------------------------------------------------

    def _out_of_sequence(self, kind: object) -> Exception:
        state = self._state
        if state == _DONE:
            return self._fail(f"{kind!r} sent after the response was complete")
        if state == _FAILED:
            return self._fail(f"{kind!r} sent after the response was abandoned "
                              "because of an earlier invalid message")
        expected = {_START: "'http.response.start'", _BODY: "'http.response.body'",
                    _TRAILERS: "'http.response.trailers' (the start said trailers: True)"}
        if kind == "http.response.start":
            problem = "a second 'http.response.start'"
        elif kind == "http.response.trailers" and not self._trailers_announced:
            problem = "'http.response.trailers' without trailers: True in the start"
        else:
            problem = f"{kind!r}"
        return self._fail(f"unexpected {problem}: expected {expected[state]}")

    def _fail(self, text: str) -> ASGIProtocolError:
        """Abandon the response and say why. The connection is not reused
        either way: an app that breaks the sequence is in a state nobody knows,
        even when its response went out whole."""
        if self._state != _DONE:
            self._state = _FAILED
        self._conn.close_after_response()
        self._wake()
        return ASGIProtocolError(text)

    async def _put(self, data: bytes) -> None:
        self.bytes_written += len(data)
        waiting = self._write(data)
        if waiting is not None:
            await waiting

    async def _wait(self) -> None:
        event = self._event
        if event is None:
            event = self._event = asyncio.Event()
        event.clear()
        self._waiting += 1
        try:
            await event.wait()
        finally:
            self._waiting -= 1

    def _wake(self) -> None:
        if self._event is not None:
            self._event.set()

    def _body_message(self) -> dict[str, Any]:
        chunks = self._body
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.body_buffered = 0
        more = not self._body_done
        if not more:
            self._end_delivered = True
        return {"type": "http.request", "body": body, "more_body": more}


def _bad_status(status: int) -> str:
    if status == 101:
        return ("http.response.start: status 101 is for protocol upgrades; "
                "accept a WebSocket with 'websocket.accept'")
    if 100 <= status < 200:
        return f"http.response.start: status {status} is informational and cannot end a request"
    return f"http.response.start: status {status} is not in 200..599"


def _remember(name: bytes) -> tuple[str, str]:
    text = name.decode("latin-1")
    known = (text, text.lower())
    if len(name) <= 64:
        if len(_names) >= NAME_MEMO_SIZE:
            _names.clear()  # an app inventing names cannot grow it
        _names[name] = known
    return known
