"""The listen-queue reader against real sockets and what ``ss`` says about them."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from workhorse.observe.backlog import _parse_unix_diag_reply, listen_queue

BACKLOG = 16
WAITING = 5

Until = Callable[..., Any]


@pytest.fixture
def clients() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def _ss(*args: str) -> list[list[str]]:
    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) is not installed")
    out = subprocess.run(["ss", "-H", *args], capture_output=True, text=True, check=True).stdout
    return [line.split() for line in out.splitlines()]


def test_tcp_listener_reports_waiting_connections_and_its_limit(
        clients: list[socket.socket], until: Until) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(BACKLOG)
        port = listener.getsockname()[1]
        assert listen_queue(listener) == (0, BACKLOG)
        for _ in range(WAITING):
            clients.append(socket.create_connection(("127.0.0.1", port)))

        assert until(lambda: listen_queue(listener) == (WAITING, BACKLOG))
        rows = [row for row in _ss("-ltn", f"sport = :{port}") if row[0] == "LISTEN"]
        assert [(int(row[1]), int(row[2])) for row in rows] == [(WAITING, BACKLOG)]


def test_unix_listener_reports_what_ss_xl_shows(
        tmp_path: Path, clients: list[socket.socket], until: Until) -> None:
    path = str(tmp_path / "app.sock")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        listener.listen(BACKLOG)
        assert listen_queue(listener) == (0, BACKLOG)
        for _ in range(WAITING):
            client = socket.socket(socket.AF_UNIX)
            client.connect(path)
            clients.append(client)

        assert until(lambda: listen_queue(listener) == (WAITING, BACKLOG))
        rows = [row for row in _ss("-xln") if path in row]
        assert [(int(row[2]), int(row[3])) for row in rows] == [(WAITING, BACKLOG)]


def test_accepting_drains_the_reported_queue(tmp_path: Path, until: Until) -> None:
    path = str(tmp_path / "drain.sock")
    with socket.socket(socket.AF_UNIX) as listener, socket.socket(socket.AF_UNIX) as client:
        listener.bind(path)
        listener.listen(BACKLOG)
        client.connect(path)
        assert until(lambda: listen_queue(listener) == (1, BACKLOG))
        conn, _ = listener.accept()
        conn.close()
        assert listen_queue(listener) == (0, BACKLOG)


def test_ipv6_listener(clients: list[socket.socket], until: Until) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    with socket.socket(socket.AF_INET6) as listener:
        try:
            listener.bind(("::1", 0))
        except OSError:
            pytest.skip("::1 is not configured")
        listener.listen(BACKLOG)
        clients.append(socket.create_connection(("::1", listener.getsockname()[1])))
        assert until(lambda: listen_queue(listener) == (1, BACKLOG))


def test_sockets_that_are_not_listening_say_nothing(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(BACKLOG)
        with socket.create_connection(listener.getsockname()) as connected:
            assert listen_queue(connected) is None
    with socket.socket(socket.AF_UNIX) as bound_only:
        bound_only.bind(str(tmp_path / "quiet.sock"))
        assert listen_queue(bound_only) is None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as datagram:
        assert listen_queue(datagram) is None
    closed = socket.socket()
    closed.close()
    assert listen_queue(closed) is None


def test_a_truncated_or_foreign_netlink_reply_is_not_guessed_from() -> None:
    assert _parse_unix_diag_reply(b"", 1) is None
    assert _parse_unix_diag_reply(b"\x40\x00\x00\x00\x14\x00", 1) is None
    # an NLMSG_ERROR message (type 2) carrying -ENOENT
    error = (20).to_bytes(4, "little") + (2).to_bytes(2, "little") + bytes(10) + bytes(4)
    assert _parse_unix_diag_reply(error, 1) is None
