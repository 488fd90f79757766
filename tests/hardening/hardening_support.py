"""Helpers of the hardening tests: servers of the recording app, raw exchanges, /proc readings.

Strategy: every test talks to a real ``workhorse`` (tests/support.py's
:class:`Server`) serving :mod:`hardening_app`, which records each request it
sees in a file (:class:`Records`), so a test can prove which requests reached
the application. Exchanges are raw bytes over real sockets
(:func:`exchange`); what comes back is parsed strictly
(:func:`parse_responses`): a byte that is not part of a well-formed response
is a failure. Process figures (RSS, CPU time, fds, zombies) come from /proc.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from support import APPS, Server, alive, children_of

HERE = Path(__file__).resolve().parent
#: The request corpus loader lives with the unit tests of the HTTP core.
UNIT_HTTP = HERE.parent / "unit" / "http"
APP = "hardening_app:app"
#: The recording app's ASGI twin, for the asgi worker.
ASGI_APP = "hardening_asgi_app:app"

#: The WSGI worker kinds, as the tests start them.
KINDS: dict[str, list[str]] = {
    "sync": ["-k", "sync"],
    "gthread": ["-k", "gthread", "--threads", "4"],
    # One thread: served inline by the worker's epoll loop (workers/inline.py),
    # the keep-alive path without a hand-off, an I/O loop of its own.
    "gthread1": ["-k", "gthread", "--threads", "1"],
    "gevent": ["-k", "gevent"],
}
#: Every kind the request-level tests (corpus, differential, fuzz) run: the WSGI
#: kinds with hardening_app, the asgi worker with hardening_asgi_app.
SERVED_KINDS: dict[str, list[str]] = {**KINDS, "asgi": ["-k", "asgi"]}

#: Every server here runs without a control socket unless a test needs one:
#: the default path is in the working directory, shared by parallel tests.
NO_CONTROL = ["--no-control-socket"]

#: A final-response status line; 1xx interim responses are matched too.
STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9]) ([^\r\n]*)\r\n")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def app_env(record: Path, **extra: str) -> dict[str, str]:
    """Environment of a server of the recording app, writing to ``record``."""
    # The inherited path stays last: it names the checkout under test (a worktree).
    path = os.pathsep.join(p for p in (str(HERE), str(APPS), os.environ.get("PYTHONPATH", ""))
                           if p)
    return {"PYTHONPATH": path, "HARDENING_RECORD": str(record), **extra}


def start_server(directory: Path, kind: str, *extra: str, name: str = "server",
                 env: dict[str, str] | None = None, wait: bool = True) -> tuple[Server, Records]:
    """A server of the recording app (the caller stops it); returns it and its records."""
    record = directory / f"{name}.requests.jsonl"
    control = [] if "--control-socket" in extra else NO_CONTROL
    app = ASGI_APP if kind == "asgi" else APP
    server = Server([*SERVED_KINDS[kind], *control, *extra, app], cwd=directory,
                    env=app_env(record, **(env or {})), log_path=directory / f"{name}.log")
    try:
        server.start(wait=wait)
    except BaseException:
        server.stop()
        raise
    return server, Records(record)


class Records:
    """The requests the app saw, one JSON object per line: pid, method, target."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        """Where the file ends now; :meth:`since` reads what was appended after."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def since(self, mark: int = 0) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(mark)
                text = handle.read().decode()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.split("\n") if line.strip()]

    def wait_since(self, mark: int, count: int, timeout: float = 2.0) -> list[dict[str, Any]]:
        """What :meth:`since` reads once it has ``count`` records, or at ``timeout``.

        The asgi worker may close a connection (a refused body, the client's
        FIN) before the request's task has run the app that records it.
        """
        deadline = time.monotonic() + timeout
        while True:
            seen = self.since(mark)
            if len(seen) >= count or time.monotonic() >= deadline:
                return seen
            time.sleep(0.01)

    def all(self) -> list[dict[str, Any]]:
        return self.since(0)

    def smuggled(self) -> list[dict[str, Any]]:
        """Every recorded request whose target names the /smuggled marker."""
        return [r for r in self.all() if "smuggled" in r["target"].lower()]


