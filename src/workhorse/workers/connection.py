"""One accepted client connection: the socket beneath the HTTP core.

Strategy: sockets stay in blocking mode with kernel timeouts (SO_RCVTIMEO
and SO_SNDTIMEO, set once on a TCP listener and inherited by the sockets
it accepts; set per socket for UNIX ones), so a receive costs one system
call and a client that stops sending is noticed by the kernel. A send is
tried without blocking first and then waits for room, at most
``send_timeout`` each time, so only a client that stopped reading is
dropped. A PROXY protocol header expected from a trusted proxy is stripped
before any byte reaches the HTTP core. Closing lingers (RFC 9112 9.6) when
the client may still be sending a body nobody read, so the kernel does not
reset the response away. What a socket error means for the exchange is
decided once here: the client is gone (:class:`ClientGone`, never worth a
traceback), it is silent (:class:`ReadTimeout`), or it is a real fault.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import time
from collections.abc import Callable
from typing import Any

from workhorse.http import NEED_DATA, NeedData, ProtocolError, ServerConnection
from workhorse.http.proxy import parse_proxy_header
from workhorse.listeners import apply_io_timeouts, timeval

#: Bytes asked of the kernel per receive: one typical request head fits,
#: a large upload is read in few calls.
RECV_SIZE = 65536

#: Lingering close: how long to keep reading and dropping a body nobody
#: wants after the response, and the longest silence tolerated meanwhile.
#: (nginx's own lingering_timeout is 5 s; a client still sending is fast.)
LINGER_SECONDS = 2.0
LINGER_READ_TIMEOUT = 0.5

#: How long a stopping worker waits for the first request of a connection it
#: has just taken from the listen queue (a proxy sends it right after connecting).
FIRST_REQUEST_GRACE = 1.0

#: Errors that mean the client went away: never worth a traceback.
CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)
GONE_ERRNOS = frozenset({errno.ECONNRESET, errno.ENOTCONN, errno.EPIPE})


class ClientGone(Exception):
    """The client closed or stopped responding; the exchange cannot continue."""


def client_error(exc: OSError) -> Exception:
    """What a socket error means for the exchange: the client is gone, or a real fault."""
    if isinstance(exc, CLIENT_GONE) or exc.errno in GONE_ERRNOS:
        return ClientGone(str(exc))
    return exc


class ReadTimeout(Exception):
    """The client sent nothing for the idle read timeout (kernel SO_RCVTIMEO)."""


def set_io_timeouts(sock: socket.socket, header_timeout: float, send_timeout: float) -> None:
    """Kernel timeouts for one accepted UNIX socket (TCP ones inherit the listener's).

    Reads start with the head's limit; :meth:`Connection.set_read_timeout`
    switches to ``body_timeout`` for a body (only when the two differ).
    """
    apply_io_timeouts(sock, header_timeout, send_timeout)


class Connection:
    """One accepted client connection and its protocol state."""

    #: TLS connections are :class:`workhorse.workers.tls.TLSConnection`.
    is_tls = False

    __slots__ = (
        "accepted_at",
        "armed",
        "bytes_in",
        "conn",
        "fd",
        "head_started",
        "label",
        "linger",
        "listener_index",
        "on_progress",
        "parked_at",
        "parks",
        "peer",
        "proxy_buffer",
        "proxy_environ",
        "proxy_versions",
        "read_timeout",
        "registered",
        "requests",
        "send_timeout",
        "sock",
    )

    def __init__(self, sock: socket.socket, peer: Any, conn: ServerConnection,
                 listener_index: int, *, read_timeout: float = 0.0,
                 send_timeout: float = 0.0) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        # A UNIX-socket peer has no address: None means "local" everywhere.
        self.peer: tuple[str, int] | None = peer if isinstance(peer, tuple) else None
        #: The client as the scoreboard shows it.
        self.label = client_text(self.peer).encode("latin-1", "replace")
        self.conn = conn
        self.bytes_in = 0
        self.registered = False  # known to the threaded worker's epoll
        self.parked_at = 0.0  # when the threaded worker last parked it
        #: How often the threaded worker parked it, and which parking finished
        #: arming its poller (equal: it waits in the poller, nobody uses it).
        self.parks = 0
        self.armed = 0
        self.head_started = 0.0  # when the first byte of a still partial head came
        #: The socket's SO_RCVTIMEO as last set (the listener's, header_timeout,
        #: to begin with), and the whole-response send limit (0: none).
        self.read_timeout = read_timeout
        self.send_timeout = send_timeout
        #: The client may still be sending a body nobody read: close in stages.
        self.linger = False
        self.proxy_environ: dict[str, str] | None = None
        #: When it was accepted, and how many requests it brought: a new
        #: connection with none yet has its first on the way.
        self.accepted_at = time.monotonic()
        self.requests = 0
        #: Called when a slow send makes progress (the request's deadline moves).
        self.on_progress: Callable[[], None] | None = None
        #: PROXY protocol versions still expected before the first HTTP byte
        #: (empty: none expected); see :meth:`expect_proxy_header`.
        self.proxy_versions: frozenset[int] = frozenset()
        self.proxy_buffer = b""
        self.listener_index = listener_index

    def buffered(self) -> bool:
        """Received bytes wait in user space where epoll cannot see them (TLS)."""
        return False

    def expect_proxy_header(self, versions: frozenset[int]) -> None:
        """The peer is a trusted proxy: its first bytes must be a PROXY header."""
        self.proxy_versions = versions

    def receive(self, flags: int = 0) -> bool:
        """One receive, bounded by the kernel's SO_RCVTIMEO; False on EOF.

        Sockets stay in blocking mode with kernel timeouts (set once on the
        listener, inherited by accepted TCP sockets) rather than Python's
        timeout mode, which would poll() before every recv and send.
        """
        data = self._recv(flags)
        self.bytes_in += len(data)
        if self.proxy_versions:
            self._take_proxy_header(data)
        else:
            self.conn.receive_data(data)
        return bool(data)

    def _recv(self, flags: int) -> bytes:
        """One recv(2), its errors in the handler's terms (a worker whose sockets
        wait differently, the gevent one, overrides this)."""
        try:
            return self.sock.recv(RECV_SIZE, flags)
        except BlockingIOError as exc:
            raise ReadTimeout(str(exc)) from exc
        except OSError as exc:
            raise client_error(exc) from exc

    def _take_proxy_header(self, data: bytes) -> None:
        """Strip the PROXY header off the start of the stream (ProtocolError if absent)."""
        self.proxy_buffer += data
        result = parse_proxy_header(self.proxy_buffer, eof=not data)
        if result is NEED_DATA:
            return
        assert not isinstance(result, NeedData)
        info, used = result
        if info.version not in self.proxy_versions:
            raise ProtocolError(400, "Invalid PROXY protocol header",
                                f"version {info.version} is not accepted here")
        rest = self.proxy_buffer[used:]
        self.proxy_versions = frozenset()
        self.proxy_buffer = b""
        if info.family != "UNKNOWN":
            self.proxy_environ = {
                "PROXY_PROTOCOL": info.family,
                "REMOTE_ADDR": info.src_addr or "",
                "REMOTE_PORT": str(info.src_port),
                "PROXY_ADDR": info.dst_addr or "",
                "PROXY_PORT": str(info.dst_port),
            }
        self.conn.receive_data(rest)
        if not data:
            self.conn.receive_data(b"")

    def next_event(self) -> Any:
        """The next protocol event, receiving as needed (blocking)."""
        conn = self.conn
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                self.receive()
                continue
            return event

    def set_read_timeout(self, seconds: float) -> None:
        """Bound each receive by ``seconds`` (0: no limit); a system call only on change."""
        if seconds != self.read_timeout:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(seconds))
            self.read_timeout = seconds

    def send(self, data: bytes) -> None:
        """Send everything; drop a client that reads nothing for ``send_timeout``.

        The common case is one non-blocking send that takes it all. When the
        client reads slower than we write, :meth:`_send_rest` waits for room
        in the socket buffer, at most ``send_timeout`` each time: any progress
        restarts the clock, so only a client that stopped reading is dropped,
        and exactly ``send_timeout`` after it stopped.
        """
        try:
            sent = self.sock.send(data, socket.MSG_DONTWAIT)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            raise client_error(exc) from exc
        if sent < len(data):
            self._send_rest(memoryview(data)[sent:])

    def send_parts(self, parts: list[bytes]) -> None:
        """Send several buffers back to back with one ``sendmsg``, without
        first copying them into one (a large body after its head)."""
        try:
            sent = self.sock.sendmsg(parts, (), socket.MSG_DONTWAIT)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            raise client_error(exc) from exc
        for part in parts:
            if sent >= len(part):
                sent -= len(part)
                continue
            self._send_rest(memoryview(part)[sent:])
            sent = 0

    def _send_rest(self, rest: memoryview) -> None:
        wait_for_room = self._room_waiter()
        progress = self.on_progress
        while rest:
            wait_for_room()
            try:
                rest = rest[self.sock.send(rest, socket.MSG_DONTWAIT):]
            except BlockingIOError:
                continue
            except OSError as exc:
                raise client_error(exc) from exc
            if progress is not None:
                progress()

    def sendfile(self, fd: int, offset: int, count: int) -> int:
        """Send ``count`` bytes of file ``fd`` from ``offset`` with sendfile(2); a client
        that reads nothing for ``send_timeout`` is dropped. Returns the bytes sent."""
        wait_for_room = self._room_waiter()
        out = self.sock.fileno()
        sent = 0
        blocking = self.sock.getblocking()
        if blocking:
            self.sock.setblocking(False)  # sendfile(2) takes no MSG_DONTWAIT
        try:
            while sent < count:
                try:
                    chunk = os.sendfile(out, fd, offset + sent, count - sent)
                except BlockingIOError:
                    wait_for_room()
                    continue
                except OSError as exc:
                    raise client_error(exc) from exc
                if chunk == 0:
                    break  # the file is shorter than it said
                sent += chunk
                if self.on_progress is not None:
                    self.on_progress()
        finally:
            if blocking:
                self.sock.setblocking(True)
        return sent

    def _room_waiter(self) -> Callable[[], None]:
        """A wait for room in the socket's send buffer: ClientGone after
        ``send_timeout`` without any (0: wait as long as it takes)."""
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLOUT)
        wait_ms = int(self.send_timeout * 1000) if self.send_timeout else None
        limit = self.send_timeout

        def wait_for_room() -> None:
            if not poller.poll(wait_ms):
                raise ClientGone(f"the client read nothing for {limit:g}s (send_timeout)")

        return wait_for_room

    def close(self) -> None:
        if self.linger:
            self._lingering_close()
        try:
            self.sock.close()
        except OSError:
            pass

    def _lingering_close(self) -> None:
        """Close in stages (RFC 9112 9.6) when the client may still be sending.

        Closing a socket with unread data makes the kernel send a reset,
        which can destroy the response before the client (or nginx) reads
        it. So: stop sending (FIN), read and drop what still arrives for a
        bounded time, then close.
        """
        if self.is_tls:
            return
        try:
            self.sock.shutdown(socket.SHUT_WR)
            self.set_read_timeout(LINGER_READ_TIMEOUT)
            deadline = time.monotonic() + LINGER_SECONDS
            while time.monotonic() < deadline and self._recv(0):
                pass
        except (OSError, ReadTimeout, ClientGone):
            pass


def has_pending_data(client: Connection) -> bool:
    """A request (or part of one) is waiting on this connection."""
    if client.conn.trailing_data:
        return True
    try:
        return bool(client.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:
        return False


def movable(client: Connection) -> bool:
    """Whether another process can take over this connection as it is:
    nothing of it is buffered here (a request, part of one, a TLS session)."""
    return not (client.is_tls or client.conn.trailing_data or client.proxy_buffer
                or client.head_started)


def client_text(peer: tuple[str, int] | None) -> str:
    if peer is None:
        return "local"
    return f"{peer[0]}:{peer[1]}"
