"""Replacing a worker loses no request of a keep-alive client.

A threaded worker that stops for any reason but a crash (HUP, max_requests,
TTOU, max_worker_memory) answers what is in flight with ``Connection: close``
and gives its idle keep-alive connections to the master, which passes them
to a sibling, or holds them until the replacement is ready. The client here
is the strict kind (tests/keepalive_load.py): it reuses every connection
until told ``Connection: close`` and never retries, so a connection closed
under a request counts as a failure.
"""

from __future__ import annotations

import re
import signal
import socket

import pytest

from keepalive_load import KeepAliveLoad
from support import wait_for

#: The pooled gthread worker, and gthread with one thread (served inline by its loop).
THREADS = ["4", "1"]


@pytest.fixture(params=THREADS, ids=[f"threads{t}" for t in THREADS])
def gthread(request: pytest.FixtureRequest) -> list[str]:
    return ["-k", "gthread", "--threads", request.param, "--log-level", "debug"]
HANDED = re.compile(r"Stopping: (\d+) idle connection\(s\) handed to the master")


def handed_over(log: str) -> int:
    return sum(int(n) for n in HANDED.findall(log))


def new_generation(server, before: set[int], count: int) -> bool:
    workers = set(server.workers())
    return len(workers) == count and not workers & before


def test_hup_loses_no_keepalive_request(server_factory, gthread):
    server = server_factory([*gthread, "-w", "2", "testapp:app"])
    wait_for(lambda: len(server.workers()) == 2, message="2 workers")
    with KeepAliveLoad(server.port) as load:
        load.wait_requests(300)
        for _ in range(3):
            before = set(server.workers())
            server.signal(signal.SIGHUP)
            wait_for(lambda b=before: new_generation(server, b, 2), 30,  # type: ignore[misc]
                     message="a new generation of workers")
            load.wait_requests(300)
    print("HUP x3:", load.summary())
    assert load.failures == [], "\n".join([load.summary(), server.log()[-6000:]])
    assert handed_over(server.log()) > 0  # the idle connections did travel


def test_max_requests_recycling_loses_no_keepalive_request(server_factory, gthread):
    server = server_factory([*gthread, "-w", "2", "--max-requests", "200",
                             "--max-requests-jitter", "50", "testapp:app"])
    with KeepAliveLoad(server.port) as load:
        wait_for(lambda: server.log().count("Autorestarting worker") >= 12, 60,
                 message="12 recycled workers")
    print("max_requests, 12 recycles:", load.summary())
    assert load.failures == [], load.summary()


def test_one_worker_recycling_holds_connections_for_its_replacement(server_factory, gthread):
    """With no sibling, the master keeps the connections until the new worker is ready."""
    server = server_factory([*gthread, "-w", "1", "--max-requests", "100", "testapp:app"])
    with KeepAliveLoad(server.port, connections=8) as load:
        wait_for(lambda: server.log().count("Autorestarting worker") >= 5, 60,
                 message="5 recycled workers")
    print("one worker, 5 recycles:", load.summary())
    assert load.failures == [], load.summary()


def test_idle_connections_outlive_their_worker(server_factory, gthread):
    """Idle keep-alive connections of a worker that recycles are served by its
    replacement, on the same connections, with no request lost or reset."""
    server = server_factory([*gthread, "-w", "1", "--max-requests", "10", "testapp:app"])
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(4)]
    try:
        first = {_ask(sock, "/pid") for sock in idle}
        assert len(first) == 1  # one worker
        # The worker's last requests, on other connections.
        wait_for(lambda: server.request_ok("/") and "Autorestarting worker" in server.log(),
                 message="the recycle")
        # The stopping worker hands them over a moment after it says so; a
        # request sent before that is served by it (Connection: close), not lost.
        wait_for(lambda: handed_over(server.log()) == 4, message="the idle connections handed over")
        later = {_ask(sock, "/pid") for sock in idle}  # never reopened
    finally:
        for sock in idle:
            sock.close()
    assert len(later) == 1 and later != first, (first, later)
    assert handed_over(server.log()) == 4


