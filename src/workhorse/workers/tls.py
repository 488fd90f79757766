"""TLS for the workers, imported only when ``certfile``/``keyfile`` are set.

Strategy: the :mod:`ssl` module (and OpenSSL behind it) costs several MiB of
memory in every process that imports it, so nothing on the plain-HTTP path
imports it. A TLS listener's connections are :class:`TLSConnection` objects,
which translate OpenSSL's errors into the handler's own (a stalled peer is a
read timeout, a protocol error is a client gone) and know that decrypted
bytes may be waiting inside OpenSSL where the kernel cannot see them.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from workhorse.config.settings import Config
from workhorse.workers.connection import ClientGone, Connection, ReadTimeout, client_error


class TLSConnection(Connection):
    is_tls = True

    def receive(self, flags: int = 0) -> bool:
        # recv() on a TLS socket takes no flags: readiness comes from epoll or
        # from pending(), so a plain read does not block.
        try:
            return super().receive(0)
        except ssl.SSLWantReadError as exc:
            raise ReadTimeout(str(exc)) from exc
        except ssl.SSLError as exc:  # a bad TLS client (handshake, protocol): drop it
            raise ClientGone(f"TLS error: {exc}") from exc

    def send(self, data: bytes) -> None:
        # TLS sockets take no send flags: a blocking send bounded by the
        # kernel's SO_SNDTIMEO (send_timeout per call) does the waiting.
        try:
            self.sock.sendall(data)
        except (BlockingIOError, ssl.SSLWantWriteError) as exc:
            raise ClientGone(f"the client did not read the response in time: {exc}") from exc
        except ssl.SSLError as exc:
            raise ClientGone(f"TLS error: {exc}") from exc
        except OSError as exc:
            raise client_error(exc) from exc

    def send_parts(self, parts: list[bytes]) -> None:
        self.send(b"".join(parts))  # an SSL socket has no sendmsg

    def buffered(self) -> bool:
        """Decrypted bytes wait inside OpenSSL (epoll will not report them)."""
        sock = self.sock
        return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def server_context(cfg: Config, hook: Any) -> ssl.SSLContext:
    """The server context from certfile/keyfile/ca_certs/cert_reqs/ciphers, or the hook's."""

    def default_context() -> ssl.SSLContext:
        if not cfg.certfile:
            raise ValueError("keyfile is set but certfile is not: TLS needs both")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certfile=cfg.certfile, keyfile=cfg.keyfile)
        context.verify_mode = ssl.VerifyMode(int(cfg.cert_reqs))
        if cfg.ca_certs:
            context.load_verify_locations(cafile=cfg.ca_certs)
        if cfg.ciphers:
            context.set_ciphers(cfg.ciphers)
        return context

    if hook is not None:
        context: ssl.SSLContext = hook(cfg, default_context)
        return context
    return default_context()


def wrap(context: ssl.SSLContext, sock: socket.socket, cfg: Config) -> socket.socket | None:
    """The server side of TLS on an accepted socket (None if the handshake failed)."""
    try:
        return context.wrap_socket(sock, server_side=True,
                                   do_handshake_on_connect=bool(cfg.do_handshake_on_connect),
                                   suppress_ragged_eofs=bool(cfg.suppress_ragged_eofs))
    except OSError:  # ssl.SSLError included
        return None
