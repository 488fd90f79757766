"""The watchdog: find overdue requests and boots, and end their workers right.

Strategy: every master tick the watchdog reads the scoreboard. A request
slot that is busy past its deadline, a worker still booting past
``boot_timeout``, or a ready worker whose loop has not beaten its heartbeat
for ``timeout`` seconds starts a :class:`Termination`, a small state
machine the master advances on each tick without ever blocking:

1. **rescue**: take copies of the client sockets of the worker's in-flight
   requests (:mod:`workhorse.master.rescue`), before anything else can close them;
2. **dump**: send :data:`DUMP_SIGNAL`; ``faulthandler`` in the worker writes
   every thread's stack into the worker's dump pipe from a C signal handler,
   which works even when the worker is stuck in C code holding the GIL;
3. **abort**: after :data:`DUMP_WAIT`, send SIGABRT so Gunicorn's
   ``worker_abort`` hook runs if the worker can still run Python;
4. **kill**: after :data:`ABORT_GRACE`, SIGKILL (which also ends a worker
   stopped with SIGSTOP or blocked in a system call);
5. once the worker is reaped, the master answers the rescued clients (504
   for the overdue request, 503 for other requests in flight on the same
   worker), and logs one record with the request line, the elapsed time and
   the stacks.

If a request finishes while its termination is still in the dump phase,
the termination is cancelled: the worker is healthy after all.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from workhorse.master import rescue
from workhorse.scoreboard import BUSY_STATES, RequestState, Scoreboard, WorkerState

#: How long the master waits for the stack dump before SIGABRT: faulthandler
#: writes within milliseconds; a deep stack of many threads needs a bit more.
DUMP_WAIT = 0.15
#: How long the worker_abort hook may run before SIGKILL. Kept short so the
#: whole sequence stays well within a second of the deadline.
ABORT_GRACE = 0.25

TIMEOUT = "timeout"
BOOT_TIMEOUT = "boot_timeout"
FROZEN = "frozen"


@dataclass
class RescuedClient:
    fd: int
    thread: int
    overdue: bool  # the request that timed out (504) or a bystander (503)
    request_line: str
    request_id: str


@dataclass
class Termination:
    """One worker being ended by the watchdog."""

    cause: str
    pid: int
    slot: int
    started: float
    detail: str
    overdue_thread: int = -1
    request_line: str = ""
    elapsed: float = 0.0
    seq: int = 0
    phase: str = "dump"
    next_step_at: float = 0.0
    rescued: list[RescuedClient] = field(default_factory=list)
    rescue_error: str = ""
    killed_at: float = 0.0


@dataclass
class Overdue:
    cause: str
    thread: int
    detail: str
    request_line: str = ""
    elapsed: float = 0.0
    seq: int = 0


class Watchdog:
    def __init__(self, board: Scoreboard, *, timeout: float, boot_timeout: float,
                 dump_signal: int) -> None:
        self.board = board
        self.timeout = timeout
        self.boot_timeout = boot_timeout
        self.dump_signal = dump_signal
        self.rescue_disabled_reason = ""

    # --- finding overdue work ----------------------------------------------------
    def check(self, slot: int, now: float) -> Overdue | None:
        """Whether the worker in ``slot`` must be ended, and why."""
        worker = self.board.read_worker(slot)
        if worker.state == WorkerState.BOOTING:
            if self.boot_timeout and now - worker.spawned > self.boot_timeout:
                return Overdue(BOOT_TIMEOUT, -1,
                               f"did not finish booting in {self.boot_timeout:g}s")
            return None
        if worker.state not in (WorkerState.READY, WorkerState.STOPPING):
            return None
        for thread in range(self.board.threads):
            request = self.board.read_request(slot, thread)
            if request.state in BUSY_STATES and request.deadline and now > request.deadline:
                return Overdue(TIMEOUT, thread,
                               f"request exceeded its deadline by {now - request.deadline:.2f}s",
                               request.request_line, now - request.started, request.seq)
        if self.timeout and now - worker.heartbeat > max(self.timeout, 2.0):
            return Overdue(FROZEN, -1,
                           f"its main loop has not run for {now - worker.heartbeat:.1f}s")
        return None

    def next_deadline(self, slots: list[int]) -> float | None:
        """The earliest deadline of any request in flight, for the master's sleep."""
        earliest: float | None = None
        for slot in slots:
            for thread in range(self.board.threads):
                request = self.board.read_request(slot, thread)
                busy = request.state in BUSY_STATES and request.deadline
                if busy and (earliest is None or request.deadline < earliest):
                    earliest = request.deadline
        return earliest

    # --- ending a worker ----------------------------------------------------------
    def start(self, pid: int, slot: int, overdue: Overdue, now: float) -> Termination:
        term = Termination(cause=overdue.cause, pid=pid, slot=slot, started=now,
                           detail=overdue.detail, overdue_thread=overdue.thread,
                           request_line=overdue.request_line, elapsed=overdue.elapsed,
                           seq=overdue.seq)
        if overdue.cause != BOOT_TIMEOUT:
            self._rescue_clients(term)
        self._signal(pid, self.dump_signal)
        term.phase = "dump"
        term.next_step_at = now + DUMP_WAIT
        return term

    def advance(self, term: Termination, now: float) -> None:
        """Move a termination on when its next step is due."""
        if term.phase == "killed" or now < term.next_step_at:
            return
        if term.phase == "dump":
            if term.cause == TIMEOUT and self._request_finished(term):
                term.phase = "cancelled"
                return
            if term.cause == BOOT_TIMEOUT:
                self._kill(term, now)
                return
            self._signal(term.pid, signal.SIGABRT)
            term.phase = "abort"
            term.next_step_at = now + ABORT_GRACE
        elif term.phase == "abort":
            self._kill(term, now)

    def _kill(self, term: Termination, now: float) -> None:
        self._signal(term.pid, signal.SIGKILL)
        term.phase = "killed"
        term.killed_at = now

    def _request_finished(self, term: Termination) -> bool:
        request = self.board.read_request(term.slot, term.overdue_thread)
        return request.seq != term.seq or request.state not in BUSY_STATES

    def cancel(self, term: Termination) -> None:
        for client in term.rescued:
            try:
                os.close(client.fd)
            except OSError:
                pass
        term.rescued.clear()

    def _rescue_clients(self, term: Termination) -> None:
        if self.rescue_disabled_reason:
            term.rescue_error = self.rescue_disabled_reason
            return
        try:
            pidfd = rescue.open_pidfd(term.pid)
        except rescue.RescueUnavailable as exc:
            term.rescue_error = str(exc)
            return
        try:
            for thread in range(self.board.threads):
                self._rescue_one(term, pidfd, thread)
        except rescue.RescueUnavailable as exc:
            self.rescue_disabled_reason = str(exc)
            term.rescue_error = str(exc)
        finally:
            os.close(pidfd)

    def _rescue_one(self, term: Termination, pidfd: int, thread: int) -> None:
        before = self.board.read_request(term.slot, thread)
        # Only a request whose response has not started can still be answered.
        if before.state not in (RequestState.READING, RequestState.APP) or before.fd < 0:
            return
        try:
            fd = rescue.copy_fd(pidfd, before.fd)
        except OSError:
            return
        after = self.board.read_request(term.slot, thread)
        if after.seq != before.seq or after.state not in (RequestState.READING,
                                                         RequestState.APP):
            os.close(fd)  # the fd number may now be another connection's
            return
        term.rescued.append(RescuedClient(fd=fd, thread=thread,
                                          overdue=thread == term.overdue_thread,
                                          request_line=before.request_line,
                                          request_id=before.request_id))

    @staticmethod
    def _signal(pid: int, signum: int) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def monotonic() -> float:
    return time.monotonic()


def describe(term: Termination) -> dict[str, Any]:
    return {"cause": term.cause, "pid": term.pid, "slot": term.slot,
            "request": term.request_line, "elapsed": round(term.elapsed, 3)}