def test_ttou_loses_no_keepalive_request(server_factory, gthread):
    server = server_factory([*gthread, "-w", "3", "testapp:app"])
    wait_for(lambda: len(server.workers()) == 3, message="3 workers")
    with KeepAliveLoad(server.port) as load:
        load.wait_requests(300)
        for remaining in (2, 1):
            server.signal(signal.SIGTTOU)
            wait_for(lambda n=remaining: len(server.workers()) == n, 20,  # type: ignore[misc]
                     message=f"{remaining} workers")
            load.wait_requests(300)
    print("TTOU x2:", load.summary())
    assert load.failures == [], load.summary()


def test_memory_recycling_loses_no_keepalive_request(server_factory, gthread, stuck_env):
    """A worker over max_worker_memory is replaced after its current request."""
    server = server_factory([*gthread, "-w", "2", "--max-worker-memory", "200",
                             "stuckapp:app"], env=stuck_env)
    wait_for(lambda: len(server.workers()) == 2, message="2 workers")
    with KeepAliveLoad(server.port, path="/ok") as load:
        load.wait_requests(300)
        before = set(server.workers())
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET /grow?mb=300 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            assert sock.recv(12).startswith(b"HTTP/1.1 200")
        wait_for(lambda: "over max_worker_memory" in server.log(), 20,
                 message="the memory limit noticed")
        wait_for(lambda: len(set(server.workers()) - before) >= 1
                 and len(server.workers()) == 2, 20, message="the big worker replaced")
        load.wait_requests(300)
    print("max_worker_memory:", load.summary())
    assert load.failures == [], load.summary()


def test_idle_connections_of_a_killed_worker_go_to_a_sibling(server_factory, stuck_env):
    """The rescue hands a frozen worker's idle keep-alive connections to a sibling,
    whose answer arrives on the same connection (no reconnect)."""
    server = server_factory(["-k", "gthread", "--threads", "2", "-w", "2", "--timeout", "2",
                             "stuckapp:app"], env=stuck_env)
    wait_for(lambda: len(server.workers()) == 2, message="2 workers")
    connections = [socket.create_connection(("127.0.0.1", server.port), timeout=20)
                   for _ in range(12)]
    try:
        owners = [int(_ask(sock, "/pid")) for sock in connections]
        # Two workers, twelve connections: one of them holds at least six.
        victim = max(set(owners), key=owners.count)
        on_victim = [sock for sock, pid in zip(connections, owners, strict=True)
                     if pid == victim]
        stuck, idle = on_victim[0], on_victim[1:]
        # Freeze the victim as a whole (a C loop holding the GIL) through one connection.
        stuck.sendall(b"GET /spin?s=30 HTTP/1.1\r\nHost: t\r\n\r\n")
        answer = _read_all(stuck)
        # 504, or 503 when another thread's request (its response sent, the
        # GIL not yet back) is the one found past its deadline first.
        assert answer.startswith((b"HTTP/1.1 504", b"HTTP/1.1 503")), answer[:80]
        wait_for(lambda: "keep-alive connection(s) handed to another worker" in server.log(),
                 10, message="the hand-over logged")
        # The same connections, never reopened, are now served by the sibling.
        idle_pids = {int(_ask(sock, "/pid")) for sock in idle}
    finally:
        for sock in connections:
            sock.close()
    assert idle_pids and victim not in idle_pids, (victim, idle_pids)


def _ask(sock: socket.socket, path: str) -> str:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head, re.I).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += _recv(sock)
    assert head.startswith(b"HTTP/1.1 200"), head
    return body.decode().strip()


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise EOFError("connection closed")
    return chunk


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return data
        if not chunk:
            return data
        data += chunk
