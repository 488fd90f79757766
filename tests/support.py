"""Helpers shared by the integration tests: real server processes, polling waits.

Every wait polls with a deadline (:func:`wait_for`); every process a test
starts is stopped by pid, with its children, at teardown (:class:`Server`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / "apps"


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02,
             message: str = "condition") -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children_of(pid: int) -> list[int]:
    """Direct children of a process, from /proc."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(p) for p in handle.read().split()]
        except OSError:
            pass
    return found


def alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class Server:
    """A real ``workhorse`` master process started for one test."""

    def __init__(self, args: Sequence[str], *, cwd: Path | str | None = None,
                 env: dict[str, str] | None = None, port: int | None = None,
                 log_path: Path | None = None, command: Sequence[str] | None = None,
                 pass_fds: Sequence[int] = ()) -> None:
        self.port = port if port is not None else free_port()
        self.args = list(args)
        self.cwd = str(cwd or REPO)
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(APPS), self.env.get("PYTHONPATH", "")) if p)
        self.env.pop("WEB_CONCURRENCY", None)
        self.env.pop("PORT", None)
        self.env.pop("GUNICORN_CMD_ARGS", None)
        self.env.pop("WORKHORSE_CMD_ARGS", None)
        if env:
            self.env.update(env)
        self.log_path = log_path
        self.command = list(command) if command else None
        self.pass_fds = tuple(pass_fds)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self._private_dir: str | None = None
        self.seen_pids: set[int] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True, bind: bool = True) -> Server:
        cmd = self.command or [sys.executable, "-m", "workhorse", *self.args]
        explicit = any(a in ("-b", "--bind") or a.startswith("--bind=") for a in self.args)
        if bind and self.command is None and not explicit:
            cmd[3:3] = ["-b", f"127.0.0.1:{self.port}"]
        if self.command is None and not any("control-socket" in a for a in self.args):
            # Servers share the repository as working directory, where the
            # default control socket would be: a second server finds it in
            # use and runs without one. Each gets its own (a short path).
            self._private_dir = tempfile.mkdtemp(prefix="wh-test-")
            cmd[3:3] = ["--control-socket", os.path.join(self._private_dir, "workhorse.ctl")]
        out: Any = subprocess.DEVNULL
        if self.log_path is not None:
            self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
            out = self._log_file
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     pass_fds=self.pass_fds)
        if wait:
            self.wait_ready()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def wait_ready(self, timeout: float = 15.0) -> None:
        def answering() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            return self.request_ok("/")

        wait_for(answering, timeout, message=f"server on port {self.port}")

    def request_ok(self, path: str) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(f"GET {path} HTTP/1.0\r\nHost: t\r\n\r\n".encode())
                return sock.recv(12).startswith(b"HTTP/1.")
        except OSError:
            return False

    def wait_booted(self, count: int, timeout: float = 15.0) -> None:
        """Wait until ``count`` workers have finished booting since the start."""
        wait_for(lambda: self.log().count("Booting worker with pid") >= count, timeout,
                 message=f"{count} booted workers")

    def workers(self) -> list[int]:
        pids = [p for p in children_of(self.pid) if alive(p)]
        self.seen_pids.update(pids)
        return pids

    def log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Stop the master and every process it started, by pid."""
        if self.proc is None:
            return
        self.workers()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.seen_pids.update(children_of(self.pid))
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(5)
        for pid in self.seen_pids:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not any(alive(p) for p in self.seen_pids), 10,
                 message="workers to be gone")
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._private_dir is not None:
            shutil.rmtree(self._private_dir, ignore_errors=True)
            self._private_dir = None


def status_json(server: Server) -> dict[str, Any]:
    """``workhorse status --json`` of ``server`` (through its control socket); ``{}``
    when it does not answer."""
    import json

    out = subprocess.run([sys.executable, "-m", "workhorse", "status", "--json", "--pid",
                          str(server.pid)], capture_output=True, text=True, timeout=10,
                         cwd=server.cwd, env=server.env)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def requests_in_flight(server: Server) -> list[str]:
    """The request lines the server's workers are serving now (from the scoreboard)."""
    status = status_json(server)
    return [thread["request"] for worker in status.get("workers", [])
            for thread in worker.get("threads", []) if thread.get("request")]


def raw_request(port: int, data: bytes, timeout: float = 5.0, host: str = "127.0.0.1") -> bytes:
    """Send raw bytes, read until the server closes; returns everything received."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)
