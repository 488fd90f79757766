"""The gevent worker's client sockets: the shared connection, waiting in gevent's hub.

Strategy: the request path (:mod:`workhorse.workers.handler`) is the one
every WSGI worker runs; what differs under gevent is only how a socket
waits. The other workers keep sockets in blocking mode with kernel
timeouts (``SO_RCVTIMEO``), which would stop the whole hub here. So a
plain client socket is put in non-blocking mode and each wait goes to the
hub (``wait_read``/``wait_write`` with the same limits: ``read_timeout``
for a receive, ``send_timeout`` for room to send), while the one system
call of the common case stays what it is in the other workers.

Sockets are made from the standard library's own socket class, not
gevent's patched one: gevent's would wait inside every call with one
timeout for reads and sends alike. TLS is the exception
(:mod:`workhorse.workers.gevent_tls`).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from gevent.monkey import get_original  # type: ignore[import-untyped]
from gevent.socket import wait_read, wait_write  # type: ignore[import-untyped]

from workhorse.workers.connection import (
    RECV_SIZE,
    ClientGone,
    Connection,
    ReadTimeout,
    client_error,
)

#: The standard library's socket class (``socket.socket`` is gevent's in a patched process).
RealSocket: type[socket.socket] = get_original("socket", "socket")


def accept_now(listener: socket.socket) -> tuple[socket.socket, Any]:
    """One connection from a non-blocking listener (BlockingIOError when none
    waits), as a standard socket: ``accept()`` would make one of gevent's."""
    fd, peer = listener._accept()  # type: ignore[attr-defined]
    return RealSocket(listener.family, listener.type, listener.proto, fileno=fd), peer


def adopt_fd(fd: int) -> socket.socket:
    """A standard socket for a descriptor the master handed over."""
    return RealSocket(fileno=fd)


class GeventConnection(Connection):
    """A plain client connection whose waits are the hub's."""

    __slots__ = ("leave_open",)

    def __init__(self, sock: socket.socket, peer: Any, *args: Any, **kwargs: Any) -> None:
        sock.setblocking(False)
        super().__init__(sock, peer, *args, **kwargs)
        #: Another process holds it (handed to the master, or the master answers
        #: it): close our descriptor without a FIN.
        self.leave_open = False

    def _recv(self, flags: int) -> bytes:
        while True:
            try:
                return self.sock.recv(RECV_SIZE, flags)
            except BlockingIOError:
                if flags & socket.MSG_DONTWAIT:
                    raise ReadTimeout("nothing to read") from None
                limit = self.read_timeout
                wait_read(self.fd, limit or None,
                          ReadTimeout(f"nothing received for {limit:g}s"))
            except OSError as exc:
                raise client_error(exc) from exc

    def set_read_timeout(self, seconds: float) -> None:
        self.read_timeout = seconds  # the hub's wait reads it: no system call

    def _room_waiter(self) -> Callable[[], None]:
        limit = self.send_timeout

        def wait_for_room() -> None:
            wait_write(self.fd, limit or None,
                       ClientGone(f"the client read nothing for {limit:g}s (send_timeout)"))

        return wait_for_room

    def wait_readable(self) -> None:
        """Until the client sends something (the worker's tick ends a wait that is too long)."""
        wait_read(self.fd)
