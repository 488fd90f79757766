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

#: Added to the heartbeat limit: an idle worker's loop beats once a second,
#: so its heartbeat is up to that old without anything being wrong.
HEARTBEAT_SLACK = 1.5

TIMEOUT = "timeout"
BOOT_TIMEOUT = "boot_timeout"
FROZEN = "frozen"


#: Kinds of rescued connections: the overdue request (answered 504), another
#: request in flight on the same worker (503), an idle keep-alive connection
#: (closed cleanly; 503 if a request was already waiting on it).
OVERDUE, IN_FLIGHT, IDLE = "overdue", "in_flight", "idle"


@dataclass
class RescuedClient:
    fd: int
    thread: int
    kind: str
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
    deadline: float = 0.0  # the deadline that was missed (monotonic)
    phase: str = "dump"
    next_step_at: float = 0.0
    rescued: list[RescuedClient] = field(default_factory=list)
    held_fds: set[int] = field(default_factory=set)  # worker fds already copied
    rescue_error: str = ""
    killed_at: float = 0.0


@dataclass
class Overdue:
    cause: str
    thread: int
    detail: str
    deadline: float
    request_line: str = ""
    elapsed: float = 0.0
    seq: int = 0


class Watchdog:
    def __init__(self, board: Scoreboard, *, timeout: float, boot_timeout: float,
                 dump_signal: int | None, listener_names: list[Any] | None = None) -> None:
        self.board = board
        #: getsockname() of every listener: a worker socket with one of these
        #: local addresses is a client connection.
        self.listener_names = listener_names or []
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
                               f"did not finish booting in {self.boot_timeout:g}s",
                               worker.spawned + self.boot_timeout)
            return None
        if worker.state not in (WorkerState.READY, WorkerState.STOPPING):
            return None
        busy = False
        for thread in range(self.board.threads):
            request = self.board.read_request(slot, thread)
            if request.state not in BUSY_STATES:
                continue
            busy = True
            if request.deadline and now > request.deadline:
                return Overdue(TIMEOUT, thread,
                               f"request exceeded its deadline by {now - request.deadline:.2f}s",
                               request.deadline, request.request_line, now - request.started,
                               request.seq)
        # A loop that stopped beating while no request is in flight (a
        # request's own deadline covers the busy case): something outside
        # the request path holds the worker, such as an app thread holding
        # the GIL, or the process was stopped.
        limit = self.frozen_after()
        if not busy and limit and now - worker.heartbeat > limit:
            return Overdue(FROZEN, -1,
                           f"its main loop has not run for {now - worker.heartbeat:.1f}s",
                           worker.heartbeat + limit)
        return None

    def frozen_after(self) -> float:
        """Heartbeat age that means frozen: the timeout, but never within a loop tick or two."""
        return max(self.timeout, 2.0) + HEARTBEAT_SLACK if self.timeout else 0.0

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
                           seq=overdue.seq, deadline=overdue.deadline)
        if overdue.cause != BOOT_TIMEOUT:
            self._rescue_clients(term)
        if self.dump_signal is not None:
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
            # Connections taken since the dump started (other threads kept
            # working if the stuck one released the GIL).
            self._rescue_clients(term)
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
        """Take copies of the worker's client sockets (idempotent: known ones are skipped).

        In-flight requests are found through the scoreboard (their fd and
        sequence number); the threaded worker's idle keep-alive connections
        through /proc, as the worker's sockets whose local address is one of
        our listeners', so they are closed cleanly instead of reset.
        """
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
                self._rescue_in_flight(term, pidfd, thread)
            if self.board.threads > 1:
                self._rescue_idle(term, pidfd)
        except rescue.RescueUnavailable as exc:
            self.rescue_disabled_reason = str(exc)
            term.rescue_error = str(exc)
        finally:
            os.close(pidfd)

    def _rescue_in_flight(self, term: Termination, pidfd: int, thread: int) -> None:
        before = self.board.read_request(term.slot, thread)
        # Only a request whose response has not started can still be answered.
        if before.state not in (RequestState.READING, RequestState.APP) or before.fd < 0:
            return
        if before.fd in term.held_fds:
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
        term.held_fds.add(before.fd)
        term.rescued.append(RescuedClient(
            fd=fd, thread=thread,
            kind=OVERDUE if thread == term.overdue_thread else IN_FLIGHT,
            request_line=before.request_line, request_id=before.request_id))

    def _rescue_idle(self, term: Termination, pidfd: int) -> None:
        for target in rescue.socket_fds(term.pid):
            if target in term.held_fds:
                continue
            try:
                fd = rescue.copy_fd(pidfd, target)
            except OSError:
                continue
            if rescue.is_client_of(fd, self.listener_names):
                term.held_fds.add(target)
                term.rescued.append(RescuedClient(fd=fd, thread=-1, kind=IDLE,
                                                  request_line="", request_id=""))
            else:
                os.close(fd)

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
