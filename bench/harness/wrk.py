"""wrk: the command line for a scenario, and what its report says.

wrk counts as errors: connect, read, write and timeout socket errors, and
"Non-2xx or 3xx responses" (really: status >= 400). Its latency percentiles
need --latency. Its --timeout is set to the probe's 3 s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import apps

from .scenarios import Scenario

TIMEOUT = "3s"
POST_SCRIPT = f"""\
wrk.method = "POST"
wrk.body = string.rep("x", {apps.ECHO_SIZE})
wrk.headers["Content-Type"] = "application/octet-stream"
"""
ERROR_KINDS = ("connect", "read", "write", "timeout", "status")


@dataclass(frozen=True)
class WrkResult:
    requests: int
    req_per_s: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]  # ERROR_KINDS -> count


def argv(sc: Scenario, url: str, seconds: float, tmp: Path, cpu: int | None) -> list[str]:
    cmd = ["wrk", f"-t{sc.wrk_threads}", f"-c{sc.connections}", f"-d{max(1, round(seconds))}s",
           "--latency", "--timeout", TIMEOUT]
    if not sc.keepalive:
        cmd += ["-H", "Connection: close"]
    if sc.method == "POST":
        script = tmp / "post.lua"
        script.write_text(POST_SCRIPT)
        cmd += ["-s", str(script)]
    cmd.append(url)
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    return cmd


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if m is None:
        raise ValueError(f"wrk time {text!r}")
    return float(m.group(1)) * _UNIT_MS[m.group(2)]


def parse(out: str) -> WrkResult:
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    total = re.search(r"^\s+(\d+) requests in", out, re.M)
    if not (rate and p50 and p99 and total):
        raise ValueError("no Requests/sec, request count or latency distribution in wrk's output")
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    counts = [int(x) for x in sock.groups()] if sock else [0, 0, 0, 0]
    status = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    counts.append(int(status.group(1)) if status else 0)
    return WrkResult(int(total.group(1)), float(rate.group(1)), _ms(p50.group(1)),
                     _ms(p99.group(1)), dict(zip(ERROR_KINDS, counts, strict=True)))
