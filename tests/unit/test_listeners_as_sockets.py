"""server.LISTENERS entries answer the socket calls hooks written for Gunicorn make."""

from __future__ import annotations

import socket
import struct

from support import wait_for
from workhorse.listeners import BindAddress, Listener, describe

#: struct tcp_info (include/uapi/linux/tcp.h): 8 bytes then 24 u32; tcpi_unacked is
#: the 13th field, a listening socket's accept queue length.
TCP_INFO_FORMAT = "B" * 8 + "I" * 24


def test_a_listener_reads_its_accept_queue_as_posthogs_hook_does() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        listener = Listener(sock, BindAddress("tcp", "127.0.0.1", 0), describe(sock, False))
        with socket.create_connection(sock.getsockname()):
            # The handshake's last ACK may still be on its way through loopback.
            wait_for(lambda: _accept_queue(listener) == 1, 5, message="one queued connection")
        assert listener.getsockname() == sock.getsockname()
        assert (listener.family, listener.type) == (socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1


def _accept_queue(listener: Listener) -> int:
    info = listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    assert isinstance(info, bytes)
    return int(struct.unpack(TCP_INFO_FORMAT, info)[12])
