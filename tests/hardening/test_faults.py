"""Faults: the server degrades, reports, and recovers; it never loses a worker to them.

- EMFILE on accept: the worker's RLIMIT_NOFILE is lowered from outside
  (``prlimit(2)`` on its pid, the soft limit only); it backs off instead of
  spinning (its CPU time over a window stays low) and serves again, the
  connection that queued meanwhile included, once descriptors are free.
- Clients that vanish mid-request (half a body) or mid-response (a large
  body, a file sent with sendfile) cost their own exchange only: same
  worker pids, still serving, no traceback.
- Logs that cannot be written (/dev/full; a log directory removed before a
  USR1 reopen) are reported on stderr and serving goes on.
- Broken apps (bad status, headers, bodies, iterables, ``close()``, writes
  after an error) get a 500 when nothing was sent yet, a cut connection when
  something was, and one clear log line; the worker lives on.
- A worker killed from outside (SIGKILL) is replaced and counted
  (``workhorse status --json``: ``summary.restarts.killed``).
- A gthread keep-alive connection is never dropped between two requests.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hardening_support import (
    KINDS,
    cpu_seconds,
    exchange,
    parse_responses,
    read_until_closed,
    tracebacks,
    worker_pids,
)

from support import wait_for

#: Worker CPU time allowed while every accept() fails, per second of the window.
EMFILE_CPU_PER_SECOND = 0.15
EMFILE_WINDOW = 1.5

SENDFILE_TIMEOUT_BUG = (
    "server bug: send_timeout does not apply to wsgi.file_wrapper responses: after "
    "sendfile() times out (EAGAIN), socket.sendfile() waits in poll() with no timeout, so "
    "a client that stops reading holds the worker until the request timeout kills it "
    "(workers/handler.py RequestHandler._sendfile)"
)
UNDERRUN_LOG_BUG = (
    "server bug: an app body shorter than the Content-Length it set is cut (the connection "
    "is closed, correctly) but nothing is logged, so truncated responses have no explanation "
    "in the error log (workers/handler.py _send_body / wsgi/response.py finish)"
)


def _get(port: int, path: str = "/", timeout: float = 5.0) -> bytes:
    return exchange(port, f"GET {path} HTTP/1.1\r\nHost: f\r\nConnection: close\r\n\r\n"
                    .encode(), half_close=False, timeout=timeout).received


def _serving(port: int) -> bool:
    return _get(port).startswith(b"HTTP/1.1 200")


# --- EMFILE -----------------------------------------------------------------------

def _limit_leaving(pid: int, free: int) -> int:
    """The RLIMIT_NOFILE under which process ``pid`` can open exactly ``free`` more fds."""
    open_fds = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}
    free_numbers = [n for n in range(max(open_fds) + free + 2) if n not in open_fds]
    return free_numbers[free]


@pytest.mark.parametrize("kind", KINDS)
def test_emfile_on_accept_backs_off_and_recovers(app_server, kind):
    server, _ = app_server(kind, "-w", "1", "--keep-alive", "60")
    server.wait_booted(1)
    (worker,) = worker_pids(server)
    # gthread and gevent: idle keep-alive connections fill the five descriptors it
    # has left (and any its last exchange frees meanwhile); sync, which holds one
    # connection at a time: no descriptor above stderr at all.
    keeps_alive = kind != "sync"
    limit = _limit_leaving(worker, 5) if keeps_alive else 3
    soft, hard = resource.prlimit(worker, resource.RLIMIT_NOFILE)
    resource.prlimit(worker, resource.RLIMIT_NOFILE, (limit, hard))
    held = [socket.create_connection(("127.0.0.1", server.port))
            for _ in range(15 if keeps_alive else 1)]
    queued = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        queued.sendall(b"GET /pid HTTP/1.1\r\nHost: q\r\nConnection: close\r\n\r\n")
        wait_for(lambda: server.log().count("Too many open files") >= 2,
                 message="accept() failing with EMFILE")
        before, start = cpu_seconds(worker), time.monotonic()
        wait_for(lambda: time.monotonic() - start >= EMFILE_WINDOW, interval=0.1)
        used = cpu_seconds(worker) - before
        window = time.monotonic() - start
        assert used < EMFILE_CPU_PER_SECOND * window, f"{used:.2f}s of CPU in {window:.1f}s"
        failures = server.log().count("Too many open files")
        assert failures < 15 * window + 5, f"{failures} accept() errors logged: a spin"
        # Descriptors come back: the connection that waited in the backlog is served.
        resource.prlimit(worker, resource.RLIMIT_NOFILE, (soft, hard))
        for sock in held:
            sock.close()
        chunks: list[bytes] = []
        read_until_closed(queued, chunks, deadline=time.monotonic() + 10)
    finally:
        for sock in [*held, queued]:
            sock.close()
    answer = b"".join(chunks)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(str(worker).encode())
    assert _serving(server.port)
    assert worker_pids(server) == [worker]


# --- clients that vanish ------------------------------------------------------------

def _reset_on_close(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", ["fin", "reset"])
@pytest.mark.parametrize("where", ["mid-body", "mid-response", "mid-file"])
def test_a_client_vanishing_mid_exchange_costs_no_worker(app_server, kind, how, where):
    server, records = app_server(kind, "-w", "1")
    server.wait_booted(1)
    workers = worker_pids(server)
    log_before = len(server.log())
    mark = records.mark()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        if where == "mid-body":
            sock.sendall(b"POST /upload HTTP/1.1\r\nHost: v\r\nContent-Length: 100000\r\n\r\n"
                         + b"x" * 50000)
            wait_for(lambda: records.since(mark), message="the request in the app")
        else:
            path = "/big" if where == "mid-response" else "/file"
            sock.sendall(f"GET {path}?size={64 * 1024 * 1024} HTTP/1.1\r\nHost: v\r\n\r\n"
                         .encode())
            assert sock.recv(100).startswith(b"HTTP/1.1 200")
        if how == "reset":
            _reset_on_close(sock)
    finally:
        sock.close()
    assert wait_for(lambda: _serving(server.port), message="serving again")
    assert worker_pids(server) == workers
    log = server.log()[log_before:]
    assert tracebacks(log) == []


# --- unwritable logs -----------------------------------------------------------------

@pytest.mark.parametrize("which", ["--access-logfile", "--error-logfile"])
def test_a_log_on_a_full_device_is_reported_and_serving_goes_on(app_server, which):
    server, _ = app_server("gthread", "-w", "1", which, "/dev/full",
                           *(["--access-logfile", "-"] if which == "--error-logfile" else []))
    for _ in range(20):
        assert _serving(server.port)
    report = "cannot write to the log '/dev/full': [Errno 28] No space left on device"
    wait_for(lambda: report in server.log(), message="the write failure on stderr")
    assert server.log().count(report) <= 2  # once per process (master, worker), not per line
    assert server.proc is not None and server.proc.poll() is None


def test_a_log_directory_removed_before_reopen_is_reported(app_server, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    server, _ = app_server("gthread", "-w", "1", "--error-logfile", str(logs / "error.log"),
                           "--access-logfile", str(logs / "access.log"))
    wait_for(lambda: "Booting worker" in (logs / "error.log").read_text())
    (worker,) = worker_pids(server)
    shutil.rmtree(logs)  # (root ignores a read-only directory: removing it is the test)
    assert _serving(server.port)
    server.signal(signal.SIGUSR1)
    try:
        wait_for(lambda: "cannot reopen" in server.log(), timeout=2,
                 message="the failed reopen reported where someone can read it")
    finally:
        assert _serving(server.port)
        assert worker_pids(server) == [worker]


# --- broken apps -------------------------------------------------------------------

#: path -> (status or None for a cut connection, what the log line says)
BROKEN = {
    "status": (500, "the status must start with a 3-digit code"),
    "header-value": (500, "control character in response header"),
    "header-name": (500, "invalid response header name"),
    "header-type": (500, "must be str"),
    "not-iterable": (500, "Error handling request GET /broken/not-iterable"),
    "str-chunk": (500, "the body must be bytes"),
    "raise-before-body": (500, "the app's iterable failed before its first chunk"),
    "start-response-twice": (500, "start_response() called a second time"),
    "length-overrun": (500, "longer than the Content-Length"),
    "close-raises": (200, "close() of the app's iterable failed"),
    "write-then-raise": (None, "the app failed after write()"),
    "exc-info-after-headers": (None, "late failure"),
    "length-underrun": (None, "Content-Length"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("broken", list(BROKEN))
def test_a_broken_app_gets_a_500_or_a_cut_connection_and_a_log_line(app_server, kind, broken):
    server, _ = app_server(kind, "-w", "1")
    server.wait_booted(1)
    workers = worker_pids(server)
    status, logged = BROKEN[broken]
    log_before = len(server.log())
    result = exchange(server.port, f"GET /broken/{broken} HTTP/1.1\r\nHost: b\r\n"
                      "Connection: close\r\n\r\n".encode(), half_close=False)
    assert result.closed
    responses, rest = parse_responses(result.received, ["GET"])
    if status is None:
        # Part of the response was out: the connection is cut, the response incomplete.
        assert not responses and rest.startswith(b"HTTP/1.1 200"), result
    else:
        assert [r.status for r in responses] == [status] and not rest, result
        assert b"Injected" not in result.received
    wait_for(lambda: logged in server.log()[log_before:], timeout=2, message=repr(logged))
    line = next(x for x in server.log()[log_before:].splitlines() if "[ERROR]" in x)
    assert "[ERROR]" in line
    assert _serving(server.port)
    assert worker_pids(server) == workers


# --- killed workers -------------------------------------------------------------------

def _status(pid: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "workhorse", "status", "--json", "--pid",
                          str(pid)], capture_output=True, text=True, timeout=15, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("kind", KINDS)
def test_a_worker_killed_from_outside_is_replaced_and_counted(app_server, kind):
    control = Path(tempfile.mkdtemp(prefix="wh-ctl-")) / "ctl"  # short: sun_path limit
    try:
        server, _ = app_server(kind, "-w", "2", "--control-socket", str(control))
        server.wait_booted(2)
        first = worker_pids(server)
        assert len(first) == 2
        wait_for(lambda: _status(server.pid)["summary"]["restarts"].get("killed", 0) == 0)
        os.kill(first[0], signal.SIGKILL)
        replaced = wait_for(lambda: (p := worker_pids(server)) and len(p) == 2
                            and first[0] not in p and p, message="a replacement worker")
        assert first[1] in replaced
        snapshot = wait_for(lambda: (s := _status(server.pid))["summary"]["restarts"]
                            .get("killed") == 1 and s, message="the kill counted")
        assert sum(snapshot["summary"]["restarts"].values()) == 1
        assert "SIGKILL" in server.log()
        assert _serving(server.port)
    finally:
        shutil.rmtree(control.parent, ignore_errors=True)


# --- sendfile and send_timeout --------------------------------------------------------

def test_a_client_that_stops_reading_a_file_is_dropped_after_send_timeout(app_server):
    server, _ = app_server("sync", "-w", "1", "--send-timeout", "1", "-t", "60")
    server.wait_booted(1)
    reader = socket.socket()
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        reader.connect(("127.0.0.1", server.port))
        reader.sendall(f"GET /file?size={256 * 1024 * 1024} HTTP/1.1\r\nHost: r\r\n\r\n"
                       .encode())
        # The only worker is stuck in sendfile to a client that reads nothing.
        normal = exchange(server.port, b"GET / HTTP/1.1\r\nHost: n\r\nConnection: close\r\n\r\n",
                          half_close=False, timeout=4)
    finally:
        reader.close()  # (releases the worker either way)
    assert normal.received.startswith(b"HTTP/1.1 200"), normal


# --- keep-alive connections under concurrency ---------------------------------------------

def test_gthread_never_drops_a_keep_alive_connection_between_requests(app_server):
    """Ping-pong on fresh keep-alive connections: the next request follows each response
    at once, while the thread that served the previous one re-arms the connection."""
    server, _ = app_server("gthread", "-w", "1", "--threads", "4", "--keep-alive", "10")
    server.wait_booted(1)
    request = b"GET / HTTP/1.1\r\nHost: k\r\n\r\n"
    dropped = []
    deadline = time.monotonic() + 2.0
    connections = 0
    while time.monotonic() < deadline and not dropped:
        connections += 1
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for number in range(3):
                try:
                    sock.sendall(request)
                    data = b""
                    while not parse_responses(data, ["GET"])[0]:
                        chunk = sock.recv(65536)
                        if not chunk:
                            raise ConnectionError("closed by the server")
                        data += chunk
                except OSError as exc:
                    dropped.append((connections, number, str(exc)))
                    break
    assert not dropped, f"connection dropped before request {dropped[0][1] + 1} " \
                        f"(connection {dropped[0][0]} of {connections})"
