"""Slow and idle clients: they hold nothing for longer than the settings allow.

- A slowloris of hundreds of connections dripping partial heads neither
  slows a gthread or gevent worker's other clients nor grows its memory
  without bound (RSS from /proc before, during and after).
- A sync worker serves one connection at a time: a slowloris holds it until
  ``header_timeout`` cuts the head off. That is by design (as Gunicorn's
  sync worker) and why it belongs behind a buffering proxy such as nginx.
- Heads that never complete are closed after ``--header-timeout``, an idle
  keep-alive connection after ``--keep-alive``, a body that stops after
  ``--body-timeout``, a client that stops reading after ``--send-timeout``,
  and the worker is free again afterwards.

The asgi worker is held to the same bounds: the head's, ``body_timeout``
while the app waits for body bytes, and ``send_timeout`` while a response
waits for a client that reads nothing (it serves others meanwhile).

Every bound is a small setting (1 s) and every wait polls with a deadline.
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import threading
import time

import pytest
from hardening_support import (
    Exchange,
    exchange,
    parse_responses,
    read_until_closed,
    rss_kib,
    worker_pids,
)

from support import requests_in_flight, wait_for

#: Slack on top of a timeout before its connection must be gone: the
#: gthread reaper runs every 0.25 s; a loaded CI machine adds its own delay.
SLACK = 1.5
SLOWLORIS_CONNECTIONS = 300
#: A normal request while the slowloris runs must be answered within this.
NORMAL_LATENCY_MAX = 1.0
#: Growth of the worker's RSS the slowloris may cause (each connection holds a
#: socket, a few small objects and a partial head of at most a few hundred bytes).
RSS_GROWTH_MAX_KIB = 16 * 1024

SYNC_SILENT_HEAD_BUG = (
    "server bug: the sync worker waits for a head in a recv() bounded by SO_RCVTIMEO = "
    "body_timeout and checks header_timeout only after a recv returns, so a client that "
    "sends a partial head (or nothing) and goes silent holds the worker for body_timeout, "
    "not header_timeout (workers/handler.py RequestHandler.serve, may_wait_for_head path)"
)


def _time_until_closed(sock: socket.socket, limit: float) -> tuple[float | None, bytes]:
    """Seconds until the server closes ``sock`` (None if it is still open after ``limit``)."""
    start = time.monotonic()
    chunks: list[bytes] = []
    ending = read_until_closed(sock, chunks, deadline=start + limit)
    return (None if ending == "timeout" else time.monotonic() - start), b"".join(chunks)


def _get(port: int, path: str = "/", timeout: float = 10.0) -> Exchange:
    return exchange(port, f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                    .encode(), half_close=False, timeout=timeout)


# --- slowloris ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["gthread", "gevent"])
def test_slowloris_neither_blocks_other_clients_nor_grows_the_workers_memory(app_server, kind):
    server, _ = app_server(kind, "-w", "1", "--header-timeout", "60", "--keep-alive", "60")
    server.wait_booted(1)
    (worker,) = worker_pids(server)
    for _ in range(50):  # warm up: the worker's steady-state memory
        assert _get(server.port).received.startswith(b"HTTP/1.1 200")
    rss_before = rss_kib(worker)

    head = b"GET / HTTP/1.1\r\nHost: slow\r\n" + b"X-Slow: loris\r\n" * 40
    conns = [socket.create_connection(("127.0.0.1", server.port), timeout=5)
             for _ in range(SLOWLORIS_CONNECTIONS)]
    for sock in conns:
        sock.setblocking(False)
    stop = threading.Event()
    sent = [0]

    def drip() -> None:
        # One byte on every connection per round, a round every 0.1 s: the heads
        # grow for the whole test and never complete.
        while not stop.is_set() and sent[0] < len(head):
            for sock in conns:
                with contextlib.suppress(OSError):
                    sock.send(head[sent[0]:sent[0] + 1])
            sent[0] += 1
            stop.wait(0.1)

    dripper = threading.Thread(target=drip, daemon=True)
    latencies: list[float] = []
    rss_peak = rss_before
    try:
        dripper.start()
        wait_for(lambda: sent[0] >= 5, message="the slowloris under way")
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            result = _get(server.port)
            assert result.received.startswith(b"HTTP/1.1 200"), result
            latencies.append(result.elapsed)
            rss_peak = max(rss_peak, rss_kib(worker))
        # They are held, so the figures below measure what holding them costs.
        held = sum(_still_open(sock) for sock in conns)
        assert held == SLOWLORIS_CONNECTIONS, f"only {held} slowloris connections held"
    finally:
        stop.set()
        dripper.join(5)
        for sock in conns:
            sock.close()
    assert worker_pids(server) == [worker]
    assert max(latencies) < NORMAL_LATENCY_MAX, latencies
    assert statistics.median(latencies) < NORMAL_LATENCY_MAX / 4, latencies
    assert rss_peak - rss_before < RSS_GROWTH_MAX_KIB, (rss_before, rss_peak)
    # Once the connections are gone the worker gives back what they held (or at
    # least holds no more), and serves as before.
    for _ in range(20):
        assert _get(server.port).received.startswith(b"HTTP/1.1 200")
    assert rss_kib(worker) - rss_before < RSS_GROWTH_MAX_KIB


def _still_open(sock: socket.socket) -> bool:
    """Neither closed nor answered by the server (a non-blocking peek)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)  # a socket in timeout mode would wait before the peek
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.settimeout(timeout)
    return False  # an answer (a 408) or EOF


