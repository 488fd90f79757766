"""The machine: what it is, and how busy other people keep it.

Foreign CPU = CPU time the whole machine was busy (/proc/stat: user, nice,
system, irq, softirq) minus what our processes spent (this harness with its
probe thread, wrk, the server's session, the proxy's session), in cores.
Interrupt time counts as busy because a process's stime includes the softirq
work done on its behalf (loopback traffic), while /proc/stat files it apart.
Softirq work done by ksoftirqd still shows up as foreign (a few hundredths of
a core under load). Hypervisor steal is kept apart.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import subprocess
import time
from collections.abc import Callable

from .procs import CLK_TCK

QUIET_CORES = 0.2  # foreign CPU under which the machine counts as quiet
QUIET_SAMPLE_S = 1.0


def _machine_ticks() -> tuple[int, int]:
    """(user + nice + system + irq + softirq, steal) ticks of all CPUs."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (
            int(x) for x in f.readline().split()[1:9])
    return user + nice + system + irq + softirq, steal


def _own_seconds() -> float:
    """This process (every thread) and its reaped children (wrk, taskset)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class CpuMeter:
    """Foreign and stolen CPU, in cores, since it was created.

    `ours` returns the CPU seconds used so far by the processes we started
    (servers, proxy); the harness and wrk are added here.
    """

    def __init__(self, ours: Callable[[], float]):
        self._ours = ours
        self.t0 = time.monotonic()
        self.busy0, self.steal0 = _machine_ticks()
        self.ours0 = ours() + _own_seconds()

    def read(self) -> tuple[float, float]:
        elapsed = max(time.monotonic() - self.t0, 1e-3)
        busy, steal = _machine_ticks()
        ours = self._ours() + _own_seconds() - self.ours0
        foreign = (busy - self.busy0) / CLK_TCK - ours
        return max(foreign, 0.0) / elapsed, (steal - self.steal0) / CLK_TCK / elapsed


def wait_quiet(max_wait: float, ours: Callable[[], float]) -> tuple[float, float]:
    """Sample until others use < QUIET_CORES (bounded); return (seconds waited, last foreign)."""
    t0 = time.monotonic()
    while True:
        meter = CpuMeter(ours)
        time.sleep(QUIET_SAMPLE_S if max_wait >= QUIET_SAMPLE_S else 0.5)
        foreign, _ = meter.read()
        waited = time.monotonic() - t0
        if foreign < QUIET_CORES or waited >= max_wait:
            return waited, foreign


def cpu_pair() -> tuple[int, int] | None:
    """(client CPU, server CPU) when this process may use two and taskset exists."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or not shutil.which("taskset"):
        return None
    return cpus[0], cpus[1]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def describe() -> str:
    """`2 x AMD EPYC 7B13; Linux 6.1.0; Python 3.11.7`: the machine column (CPUs usable here)."""
    return (f"{len(os.sched_getaffinity(0))} x {cpu_model()}; Linux {platform.release()}; "
            f"Python {platform.python_version()}")


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def tools(nginx: str | None) -> str:
    """`wrk 4.1.0-3+b2; nginx 1.22.1`: the tools column."""
    wrk = _first_line(["wrk", "--version"]).split(" [")[0].replace("debian/", "")
    text = wrk if wrk.startswith("wrk") else "wrk ?"
    if nginx:
        text += "; nginx " + _first_line([nginx, "-v"]).rsplit("/", 1)[-1]
    return text


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])
