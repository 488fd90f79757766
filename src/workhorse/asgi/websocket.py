"""A server WebSocket session between an ASGI app and the socket, on wsproto.

Strategy: the opening handshake is read from our own parsed request
(:mod:`.ws_handshake`); once the app sends ``websocket.accept`` the frames
are wsproto's business (``wsproto.connection.Connection``, its frame layer,
with its permessage-deflate extension when the client offered it). Toward
the worker the session is sans-I/O: ``receive_data(bytes)`` returns the
bytes to write at once (pongs, close replies, the close that fails a bad
peer), ``wants_data`` says when to read, ``closed`` when to close the socket,
``disconnected()`` reports EOF. Toward the app it is ``receive``/``send``:
``websocket.connect`` first, whole messages (fragments joined), then one
``websocket.disconnect`` with the close code, repeated on every later call.

What the peer gets for what it did: a ping, a pong; a close, the close
handshake; a frame that breaks RFC 6455, close 1002; bad UTF-8 in a text
message, 1007; a message over ``max_message_size``, 1009. After any of the
last three the connection is failed: the close frame is the last thing
written and ``closed`` is true at once. Compressed input is handed to wsproto
in small slices, so one slice cannot inflate to more than a few MiB before
the size limit is checked (deflate expands at most about 1032 times).

Before the accept the app may also deny the handshake: ``websocket.close``
gives a 403, the denial response extension a real HTTP response written by
an :class:`~workhorse.asgi.http_cycle.HTTPCycle`. wsproto is optional
(``pip install workhorse[asgi]``): :func:`websocket_support` says whether it
is there and, if not, the sentence to log once; this module imports it only
when a session accepts.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from workhorse.http import ServerConnection, error_response

from .errors import ASGIProtocolError, ClientDisconnected
from .http_cycle import HTTPCycle
from .types import Message, Write
from .ws_handshake import Handshake, read_handshake, switching_protocols

if TYPE_CHECKING:
    from wsproto.connection import Connection
    from wsproto.events import Event

#: Gunicorn 27's ``websocket_max_message_size`` default (0: no limit).
DEFAULT_MAX_MESSAGE_SIZE: Final = 16 * 1024 * 1024
#: Compressed bytes handed to wsproto at a time (see the module docstring).
INFLATE_SLICE: Final = 4096
#: Messages queued for an app that does not receive them before the worker
#: stops reading (``wants_data``): the peer is then held back by TCP.
QUEUE_LIMIT: Final = 16
#: The status the worker answers an upgrade request with when wsproto is missing.
UNAVAILABLE_STATUS: Final = 501
_MISSING_WSPROTO: Final = ("WebSocket upgrade requests are answered 501: the wsproto package "
                           "is not installed (pip install workhorse[asgi] enables WebSocket)")

# The app's side of the session.
_CONNECTING: Final = 0  # websocket.connect not delivered yet
_HANDSHAKE: Final = 1  # waiting for accept, close or a denial response
_DENYING: Final = 2  # a denial response is being sent
_OPEN: Final = 3
_CLOSED: Final = 4  # by the app (close frame sent), the peer, a failure or EOF

# Close codes (RFC 6455 7.4.1).
NORMAL: Final = 1000
NO_STATUS: Final = 1005
ABNORMAL: Final = 1006
INTERNAL_ERROR: Final = 1011
#: RFC 6455 / IANA: the server is restarting (what a stopping worker says).
SERVICE_RESTART: Final = 1012
MESSAGE_TOO_BIG: Final = 1009


def websocket_support() -> str | None:
    """None when WebSocket can be served, else the sentence to log once."""
    try:
        import wsproto  # noqa: F401
    except ImportError:
        return _MISSING_WSPROTO
    return None


def unavailable_response(server_name: str) -> bytes:
    """What an upgrade request gets when wsproto is missing (then close)."""
    return error_response(UNAVAILABLE_STATUS, "WebSocket is not enabled on this server",
                          server_name=server_name)


class WebSocketSession:
    """One WebSocket connection (see the module docstring).

    Built from a connection whose request ``is_websocket_upgrade``; raises
    :class:`~workhorse.asgi.ws_handshake.HandshakeError` for an invalid one.
    ``max_message_size`` of 0 or None means no limit.
    """

    __slots__ = (
        "_app_closed", "_conn", "_denial", "_done", "_early", "_event", "_handshake", "_inbox",
        "_inflate", "_max", "_on_demand", "_parts", "_per_message_deflate", "_proto", "_size",
        "_state", "_write", "bytes_written", "close_code", "close_reason", "status_code",
    )  # fmt: skip

    def __init__(
        self,
        conn: ServerConnection,
        write: Write,
        *,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        per_message_deflate: bool = True,
        on_demand: Callable[[], None] | None = None,
    ) -> None:
        request = conn.request
        if request is None:
            raise ValueError("WebSocketSession needs a connection that has read a request head")
        self._handshake: Handshake = read_handshake(request)
        self._conn = conn
        self._write = write
        self._max = max_message_size or 0  # 0 or None: no limit
        self._per_message_deflate = per_message_deflate
        self._on_demand = on_demand
        self._state = _CONNECTING
        self._proto: Connection | None = None
        self._inflate = False
        self._early = b""
        self._inbox: deque[dict[str, Any]] = deque()
        self._event: asyncio.Event | None = None
        self._parts: list[Any] = []
        self._size = 0
        self._done = False  # nothing more to read or write
        self._app_closed = False
        self._denial: HTTPCycle | None = None
        #: 101 once accepted, the denial's status, 403 or 500; 0 before.
        self.status_code = 0
        #: The close code the app saw in websocket.disconnect (None while open).
        self.close_code: int | None = None
        self.close_reason = ""
        #: Every byte handed to ``write`` (the worker writes receive_data's itself).
        self.bytes_written = 0

    # --- the worker's side ----------------------------------------------------------------

    def receive_data(self, data: bytes) -> bytes:
        """Bytes read from the socket (``b""``: EOF); returns bytes to write now."""
        if not data:
            self.disconnected()
            return b""
        if self.closed:
            return b""
        proto = self._proto
        if proto is None:  # before the accept: kept for wsproto
            self._early += data
            return b""
        return self._feed(proto, data)

    def disconnected(self) -> None:
        """The connection is gone (EOF, reset, timeout)."""
        if self.close_code is None:
            self._closed_with(ABNORMAL, "")
        self._state = _CLOSED
        self._done = True
        if self._denial is not None:
            self._denial.disconnected()

    def ping(self, payload: bytes = b"") -> bytes:
        """A ping frame for a keep-alive check (b"" unless the session is open)."""
        if self._proto is None or self._state != _OPEN:
            return b""
        from wsproto.events import Ping

        return self._proto.send(Ping(payload=payload))

    def going_away(self, code: int = SERVICE_RESTART, reason: str = "server restarting") -> bytes:
        """The worker stops: a close frame for the peer (to write now); the app
        hears websocket.disconnect with ``code`` and its sends raise from now on.
        b"" unless the session is open."""
        proto = self._proto
        if proto is None or self._state != _OPEN:
            return b""
        from wsproto.connection import ConnectionState
        from wsproto.events import CloseConnection

        if proto.state is not ConnectionState.OPEN:
            return b""
        frame = proto.send(CloseConnection(code=code, reason=reason))
        self._state = _CLOSED
        self._closed_with(code, reason)
        return frame

    @property
    def wants_data(self) -> bool:
        """Read the socket: the session is open (or waits for the peer's close
        reply) and the app is not too far behind."""
        if self._proto is None or self.closed:
            return False
        # After the app's close only the peer's reply is left to read.
        return self._state == _CLOSED or len(self._inbox) < QUEUE_LIMIT

    @property
    def closed(self) -> bool:
        """Nothing more to read or write: close the socket (after writing what
        receive_data returned). After the app's close this waits for the
        peer's reply: the worker bounds that wait."""
        return self._done

    @property
    def accepted(self) -> bool:
        return self._proto is not None

    async def finish(self, *, app_failed: bool) -> None:
        """The app returned (or raised, ``app_failed``): end what it left open.

        Before an accept: 403 (500 if it raised); a denial response not
        started on the wire yet: 500; an open session: close 1000 (1011).
        """
        state = self._state
        if state in (_CONNECTING, _HANDSHAKE):
            await self._deny(500 if app_failed else 403)
        elif state == _DENYING:
            assert self._denial is not None
            self._state = _CLOSED
            self._app_closed = self._done = True
            if await self._denial.send_error(500):
                self.status_code = 500
            # else the response is half written: only closing the socket ends it
        elif state == _OPEN:
            await self._close_frame(INTERNAL_ERROR if app_failed else NORMAL, "")

    # --- the app's side ------------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        """websocket.connect, then websocket.receive messages, then websocket.disconnect."""
        if self._state == _CONNECTING:
            self._state = _HANDSHAKE
            return {"type": "websocket.connect"}
        while True:
            inbox = self._inbox
            if inbox:
                return inbox.popleft()
            if self.close_code is not None:
                return self._disconnect_message()
            if self._on_demand is not None and self.wants_data:
                self._on_demand()
            await self._wait()

    async def send(self, message: Message) -> None:
        """websocket.accept / .send / .close, or the denial response."""
        try:
            kind = message["type"]
        except (KeyError, TypeError, IndexError):
            raise ASGIProtocolError(f"an ASGI message is a dict with a 'type', got {message!r:.80}")
        state = self._state
        if state == _OPEN:
            if kind == "websocket.send":
                await self._put(self._data_frame(message))
            elif kind == "websocket.close":
                await self._close_frame(*self._close_fields(message))
            else:
                raise ASGIProtocolError(
                    f"unexpected {kind!r}: expected 'websocket.send' or 'websocket.close'")
        elif state in (_HANDSHAKE, _CONNECTING):
            await self._answer_handshake(kind, message)
        elif state == _DENYING:
            await self._denial_part(kind, message)
        elif self._app_closed:
            raise ASGIProtocolError(f"{kind!r} sent after the app closed the WebSocket "
                                    "(websocket.close or a denial response)")
        else:
            raise ClientDisconnected(f"the WebSocket is closed ({self.close_code})")

    # --- the handshake ---------------------------------------------------------------------

    async def _answer_handshake(self, kind: str, message: Message) -> None:
        if kind == "websocket.accept":
            await self._accept(message)
        elif kind == "websocket.close":
            await self._deny(403)
        elif kind == "websocket.http.response.start":
            self._state = _DENYING
            self._conn.close_after_response()
            denial = self._denial = HTTPCycle(self._conn, self._write)
            await self._denial_part(kind, message)
            self.status_code = denial.status_code
        else:
            raise ASGIProtocolError(
                f"unexpected {kind!r}: expected 'websocket.accept', 'websocket.close' or "
                "'websocket.http.response.start' to answer the handshake")

    async def _accept(self, message: Message) -> None:
        from wsproto.connection import Connection, ConnectionType

        handshake = self._handshake
        subprotocol = message.get("subprotocol")
        if subprotocol is not None and subprotocol not in handshake.subprotocols:
            raise ASGIProtocolError(
                f"websocket.accept: subprotocol {subprotocol!r} was not offered by the client "
                f"(it offered {list(handshake.subprotocols)})")
        headers = accept_headers(message.get("headers", ()))
        extension, offer_answer = self._negotiate_deflate()
        try:
            head = switching_protocols(handshake, subprotocol, offer_answer, headers,
                                       self._conn.server_name)
        except ValueError as exc:
            raise ASGIProtocolError(f"websocket.accept: {exc}") from None
        self._proto = Connection(ConnectionType.SERVER, [extension] if extension else None)
        self._inflate = extension is not None
        self._state = _OPEN
        self.status_code = 101
        early, self._early = self._early, b""
        await self._put(head)
        if early:
            reply = self._feed(self._proto, early)
            if reply:
                await self._put(reply)

    def _negotiate_deflate(self) -> tuple[Any, str | None]:
        """permessage-deflate for the first offer wsproto can accept (RFC 7692 5)."""
        if not self._per_message_deflate:
            return None, None
        from wsproto.extensions import PerMessageDeflate

        for offer in self._handshake.extension_offers:
            if offer.split(";", 1)[0].strip() != PerMessageDeflate.name:
                continue
            extension = PerMessageDeflate()
            try:
                answer = extension.accept(offer)
            except ValueError:  # a parameter that is not a number
                continue
            if answer is None or answer is False:
                continue
            params = "" if answer is True else answer
            return extension, PerMessageDeflate.name + (f"; {params}" if params else "")
        return None, None

    async def _deny(self, status: int) -> None:
        self._conn.close_after_response()
        self._state = _CLOSED
        self._app_closed = self._done = True
        self.status_code = status
        self._closed_with(ABNORMAL, "")
        await self._put(error_response(status, server_name=self._conn.server_name))

    async def _denial_part(self, kind: str, message: Message) -> None:
        denial = self._denial
        assert denial is not None
        http_kind = kind[len("websocket."):] if kind.startswith("websocket.http.") else kind
        try:
            await denial.send({**message, "type": http_kind})
        except ASGIProtocolError as exc:
            raise ASGIProtocolError(f"websocket denial response: {exc}") from None
        if denial.response_complete:
            self._state = _CLOSED
            self._app_closed = self._done = True
            self._closed_with(ABNORMAL, "")

    # --- frames ------------------------------------------------------------------------------

    def _feed(self, proto: Connection, data: bytes) -> bytes:
        """Hand received bytes to wsproto and act on its events."""
        if not self._inflate or len(data) <= INFLATE_SLICE:
            proto.receive_data(data)
            return self._events(proto)
        out = b""
        for start in range(0, len(data), INFLATE_SLICE):
            proto.receive_data(data[start:start + INFLATE_SLICE])
            out += self._events(proto)
            if self.closed:
                break
        return out

    def _events(self, proto: Connection) -> bytes:
        from wsproto.connection import ConnectionState
        from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

        out = b""
        event: Event
        for event in proto.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                out += self._message_part(proto, event)
            elif isinstance(event, Ping):
                if proto.state is ConnectionState.OPEN:
                    out += proto.send(event.response())
            elif isinstance(event, CloseConnection):
                out += self._peer_closed(proto, event)
            if self._done:
                break
        return out

    def _message_part(self, proto: Connection, event: Any) -> bytes:
        if self._state != _OPEN:
            return b""  # the app closed: what the peer sends meanwhile is dropped
        data = event.data
        self._parts.append(data)
        # The limit counts bytes: a text part's UTF-8 length (ASCII: its length).
        self._size += len(data) if not isinstance(data, str) or data.isascii() else len(
            data.encode())
        if self._max and self._size > self._max:
            return self._fail(proto, MESSAGE_TOO_BIG,
                              f"message larger than {self._max} bytes")
        if event.message_finished:
            parts, self._parts, self._size = self._parts, [], 0
            if isinstance(data, str):
                self._queue({"type": "websocket.receive", "text": "".join(parts)})
            else:
                self._queue({"type": "websocket.receive", "bytes": b"".join(parts)})
        return b""

    def _peer_closed(self, proto: Connection, event: Any) -> bytes:
        from wsproto.connection import ConnectionState

        if proto.state is ConnectionState.REMOTE_CLOSING:  # a close frame: reply to it
            reply = proto.send(event.response())
            if self.close_code is None:
                self._closed_with(int(event.code), event.reason or "")
            self._state = _CLOSED
            self._done = True
            return reply
        if proto.state is ConnectionState.CLOSED:  # the reply to our close
            self._done = True
            return b""
        # Still OPEN: wsproto could not parse what the peer sent (1002, 1007).
        return self._fail(proto, int(event.code), event.reason or "")

    def _fail(self, proto: Connection, code: int, reason: str) -> bytes:
        """Fail the connection: a close frame with ``code``, then nothing."""
        from wsproto.connection import ConnectionState
        from wsproto.events import CloseConnection

        out = b""
        if proto.state is ConnectionState.OPEN:
            out = proto.send(CloseConnection(code=code, reason=reason[:100]))
        if self.close_code is None:
            self._closed_with(code, reason)
        self._state = _CLOSED
        self._done = True
        self._parts, self._size = [], 0
        return out

    def _data_frame(self, message: Message) -> bytes:
        from wsproto.events import BytesMessage, TextMessage

        data, text = message.get("bytes"), message.get("text")
        if text is not None and data is None:
            if not isinstance(text, str):
                raise ASGIProtocolError(
                    f"websocket.send: 'text' must be str, got {type(text).__name__}")
            assert self._proto is not None
            return self._proto.send(TextMessage(data=text))
        if data is not None and text is None:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise ASGIProtocolError(
                    f"websocket.send: 'bytes' must be bytes, got {type(data).__name__}")
            assert self._proto is not None
            return self._proto.send(BytesMessage(data=bytes(data)))
        raise ASGIProtocolError("websocket.send: exactly one of 'bytes' and 'text' must be set")

    def _close_fields(self, message: Message) -> tuple[int, str]:
        code = message.get("code", NORMAL)
        reason = message.get("reason") or ""
        if not isinstance(code, int) or isinstance(code, bool) or not 1000 <= code <= 4999:
            raise ASGIProtocolError(f"websocket.close: 'code' must be an int in 1000..4999, "
                                    f"got {code!r}")
        if not isinstance(reason, str):
            raise ASGIProtocolError(f"websocket.close: 'reason' must be str, got {reason!r:.40}")
        return code, reason

    async def _close_frame(self, code: int, reason: str) -> None:
        from wsproto.events import CloseConnection

        assert self._proto is not None
        frame = self._proto.send(CloseConnection(code=code, reason=reason))
        self._state = _CLOSED
        self._app_closed = True
        self._closed_with(code, reason)
        await self._put(frame)

    # --- state -------------------------------------------------------------------------------

    def _closed_with(self, code: int, reason: str) -> None:
        self.close_code = code
        self.close_reason = reason
        self._wake()

    def _disconnect_message(self) -> dict[str, Any]:
        return {"type": "websocket.disconnect", "code": self.close_code,
                "reason": self.close_reason}

    def _queue(self, message: dict[str, Any]) -> None:
        self._inbox.append(message)
        self._wake()

    async def _put(self, data: bytes) -> None:
        if not data:
            return
        self.bytes_written += len(data)
        waiting = self._write(data)
        if waiting is not None:
            await waiting

    async def _wait(self) -> None:
        event = self._event
        if event is None:
            event = self._event = asyncio.Event()
        event.clear()
        await event.wait()

    def _wake(self) -> None:
        if self._event is not None:
            self._event.set()


def accept_headers(headers: Any) -> list[tuple[str, str]]:
    """websocket.accept's extra headers (byte pairs) as str pairs."""
    fields: list[tuple[str, str]] = []
    try:
        for name, value in headers:
            if not (isinstance(name, (bytes, bytearray))
                    and isinstance(value, (bytes, bytearray))):
                raise TypeError(f"{name!r}: {value!r}")
            fields.append((bytes(name).decode("latin-1"), bytes(value).decode("latin-1")))
    except (TypeError, ValueError) as exc:
        raise ASGIProtocolError(f"websocket.accept: 'headers' must be [name, value] pairs of "
                                f"bytes ({exc})") from None
    return fields