def test_sync_worker_is_held_by_one_slowloris_until_header_timeout(app_server):
    """Documented behaviour: one connection at a time; header_timeout bounds the hold."""
    server, _ = app_server("sync", "-w", "1", "--header-timeout", "1")
    server.wait_booted(1)
    # Connected first, the slow client is first in the kernel's (FIFO) accept queue:
    # the worker takes it before the normal client that connects after it.
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    stop = threading.Event()

    def drip() -> None:
        for byte in b"GET / HTTP/1.1\r\nHost: slow\r\n" * 10:
            if stop.is_set():
                return
            try:
                slow.send(bytes([byte]))
            except OSError:
                return
            stop.wait(0.1)

    dripper = threading.Thread(target=drip, daemon=True)
    try:
        dripper.start()
        normal = _get(server.port)
        closed_after, answer = _time_until_closed(slow, 5)
    finally:
        stop.set()
        dripper.join(5)
        slow.close()
    assert normal.received.startswith(b"HTTP/1.1 200"), normal
    # Held behind the slow client until its head timed out (1 s after it was accepted).
    assert 0.5 < normal.elapsed < 1 + SLACK, normal.elapsed
    assert closed_after is not None
    assert answer.startswith(b"HTTP/1.1 408"), answer


# --- header_timeout -------------------------------------------------------------------------

@pytest.mark.parametrize("sent", [b"", b"GET / HTTP/1.1\r\nHo"], ids=["nothing", "partial-head"])
@pytest.mark.parametrize("kind", [
    "sync",
    "gthread",
    "asgi",
    "gevent",
])
def test_a_head_that_stops_is_closed_after_header_timeout(app_server, kind, sent):
    # keep-alive 1 too: the gthread worker expires a connection that never sent a
    # byte as an idle keep-alive one; body_timeout is long to tell the bounds apart.
    server, records = app_server(kind, "-w", "1", "--header-timeout", "1", "--keep-alive", "1",
                                 "--body-timeout", "10")
    server.wait_booted(1)
    mark = records.mark()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(sent)
        closed_after, _ = _time_until_closed(sock, 1 + SLACK)
    assert closed_after is not None, "still open past header_timeout"
    assert not records.since(mark)
    assert _get(server.port).received.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("kind", [
    "sync",
    "gthread",
    "asgi",
    "gevent",
])
def test_a_head_dripped_byte_by_byte_is_closed_after_header_timeout(app_server, kind):
    server, records = app_server(kind, "-w", "1", "--header-timeout", "1", "--body-timeout",
                                 "10", "--keep-alive", "10")
    server.wait_booted(1)
    mark = records.mark()
    head = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-Drip: 1\r\n" * 20
    start = time.monotonic()
    closed_after = None
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        for byte in head:
            try:
                sock.send(bytes([byte]))
            except OSError:
                break
            if not _still_open(sock):
                break
            if time.monotonic() - start > 1 + SLACK:
                break
            time.sleep(0.25)  # the client's pace, under header_timeout between bytes
        if not _still_open(sock):
            closed_after = time.monotonic() - start
    assert closed_after is not None and closed_after < 1 + SLACK, closed_after
    assert not records.since(mark)


# --- keep-alive -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["gthread", "gevent"])
def test_idle_keep_alive_connection_is_closed_after_keepalive(app_server, kind):
    server, _ = app_server(kind, "-w", "1", "--keep-alive", "1")
    server.wait_booted(1)
    request = b"GET / HTTP/1.1\r\nHost: k\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        # Reused within the keep-alive time: served again on the same connection.
        for _ in range(3):
            sock.sendall(request)
            response = _read_one_response(sock)
            assert response.status == 200 and response.header("Connection") is None
            time.sleep(0.5)  # idle, but less than keep-alive
        closed_after, extra = _time_until_closed(sock, 1 + SLACK)
    assert extra == b""
    assert closed_after is not None, "idle keep-alive connection still open"
    assert closed_after > 0.2  # (0.5 s of idle time already passed)


def test_sync_worker_closes_after_each_response(app_server):
    server, _ = app_server("sync", "-w", "1", "--keep-alive", "30")
    server.wait_booted(1)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: k\r\n\r\n")
        response = _read_one_response(sock)
        closed_after, _ = _time_until_closed(sock, 1)
    assert response.header("Connection") == "close"
    assert closed_after is not None and closed_after < 0.5


def _read_one_response(sock: socket.socket):
    data = b""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        responses, _ = parse_responses(data, ["GET"])
        if responses:
            return responses[0]
        chunk = sock.recv(65536)
        assert chunk, f"closed before a response: {data!r}"
        data += chunk
    raise AssertionError(f"no response in 5 s: {data!r}")


