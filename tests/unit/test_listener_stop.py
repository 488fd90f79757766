"""A stopping server's listeners refuse new connections before their queue is taken.

Real sockets on loopback: a connection completed before the refusal stays
queued with its request and is taken; an attempt after it gets no answer
(its SYN is dropped, so it sends no request that a close could reset); once
the listener is closed the attempt is refused.
"""

from __future__ import annotations

import errno
import select
import socket

import pytest

from workhorse.listeners import BindAddress, Listener, describe, refuse_new_connections

#: Long enough for a loopback handshake many times over, short for the suite.
NO_ANSWER_WAIT = 0.3


def _listener(family: socket.AddressFamily, host: str) -> Listener:
    sock = socket.socket(family)
    sock.bind((host, 0))
    sock.listen(16)
    return Listener(sock, BindAddress("tcp", host, sock.getsockname()[1]), describe(sock, False))


@pytest.mark.parametrize(("family", "host"), [(socket.AF_INET, "127.0.0.1"),
                                              (socket.AF_INET6, "::1")])
def test_queued_connections_stay_and_new_ones_get_no_answer(family: socket.AddressFamily,
                                                            host: str) -> None:
    listener = _listener(family, host)
    address = listener.sock.getsockname()[:2]
    before = socket.create_connection(address)
    late = socket.socket(family)
    try:
        before.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert refuse_new_connections([listener]) == 1
        late.setblocking(False)
        assert late.connect_ex(address) == errno.EINPROGRESS
        # The handshake does not complete: no SYN-ACK, so never writable.
        _, writable, _ = select.select([], [late], [], NO_ANSWER_WAIT)
        assert writable == []
        listener.sock.settimeout(2)
        taken, _peer = listener.sock.accept()
        with taken:
            assert taken.recv(100).startswith(b"GET / ")
        listener.sock.close()
        with socket.socket(family) as after, pytest.raises(ConnectionRefusedError):
            after.connect(address)
    finally:
        before.close()
        late.close()
        listener.sock.close()


def test_unix_listeners_are_left_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "s.sock")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)
    sock.listen(4)
    listener = Listener(sock, BindAddress("unix", path=path), describe(sock, False))
    with sock:
        assert refuse_new_connections([listener]) == 0
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
