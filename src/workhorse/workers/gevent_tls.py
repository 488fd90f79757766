"""TLS for the gevent worker, imported only when ``certfile``/``keyfile`` are set.

Strategy: in a patched process the :mod:`ssl` module's ``SSLContext`` is
gevent's, and its ``SSLSocket`` waits in the hub inside each call for as
long as the socket's timeout. So the connection is the other workers' TLS
connection whose timeout is set to the limit of each call: the read limit
(``header_timeout``, then ``body_timeout`` or the keep-alive wait), or
``send_timeout`` while it sends. Imported after the worker patched the
process: importing :mod:`ssl` earlier would leave it half patched.
"""

from __future__ import annotations

import socket
from typing import Any

from gevent.socket import wait_read  # type: ignore[import-untyped]

from workhorse.config.settings import Config
from workhorse.workers import tls
from workhorse.workers.connection import RECV_SIZE, ReadTimeout, client_error
from workhorse.workers.gevent_connection import GeventConnection


class GeventTLSConnection(tls.TLSConnection, GeventConnection):
    """A TLS connection on gevent's ``SSLSocket`` (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # GeventConnection made the socket non-blocking; gevent's SSLSocket
        # does its own waiting, within its timeout.
        self.sock.settimeout(self.read_timeout or None)

    def _recv(self, flags: int) -> bytes:
        try:
            return self.sock.recv(RECV_SIZE)
        except TimeoutError as exc:
            raise ReadTimeout(f"nothing received for {self.read_timeout:g}s") from exc
        except OSError as exc:
            raise client_error(exc) from exc

    def set_read_timeout(self, seconds: float) -> None:
        self.sock.settimeout(seconds or None)
        self.read_timeout = seconds

    def send(self, data: bytes) -> None:
        self.sock.settimeout(self.send_timeout or None)
        try:
            super().send(data)
        finally:
            self.sock.settimeout(self.read_timeout or None)

    def wait_readable(self) -> None:
        if not self.buffered():  # decrypted bytes in OpenSSL: the fd may stay quiet
            wait_read(self.fd)


class GeventTLS:
    """What :func:`workhorse.workers.serving.open_client` asks of ``worker.tls_module``."""

    TLSConnection = GeventTLSConnection

    @staticmethod
    def wrap(context: Any, sock: socket.socket, cfg: Config) -> socket.socket | None:
        # gevent's SSLSocket takes its timeout from the socket: the handshake
        # (on connect, or with the first read) gets header_timeout.
        sock.settimeout(float(cfg.header_timeout) or None)
        return tls.wrap(context, sock, cfg)
