"""A server of one-question, one-answer connections inside the master's loop.

Strategy: the control socket and the metrics endpoint both read one
request, write one answer and close, and both run in the master, which must
never block. So this base class owns the mechanics once: a non-blocking
listener and client sockets registered in the master's selector (the key's
data is a zero-argument callback), a bounded input buffer per client, one
deadline per connection for the whole exchange (enforced in ``tick``, so a
client that sends nothing or reads nothing is dropped), and a cap on
concurrent connections (one more client is answered "busy" at once).
Subclasses only say where a request ends and what to answer.

A listener that cannot be opened (a live socket in the way, a port in use)
is reported once and retried every few seconds: the server itself keeps
running, and a new master started next to an old one (USR2) takes the
control socket over when the old one leaves.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from collections.abc import Callable
from typing import Any

from workhorse.observe.contract import MasterControl
from workhorse.observe.sockets import ListenError

#: A local client (``workhorse status``, Prometheus) exchanges its few
#: bytes in milliseconds; one that takes this long is stuck or hostile.
CLIENT_TIMEOUT = 5.0
#: Concurrent client connections held by one server; more are told "busy".
MAX_CONNECTIONS = 64
#: Connections accepted per wake-up, so a flood cannot monopolise the loop.
ACCEPT_BATCH = 64
#: How often a listener that could not be opened is tried again.
RETRY_OPEN_SECONDS = 5.0
#: After answering, how long a client gets to close its side (its unread
#: bytes would otherwise turn our close into a reset that loses the answer).
LINGER_SECONDS = 1.0
#: Reads per wake-up while draining, so a client streaming data cannot hold the loop.
DRAIN_READS = 16
#: Out of descriptors: accepting would fail again at once, so the listener
#: is paused this long instead of spinning on a socket that stays readable.
PAUSE_SECONDS = 1.0
_OUT_OF_FDS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class Exchange:
    """One client connection: what it sent so far and what is left to send."""

    __slots__ = ("deadline", "draining", "received", "refusal", "reply", "sock")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.received = bytearray()
        self.reply: memoryview | None = None
        #: The answer for a client refused at accept, sent once it has spoken
        #: (answering before would break its pipe and lose the reason).
        self.refusal: bytes | None = None
        #: Answered and half-closed: reading (and dropping) what the client
        #: still sends, so closing does not reset the connection and lose
        #: the answer on its way.
        self.draining = False


class OneShotServer:
    """Base of the master-side servers; a master plugin (see ``workhorse.master.plugins``)."""

    #: Shown in log lines, e.g. "control socket".
    name = "server"
    #: Largest request accepted, terminator included.
    max_request = 8192

    def __init__(self, *, client_timeout: float = CLIENT_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.client_timeout = client_timeout
        self.max_connections = max_connections
        self.listener: socket.socket | None = None
        self._arbiter: MasterControl | None = None
        self._exchanges: dict[int, Exchange] = {}
        self._retry_at = 0.0
        self._reported = ""
        self._paused = False
        self._resume_at = 0.0

    # --- what a subclass provides --------------------------------------------------
    def open_listener(self) -> socket.socket:
        """Open the non-blocking listening socket; raise ListenError."""
        raise NotImplementedError

    def close_listener(self, sock: socket.socket) -> None:
        """Close the listener (a subclass also removes its socket file)."""
        sock.close()

    def request_length(self, data: bytearray, eof: bool) -> int | None:
        """Length of the complete request at the start of ``data``, or None."""
        raise NotImplementedError

    def answer(self, request: bytes) -> bytes:
        """The bytes to send back for one complete request."""
        raise NotImplementedError

    def refusal(self, sock: socket.socket) -> bytes | None:
        """The answer that refuses this client whatever it asks, or None to hear it."""
        return None

    def too_large(self) -> bytes:
        raise NotImplementedError

    def busy(self) -> bytes:
        raise NotImplementedError

    def failure(self) -> bytes:
        """The answer when ``answer`` raised (already logged)."""
        raise NotImplementedError

    # --- the plugin interface -------------------------------------------------------
    def start(self, arbiter: MasterControl) -> None:
        self._arbiter = arbiter
        self._open(time.monotonic())

    def tick(self, arbiter: MasterControl, now: float) -> None:
        self._arbiter = arbiter
        for exchange in [e for e in self._exchanges.values() if now >= e.deadline]:
            self._close(exchange)
        if self.listener is None and now >= self._retry_at:
            self._open(now)
        elif self._paused and now >= self._resume_at:
            self._resume()

    def worker_exited(self, arbiter: MasterControl, handle: object, cause: str) -> None:
        """Nothing to do: these servers do not track workers."""

    def fds(self) -> list[int]:
        fds = [] if self.listener is None else [self.listener.fileno()]
        return fds + list(self._exchanges)

    def stop(self, arbiter: MasterControl) -> None:
        for exchange in list(self._exchanges.values()):
            self._close(exchange)
        listener, self.listener = self.listener, None
        if listener is not None:
            self._unregister(listener)
            self.close_listener(listener)

    @property
    def connections(self) -> int:
        """Client connections open right now."""
        return len(self._exchanges)

    # --- the listener ------------------------------------------------------------------
    def _open(self, now: float) -> None:
        try:
            listener = self.open_listener()
        except (ListenError, OSError) as exc:
            self._retry_at = now + RETRY_OPEN_SECONDS
            if str(exc) != self._reported:  # say it once, not every retry
                self._reported = str(exc)
                self._log().error("%s not available: %s (retrying every %.0f s)",
                                  self.name, exc, RETRY_OPEN_SECONDS)
            return
        self.listener = listener
        self._reported = ""
        self._selector().register(listener, selectors.EVENT_READ, self._accept)

    def _accept(self) -> None:
        listener = self.listener
        if listener is None:
            return
        for _ in range(ACCEPT_BATCH):
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._on_accept_error(exc)
                return
            self._welcome(sock)

    def _on_accept_error(self, exc: OSError) -> None:
        if exc.errno in _OUT_OF_FDS and self.listener is not None and not self._paused:
            self._log().warning("%s: cannot accept (%s); pausing for %.0f s",
                                self.name, exc.strerror, PAUSE_SECONDS)
            self._unregister(self.listener)
            self._paused = True
            self._resume_at = time.monotonic() + PAUSE_SECONDS

    def _resume(self) -> None:
        self._paused = False
        if self.listener is not None:
            self._selector().register(self.listener, selectors.EVENT_READ, self._accept)

    def _welcome(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        if len(self._exchanges) >= self.max_connections:
            _send_once_and_close(sock, self.busy())
            return
        exchange = Exchange(sock, time.monotonic() + self.client_timeout)
        try:
            exchange.refusal = self.refusal(sock)
        except OSError:
            sock.close()  # gone before we could look at it
            return
        self._exchanges[sock.fileno()] = exchange
        self._selector().register(sock, selectors.EVENT_READ, self._callback(exchange))

    def _callback(self, exchange: Exchange) -> Callable[[], None]:
        def ready() -> None:
            if exchange.draining:
                self._drain(exchange)
            elif exchange.reply is None:
                self._read(exchange)
            else:
                self._write(exchange)

        return ready

    # --- one exchange ------------------------------------------------------------------
    def _read(self, exchange: Exchange) -> None:
        room = self.max_request + 1 - len(exchange.received)
        try:
            data = exchange.sock.recv(max(1, room))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(exchange)
            return
        exchange.received += data
        length = self.request_length(exchange.received, not data)
        if exchange.refusal is not None and (length is not None or len(exchange.received)
                                             > self.max_request):
            self._reply(exchange, exchange.refusal)
        elif length is not None and length <= self.max_request:
            self._reply(exchange, self._answer(bytes(exchange.received[:length])))
        elif length is not None or len(exchange.received) > self.max_request:
            self._reply(exchange, self.too_large())
        elif not data:
            self._close(exchange)  # the client left before finishing its request

    def _answer(self, request: bytes) -> bytes:
        try:
            return self.answer(request)
        except Exception:
            self._log().exception("%s: error while answering a request", self.name)
            return self.failure()

    def _reply(self, exchange: Exchange, data: bytes) -> None:
        if exchange.sock.fileno() not in self._exchanges:
            return  # the answer closed it (e.g. a stop command during shutdown)
        exchange.reply = memoryview(data)
        self._selector().modify(exchange.sock, selectors.EVENT_WRITE, self._callback(exchange))
        self._write(exchange)

    def _write(self, exchange: Exchange) -> None:
        reply = exchange.reply
        assert reply is not None
        try:
            sent = exchange.sock.send(reply)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(exchange)
            return
        exchange.reply = reply[sent:]
        if not exchange.reply:
            self._linger(exchange)

    def _linger(self, exchange: Exchange) -> None:
        try:
            exchange.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(exchange)
            return
        exchange.draining = True
        exchange.deadline = min(exchange.deadline, time.monotonic() + LINGER_SECONDS)
        self._selector().modify(exchange.sock, selectors.EVENT_READ, self._callback(exchange))
        self._drain(exchange)

    def _drain(self, exchange: Exchange) -> None:
        for _ in range(DRAIN_READS):
            try:
                data = exchange.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                break
            if not data:
                break
        else:
            return
        self._close(exchange)

    def _close(self, exchange: Exchange) -> None:
        fd = exchange.sock.fileno()
        if self._exchanges.pop(fd, None) is None:
            return
        self._unregister(exchange.sock)
        exchange.sock.close()

    # --- plumbing ----------------------------------------------------------------------
    def _selector(self) -> selectors.BaseSelector:
        assert self._arbiter is not None, "start() was not called"
        return self._arbiter.selector

    def _log(self) -> Any:
        assert self._arbiter is not None, "start() was not called"
        return self._arbiter.log

    def _unregister(self, sock: socket.socket) -> None:
        try:
            self._selector().unregister(sock)
        except (KeyError, ValueError):
            pass


def _send_once_and_close(sock: socket.socket, data: bytes) -> None:
    """Best effort: a short answer fits the socket buffer; if not, it is lost."""
    try:
        sock.send(data)
    except OSError:
        pass
    sock.close()
