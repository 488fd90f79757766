"""Small HTTP clients of our own: readiness, the app check, and the new-client probe.

They speak HTTP/1.1 over a raw socket to 127.0.0.1 with one deadline for the
whole exchange (connect, send, read), so a server that accepts and then stalls
counts against the same clock as one that never accepts.
"""

from __future__ import annotations

import os
import socket
import statistics
import threading
import time
from dataclasses import dataclass

import apps

from .procs import Started

HOST = "127.0.0.1"
READY_POLL_S = 0.01  # the start-to-first-response clock ticks this finely
READY_TIMEOUT_S = 30.0
SETTLE_S = 1.0  # a worker count stable this long: all workers are up
SETTLE_MAX_S = 15.0
PROBE_INTERVAL_S = 0.5
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    closed: bool  # the server closed the connection after this response


class Exchange:
    """One connection; requests on it until the server closes or the deadline passes."""

    def __init__(self, port: int, timeout: float):
        self.deadline = time.monotonic() + timeout
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def _recv(self) -> bytes:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        self.sock.settimeout(left)
        return self.sock.recv(65536)

    def request(self, method: str = "GET", body: bytes = b"", close: bool = False,
                path: str = "/") -> Reply:
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
        if body:
            head += f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n"
        if close:
            head += "Connection: close\r\n"
        self.sock.settimeout(max(self.deadline - time.monotonic(), 0.001))
        self.sock.sendall(head.encode("ascii") + b"\r\n" + body)
        while b"\r\n\r\n" not in self.buf:
            chunk = self._recv()
            if not chunk:
                raise ConnectionError("closed before a response head")
            self.buf += chunk
        raw_head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = headers.get("content-length")
        closed = False
        if length is not None:
            while len(self.buf) < int(length):
                chunk = self._recv()
                if not chunk:
                    raise ConnectionError("closed inside the body")
                self.buf += chunk
            payload, self.buf = self.buf[: int(length)], self.buf[int(length):]
        else:  # delimited by the close (no app here answers so, but a server might)
            while chunk := self._recv():
                self.buf += chunk
            payload, self.buf, closed = self.buf, b"", True
        return Reply(status, headers, payload, closed)


def get_status(port: int, timeout: float = 1.0) -> int | None:
    try:
        ex = Exchange(port, timeout)
    except OSError:
        return None
    try:
        return ex.request(close=True).status
    except (OSError, ValueError, IndexError):
        return None
    finally:
        ex.close()


def wait_ready(proc: Started, port: int) -> float:
    """Poll every 10 ms until the first 200; return milliseconds since the spawn."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"exited ({proc.popen.returncode}) before answering:\n{proc.tail()}")
        if get_status(port) == 200:
            return (time.monotonic() - proc.started_at) * 1000
        time.sleep(READY_POLL_S)
    raise RuntimeError(f"no 200 on port {port} within {READY_TIMEOUT_S:.0f} s:\n{proc.tail()}")


def wait_settled(proc: Started) -> int:
    """Wait until the number of processes has not changed for SETTLE_S; return it."""
    deadline = time.monotonic() + SETTLE_MAX_S
    count, since = len(proc.pids()), time.monotonic()
    while time.monotonic() - since < SETTLE_S and time.monotonic() < deadline:
        time.sleep(0.1)
        now = len(proc.pids())
        if now != count:
            count, since = now, time.monotonic()
    return count


def check_app(port: int, app: str, kind: str) -> None:
    """One request of the scenario's kind must return the app's exact body (an ASGI
    row runs the app's ASGI twin, which answers the same bytes)."""
    expected = apps.EXPECTED[app]
    ex = Exchange(port, 10.0)
    try:
        reply = ex.request("POST" if app == "echo" else "GET",
                           body=expected if app == "echo" else b"", close=True)
    finally:
        ex.close()
    if reply.status != 200 or reply.body != expected:
        raise RuntimeError(f"{app}: got {reply.status} with {len(reply.body)} bytes "
                           f"{reply.body[:30]!r}, not the app's {len(expected)} bytes")


KEEPS_ALIVE = "keep-alive"
CLOSES = "closes"  # closes after the response and says so (Connection: close)
CLOSES_SILENTLY = "closes silently"  # closes without saying so: a client reusing it fails


def connection_behaviour(port: int) -> str:
    """Two HTTP/1.1 requests on one connection, the client asking for nothing special."""
    ex = Exchange(port, 5.0)
    try:
        first = ex.request()
        said_close = first.headers.get("connection", "").lower() == "close"
        try:
            ex.request()
        except (OSError, ValueError, IndexError):
            return CLOSES if said_close or first.closed else CLOSES_SILENTLY
        return KEEPS_ALIVE
    finally:
        ex.close()


class NewClientProbe(threading.Thread):
    """During the load, a new client every 0.5 s: connect, one request, time it (3 s limit).

    wrk reports only the requests that got answers; a server that serves its
    50 connections and never accepts a 51st looks fine to it. This probe is
    the 51st client, and its wait includes the listen backlog.
    """

    def __init__(self, port: int, cpu: int | None):
        super().__init__(daemon=True)
        self.port, self.cpu = port, cpu
        self.waits_ms: list[float] = []
        self.failed = 0
        self._halt = threading.Event()

    def run(self) -> None:
        if self.cpu is not None:
            os.sched_setaffinity(0, {self.cpu})  # this thread only: off the server's core
        self._halt.wait(PROBE_INTERVAL_S)  # wrk connects first
        while not self._halt.is_set():
            t0 = time.monotonic()
            if self._one():
                self.waits_ms.append((time.monotonic() - t0) * 1000)
            else:
                self.failed += 1
            self._halt.wait(max(0.0, PROBE_INTERVAL_S - (time.monotonic() - t0)))

    def _one(self) -> bool:
        try:
            ex = Exchange(self.port, PROBE_TIMEOUT_S)
        except OSError:
            return False
        try:
            return ex.request(close=True).status == 200
        except (OSError, ValueError, IndexError):
            return False
        finally:
            ex.close()

    def finish(self) -> dict[str, object]:
        self._halt.set()
        self.join(PROBE_TIMEOUT_S + 2)
        waits = self.waits_ms
        return {
            "probes": len(waits) + self.failed,
            "probe_p50_ms": round(statistics.median(waits), 2) if waits else "",
            "probe_max_ms": round(max(waits), 2) if waits else "",
            "probe_fail": self.failed,
        }