# --- body_timeout -----------------------------------------------------------------------

@pytest.mark.parametrize("kind", [
    "sync",
    "gthread",
    "asgi",
    "gevent",
])
def test_a_body_that_stops_is_dropped_after_body_timeout(app_server, kind):
    flags = ["--threads", "1"] if kind == "gthread" else []
    server, records = app_server(kind, "-w", "1", *flags, "--body-timeout", "1",
                                 "--header-timeout", "10")
    server.wait_booted(1)
    (worker,) = worker_pids(server)
    mark = records.mark()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: b\r\nContent-Length: 100\r\n\r\n"
                     + b"x" * 10)
        closed_after, _ = _time_until_closed(sock, 1 + SLACK)
    assert closed_after is not None, "a stalled body still holds the connection"
    assert closed_after > 0.8
    assert [r["target"] for r in records.since(mark)] == ["/upload"]
    # The worker (one thread) is free again, and it is the same worker.
    assert _get(server.port).received.startswith(b"HTTP/1.1 200")
    assert worker_pids(server) == [worker]


# --- send_timeout -------------------------------------------------------------------------

#: What the drop takes today (each partial send restarts SO_SNDTIMEO; see above).
SEND_TIMEOUT_ROUNDS = 4


def _stalled_reader_frees_worker_after(port: int, size: int) -> tuple[float, int, str, Exchange]:
    """A client asks for ``size`` bytes and reads none; when is the next client served?"""
    reader = socket.socket()
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        reader.settimeout(5)
        reader.connect(("127.0.0.1", port))
        reader.sendall(f"GET /big?size={size} HTTP/1.1\r\nHost: r\r\n\r\n".encode())
        start = time.monotonic()
        # The only worker (thread) is stuck sending to a client that reads nothing,
        # until send_timeout drops it; then it serves the next client.
        normal = _get(port, timeout=15)
        freed_after = time.monotonic() - start
        chunks: list[bytes] = []
        ending = read_until_closed(reader, chunks, deadline=time.monotonic() + 10)
    finally:
        reader.close()
    return freed_after, sum(len(c) for c in chunks), ending, normal


@pytest.mark.parametrize("kind", ["sync", "gthread"])
def test_a_client_that_stops_reading_is_dropped_and_the_worker_freed(app_server, kind):
    size = 64 * 1024 * 1024
    flags = ["--threads", "1"] if kind == "gthread" else []
    server, _ = app_server(kind, "-w", "1", *flags, "--send-timeout", "1")
    server.wait_booted(1)
    (worker,) = worker_pids(server)
    freed_after, received, ending, normal = _stalled_reader_frees_worker_after(server.port, size)
    assert normal.received.startswith(b"HTTP/1.1 200"), normal
    assert freed_after < SEND_TIMEOUT_ROUNDS * 1 + SLACK, freed_after
    assert ending in ("eof", "reset")
    assert received < size / 2, "the response was not cut short"
    assert worker_pids(server) == [worker]


def test_send_timeout_counts_from_when_the_client_stopped_reading(app_server):
    server, _ = app_server("sync", "-w", "1", "--send-timeout", "1")
    server.wait_booted(1)
    freed_after, _, _, normal = _stalled_reader_frees_worker_after(server.port, 64 * 1024 * 1024)
    assert normal.received.startswith(b"HTTP/1.1 200"), normal
    assert freed_after < 1 + 1.0, f"dropped {freed_after:.2f}s after it stopped reading"


@pytest.mark.parametrize("kind", ["asgi", "gevent"])
def test_a_loop_worker_drops_a_client_that_stops_reading_after_send_timeout(app_server,
                                                                            tmp_path, kind):
    """The asgi and gevent workers serve others meanwhile (their loop is not held); the
    request of the client that reads nothing must end within send_timeout, its
    connection cut."""
    size = 64 * 1024 * 1024
    server, _ = app_server(kind, "-w", "1", "--send-timeout", "1",
                           "--control-socket", str(tmp_path / "ctl"))
    server.wait_booted(1)
    reader = socket.socket()
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        reader.settimeout(5)
        reader.connect(("127.0.0.1", server.port))
        reader.sendall(f"GET /big?size={size} HTTP/1.1\r\nHost: r\r\n\r\n".encode())
        wait_for(lambda: [r for r in requests_in_flight(server) if "/big" in r],
                 message="the stalled reader's request in flight")
        assert _get(server.port).received.startswith(b"HTTP/1.1 200")
        wait_for(lambda: not [r for r in requests_in_flight(server) if "/big" in r],
                 1 + SLACK, message="the stalled reader's request ended")
        chunks: list[bytes] = []
        ending = read_until_closed(reader, chunks, deadline=time.monotonic() + 10)
    finally:
        reader.close()
    assert ending in ("eof", "reset")
    assert sum(len(c) for c in chunks) < size / 2, "the response was not cut short"
