"""A keep-alive HTTP/1.1 load for tests: the kind of client that loses requests
when a server closes a connection it had promised to keep.

Each of ``connections`` threads keeps one connection open and sends its next
request as soon as the previous answer is complete (as wrk, a load balancer
or nginx with upstream keep-alive do). It opens a new connection only when a
response said ``Connection: close``, or after a failure. A failure is any
request that did not get a complete ``200``: the connection closed or reset
with the request outstanding, a timeout, another status. Nothing is retried,
so every failure is counted.

Use it as a context manager; it stops (bounded: every socket operation has a
timeout) when the block ends::

    with KeepAliveLoad(port, connections=16) as load:
        load.wait_requests(200)
        ... signal the server ...
    assert load.failures == [], load.summary()
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from support import wait_for

#: Longest a request may wait for its answer before it counts as failed.
REQUEST_TIMEOUT = 10.0


class KeepAliveLoad:
    def __init__(self, port: int, *, connections: int = 16, path: str = "/",
                 body: bytes | None = None, host: str = "127.0.0.1") -> None:
        self.address = (host, port)
        self.connections = connections
        method = "POST" if body is not None else "GET"
        head = f"{method} {path} HTTP/1.1\r\nHost: test\r\n"
        if body is not None:
            head += f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n"
        self.request = head.encode() + b"\r\n" + (body or b"")
        self.ok = 0
        self.reconnects = 0
        self.failures: list[str] = []
        self.latencies: list[float] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- control ---------------------------------------------------------------
    def __enter__(self) -> KeepAliveLoad:
        self._threads = [threading.Thread(target=self._run, daemon=True)
                         for _ in range(self.connections)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(REQUEST_TIMEOUT + 5)

    @property
    def sent(self) -> int:
        return self.ok + len(self.failures)

    def wait_requests(self, more: int, timeout: float = 30.0) -> None:
        """Wait until ``more`` further requests were answered (or failed)."""
        target = self.sent + more
        wait_for(lambda: self.sent >= target, timeout,
                 message=f"{more} more requests of the keep-alive load")

    def p99(self) -> float:
        with self._lock:
            ordered = sorted(self.latencies)
        return ordered[int(len(ordered) * 0.99)] if ordered else 0.0

    def summary(self) -> str:
        return (f"{self.sent} requests, {len(self.failures)} failed, {self.reconnects} "
                f"reconnects (Connection: close), p99 {self.p99() * 1000:.1f} ms; "
                f"first failures: {self.failures[:5]}")

    # --- one connection ------------------------------------------------------------
    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=REQUEST_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _run(self) -> None:
        sock: socket.socket | None = None
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                if sock is None:
                    sock = self._connect()
                sock.sendall(self.request)
                status, close = _read_response(sock)
            except (OSError, EOFError, ValueError) as exc:
                self._record_failure(f"{type(exc).__name__}: {exc} at {time.time():.3f}")
                sock = _close(sock)
                continue
            elapsed = time.monotonic() - started
            with self._lock:
                if status == 200:
                    self.ok += 1
                    self.latencies.append(elapsed)
                else:
                    self.failures.append(f"status {status}")
                if close:
                    self.reconnects += 1
            if close:
                sock = _close(sock)
        _close(sock)

    def _record_failure(self, what: str) -> None:
        with self._lock:
            self.failures.append(what)


def _close(sock: socket.socket | None) -> None:
    if sock is not None:
        sock.close()
    return None


def _read_response(sock: socket.socket) -> tuple[int, bool]:
    """Read one response (Content-Length or chunked); (status, connection closes)."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        buffer = _more(sock, buffer, "in the response head")
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, Any] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    close = "close" in headers.get("connection", "").lower()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while not rest.endswith(b"0\r\n\r\n"):
            rest = _more(sock, rest, "in a chunked body")
    else:
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            rest = _more(sock, rest, "in the body")
    return status, close


def _more(sock: socket.socket, buffer: bytes, where: str) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise EOFError(f"connection closed {where}")
    return buffer + chunk


#: The server arguments of each way of replacing workers :func:`recycle_under_load` knows.
RECYCLE_ARGS = {"hup": [], "max_requests": ["--max-requests", "150",
                                            "--max-requests-jitter", "30"]}


def recycle_under_load(server: Any, how: str, connections: int = 12) -> KeepAliveLoad:
    """Replace the workers of a two-worker ``server`` (started with ``RECYCLE_ARGS[how]``)
    under a keep-alive load: two HUPs, or six max_requests recycles. Returns the load,
    stopped, whose failures the caller checks."""
    import signal

    wait_for(lambda: len(server.workers()) == 2, message="2 workers")
    with KeepAliveLoad(server.port, connections=connections) as load:
        load.wait_requests(200)
        if how == "hup":
            for _ in range(2):
                before = set(server.workers())
                server.signal(signal.SIGHUP)
                wait_for(lambda b=before: len(w := set(server.workers())) == 2  # type: ignore[misc]
                         and not w & b, 30, message="a new generation")
                load.wait_requests(200)
        else:
            wait_for(lambda: server.log().count("Autorestarting worker") >= 6, 60,
                     message="6 recycled workers")
    return load

