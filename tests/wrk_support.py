"""wrk, the load generator users measure with, driven from tests.

:class:`Wrk` runs ``wrk`` in the background for a bounded time (its own
``-d``, and a hard kill after that plus a margin) and parses what it prints:
requests, socket errors by kind, non-2xx/3xx answers and the latency
percentiles (``--latency``). Tests using it are skipped when wrk is missing
(``scripts/setup-tests`` installs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class WrkResult:
    requests: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    non_2xx: int = 0
    p99_ms: float = 0.0
    output: str = ""

    @property
    def failed(self) -> int:
        return sum(self.socket_errors.values()) + self.non_2xx

    def summary(self) -> str:
        return (f"{self.requests} requests, {self.failed} failed (socket errors "
                f"{self.socket_errors or 'none'}, non-2xx {self.non_2xx}), p99 {self.p99_ms} ms")


def require_wrk() -> str:
    binary = shutil.which("wrk")
    if binary is None:
        pytest.skip("no wrk binary (scripts/setup-tests installs it)")
    return binary


class Wrk:
    def __init__(self, url: str, *, seconds: float, connections: int = 16, threads: int = 2,
                 post_body: bytes | None = None, workdir: Path) -> None:
        binary = require_wrk()
        self.command = [binary, f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
                        "--latency", "--timeout", "10s"]
        if post_body is not None:
            script = workdir / "post.lua"
            script.write_text(
                'wrk.method = "POST"\n'
                f'wrk.body = "{post_body.decode("ascii")}"\n'
                'wrk.headers["Content-Type"] = "application/octet-stream"\n')
            self.command += ["-s", str(script)]
        self.command.append(url)
        self.seconds = seconds
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Wrk:
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def result(self) -> WrkResult:
        """Wait for wrk to finish (bounded) and parse what it printed."""
        assert self.proc is not None
        try:
            out, _ = self.proc.communicate(timeout=self.seconds + 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate(timeout=5)
        return parse(out)


def parse(out: str) -> WrkResult:
    result = WrkResult(output=out)
    match = re.search(r"(\d+) requests in", out)
    if match is None:
        raise AssertionError(f"wrk printed no result:\n{out}")
    result.requests = int(match.group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    if errors:
        kinds = ("connect", "read", "write", "timeout")
        result.socket_errors = {k: int(v) for k, v in zip(kinds, errors.groups(), strict=True)
                                if int(v)}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result.non_2xx = int(non_2xx.group(1)) if non_2xx else 0
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    if p99:
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
        result.p99_ms = round(float(p99.group(1)) * scale, 2)
    return result
