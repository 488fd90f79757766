"""Processes the harness starts, and what /proc says about them.

Every server and proxy is started in a session of its own (setsid), so its
master and every worker it forks can be found by session id. Stopping is by
PID only: SIGTERM to the process started, a bounded wait, SIGKILL; then
SIGKILL to each PID still in that session. Nothing else is ever signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
STOP_GRACE_S = 10.0  # a graceful stop of an idle server takes well under a second
LEFTOVER_WAIT_S = 5.0  # workers exit just after their master; then they are killed


class Started:
    """A process started in its own session, with its output in a log file."""

    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str], cwd: Path):
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 (closed in stop())
        self.started_at = time.monotonic()
        self.popen = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def pids(self) -> list[int]:
        """The master and its workers: every live process of the session it leads."""
        return session_pids(self.pid)

    def stop(self) -> None:
        if self.alive():
            _signal(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                _signal(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=STOP_GRACE_S)
        deadline = time.monotonic() + LEFTOVER_WAIT_S
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in self.pids():
            _signal(pid, signal.SIGKILL)
        self._log.close()

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: state, ppid, pgrp, session, ..."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()


def session_pids(sid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields and fields[0] != "Z" and int(fields[3]) == sid:
                pids.append(int(entry))
    return sorted(pids)


def cpu_seconds(pids: list[int], master: int | None = None) -> float:
    """utime + stime of the processes (all their threads).

    The master's cutime + cstime is added: it holds the time of workers it has
    reaped, so a worker that exits during a measurement is still counted.
    """
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is None:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
        if pid == master:
            ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLK_TCK


def memory_kb(pids: list[int]) -> tuple[int, int]:
    """(RSS, PSS) summed over the processes, KiB."""
    rss = pss = 0
    for pid in pids:
        rss += _field_kb(f"/proc/{pid}/status", "VmRSS:")
        pss += _field_kb(f"/proc/{pid}/smaps_rollup", "Pss:")
    return rss, pss


def _field_kb(path: str, key: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