class ServerPool:
    """Servers shared by the tests of one module: one per (kind, flags), started on demand."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._servers: dict[tuple[str, tuple[str, ...]], tuple[Server, Records]] = {}

    def get(self, kind: str, flags: Iterable[str] = ()) -> tuple[Server, Records]:
        key = (kind, tuple(flags))
        if key not in self._servers:
            name = f"{kind}-{len(self._servers)}"
            self._servers[key] = start_server(self.directory, kind, *key[1], name=name)
        server, records = self._servers[key]
        if server.proc is not None and server.proc.poll() is not None:
            raise AssertionError(f"the {kind} server {key[1]} exited:\n{server.log()}")
        return server, records

    def stop_all(self) -> None:
        for server, _ in self._servers.values():
            server.stop()
        self._servers.clear()


# --- exchanges --------------------------------------------------------------------------

@dataclasses.dataclass
class Exchange:
    """What came back on one connection, and how it ended."""

    received: bytes
    #: "eof" (the server closed: FIN), "reset" (RST), "timeout" (still open).
    ending: str
    elapsed: float

    @property
    def closed(self) -> bool:
        return self.ending in ("eof", "reset")


def exchange(port: int, data: bytes, *, half_close: bool, timeout: float = 5.0,
             host: str = "127.0.0.1", half_close_after: int = 0,
             methods: Iterable[str] = ()) -> Exchange:
    """Send ``data`` (then FIN if ``half_close``), read until the server closes or ``timeout``.

    With ``half_close_after`` N, the FIN waits until N final responses came
    back (``methods``: the request methods, for parsing them): a client that
    stops sending only once it has its answers.
    """
    start = time.monotonic()
    chunks: list[bytes] = []
    with socket.create_connection((host, port), timeout=timeout) as sock:
        ending = ""
        with contextlib.suppress(OSError):  # the server may refuse and close mid-send
            sock.sendall(data)
            if half_close and half_close_after:
                ending = _read_responses(sock, chunks, half_close_after, list(methods),
                                         deadline=start + timeout)
            if half_close and not ending:
                sock.shutdown(socket.SHUT_WR)
        if not ending:
            ending = read_until_closed(sock, chunks, deadline=start + timeout)
    return Exchange(b"".join(chunks), ending, time.monotonic() - start)


def _read_responses(sock: socket.socket, chunks: list[bytes], count: int, methods: list[str],
                    deadline: float) -> str:
    """Read until ``count`` final responses arrived: "" then, else how the read ended."""
    while len(parse_responses(b"".join(chunks), methods)[0]) < count:
        ending = _read_some(sock, chunks, deadline)
        if ending:
            return ending
    return ""


def _read_some(sock: socket.socket, chunks: list[bytes], deadline: float) -> str:
    """One read into ``chunks``: "" if bytes came, else "eof", "reset" or "timeout"."""
    left = deadline - time.monotonic()
    if left <= 0:
        return "timeout"
    sock.settimeout(left)
    try:
        chunk = sock.recv(65536)
    except TimeoutError:
        return "timeout"
    except (ConnectionResetError, BrokenPipeError):
        return "reset"
    if not chunk:
        return "eof"
    chunks.append(chunk)
    return ""


def read_until_closed(sock: socket.socket, chunks: list[bytes], deadline: float) -> str:
    """Append what arrives to ``chunks`` until EOF, a reset, or ``deadline``."""
    while True:
        ending = _read_some(sock, chunks, deadline)
        if ending:
            return ending


# --- responses ------------------------------------------------------------------------

@dataclasses.dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        lower = name.lower()
        return next((v for n, v in self.headers if n.lower() == lower), None)


class Malformed(AssertionError):
    """Bytes from the server that are not a well-formed HTTP/1.x response stream."""


def parse_responses(data: bytes, methods: Iterable[str] | None = None
                    ) -> tuple[list[Response], bytes]:
    """Split a response stream into final responses (1xx skipped) and an incomplete rest.

    ``methods`` are the request methods in order (a response to HEAD has no
    body); without them a response whose Content-Length bytes are missing
    but which is followed by another status line is taken as one to HEAD.
    Raises :class:`Malformed` for bytes that cannot start a response.
    """
    method_iter: Iterator[str] | None = iter(methods) if methods is not None else None
    responses: list[Response] = []
    pos = 0
    while pos < len(data):
        match = STATUS_LINE.match(data, pos)
        if match is None:
            rest = data[pos:]
            if b"\r\n" not in rest and (rest.startswith(b"HTTP/1.") or b"HTTP/1.".startswith(rest)):
                return responses, rest  # a status line cut short
            raise Malformed(f"not a status line at byte {pos}: {rest[:80]!r}")
        end = data.find(b"\r\n\r\n", match.start())
        if end < 0:
            return responses, data[pos:]
        status = int(match.group(1))
        headers = _headers(data[match.end():end + 2])
        body_start = end + 4
        if 100 <= status < 200:
            pos = body_start
            continue
        method = next(method_iter, "GET") if method_iter is not None else None
        lengths = [v for n, v in headers if n.lower() == "content-length"]
        chunked = any(n.lower() == "transfer-encoding" and "chunked" in v.lower()
                      for n, v in headers)
        if method == "HEAD" or status in (204, 304):
            body, pos = b"", body_start
        elif chunked:
            decoded = _dechunk(data, body_start)
            if decoded is None:
                return responses, data[pos:]
            body, pos = decoded
        elif lengths:
            if len(lengths) != 1 or not lengths[0].isdigit():
                raise Malformed(f"bad Content-Length in {data[pos:end]!r}")
            length = int(lengths[0])
            tail = data[body_start:]
            if method is None and length and _looks_like_head_response(tail, length):
                body, pos = b"", body_start
            elif len(tail) < length:
                return responses, data[pos:]
            else:
                body, pos = tail[:length], body_start + length
        else:
            body, pos = data[body_start:], len(data)  # delimited by the close
        responses.append(Response(status, match.group(2).decode("latin-1"), headers, body))
    return responses, b""


def _looks_like_head_response(tail: bytes, length: int) -> bool:
    """Without the request methods: the stream ends or another response follows at
    once, and the body the Content-Length announces would not end on a boundary."""
    if not tail:
        return True
    if not STATUS_LINE.match(tail):
        return False
    return len(tail) < length or (len(tail) > length and not STATUS_LINE.match(tail, length))


def _headers(block: bytes) -> list[tuple[str, str]]:
    headers = []
    for line in block.split(b"\r\n"):
        if not line:
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip() or b" " in name:
            raise Malformed(f"bad response header line {line!r}")
        headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
    return headers


def _dechunk(data: bytes, pos: int) -> tuple[bytes, int] | None:
    body = bytearray()
    while True:
        line_end = data.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size_text = data[pos:line_end].split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise Malformed(f"bad chunk size {size_text!r}") from None
        pos = line_end + 2
        if size == 0:
            trailer_end = data.find(b"\r\n", pos)
            while trailer_end > pos:  # skip trailer fields
                pos = trailer_end + 2
                trailer_end = data.find(b"\r\n", pos)
            if trailer_end < 0:
                return None
            return bytes(body), trailer_end + 2
        if len(data) < pos + size + 2:
            return None
        body += data[pos:pos + size]
        pos += size + 2


# --- processes ------------------------------------------------------------------------

def worker_pids(server: Server) -> list[int]:
    return sorted(server.workers())


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def zombie_children(pid: int) -> list[int]:
    return [child for child in children_of(pid) if not alive(child) and _exists(child)]


def _exists(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


#: The start of a Python traceback in a log.
TRACEBACK = "Traceback (most recent call last):"


def tracebacks(log: str) -> list[str]:
    """Every traceback in ``log`` with the log line that introduced it."""
    blocks = []
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(TRACEBACK):
            end = i + 1
            while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end]
                                        or lines[end].startswith("^")):
                end += 1
            last = lines[end] if end < len(lines) else ""
            intro = lines[i - 1] if i else ""
            blocks.append("\n".join([intro, *lines[i:end], last]))
    return blocks
