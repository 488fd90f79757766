"""The watchdog: finds overdue work on the scoreboard and ends its worker right.

Strategy: every master tick the watchdog reads the worker's slots and asks
:mod:`workhorse.master.deadlines` whether the worker is overdue. If it is,
it starts a :class:`~workhorse.master.termination.Termination` and carries
out the steps that :func:`~workhorse.master.termination.next_step` decides:
taking copies of the worker's client sockets (:mod:`workhorse.master.rescue`)
before anything else can close them, the stack dump (:data:`DUMP_SIGNAL`,
which ``faulthandler`` in the worker answers from a C signal handler, so it
works even when the worker is stuck in C code holding the GIL), SIGABRT
and SIGKILL. Once the worker is reaped, the master answers the rescued
clients (see :mod:`workhorse.master.answers`) and logs one record.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from workhorse.master import rescue
from workhorse.master.deadlines import Overdue, find_overdue, frozen_after, next_check
from workhorse.master.termination import (
    DRAIN_POLL,
    DUMP_WAIT,
    Phase,
    RescuedClient,
    RescueKind,
    Step,
    Termination,
    next_step,
    rescue_kind,
    took,
)
from workhorse.scoreboard import (
    BUSY_STATES,
    RequestSnapshot,
    RequestState,
    RestartCause,
    Scoreboard,
)

#: A threaded worker whose main loop beat this recently still runs (it beats
#: every second while idle, and is not waiting on the stuck thread).
PARTIAL_HEARTBEAT = 2.0


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
    def requests(self, slot: int) -> list[RequestSnapshot]:
        """The requests in flight in a worker (an event-loop worker has hundreds of slots)."""
        return self.board.read_busy_requests(slot)

    def check(self, slot: int, now: float) -> Overdue | None:
        """Whether the worker in ``slot`` must be ended, and why."""
        return find_overdue(self.board.read_worker(slot), self.requests(slot), now,
                            timeout=self.timeout, boot_timeout=self.boot_timeout)

    def frozen_after(self) -> float:
        return frozen_after(self.timeout)

    def next_deadline(self, slots: list[int], now: float) -> float | None:
        """When a request in flight next needs a look, for the master's sleep."""
        found = [d for d in (next_check(self.board.read_worker(slot), self.requests(slot), now)
                             for slot in slots) if d is not None]
        return min(found) if found else None

    # --- ending a worker ----------------------------------------------------------
    def start(self, pid: int, slot: int, overdue: Overdue, now: float, *,
              drain_for: float = 0.0) -> Termination:
        """Begin ending a worker; ``drain_for`` > 0 allows a partial termination
        (a threaded worker whose loop still runs finishes its other requests)."""
        term = Termination(cause=overdue.cause, pid=pid, slot=slot, started=now,
                           detail=overdue.detail, overdue_thread=overdue.thread,
                           request_line=overdue.request_line, elapsed=overdue.elapsed,
                           seq=overdue.seq, deadline=overdue.deadline,
                           phase=Phase.DUMP, next_step_at=now + DUMP_WAIT)
        if drain_for and self._rest_still_runs(slot, overdue, now):
            term.partial = True
            term.phase = Phase.DRAINING
            term.drain_until = now + drain_for
            term.next_step_at = now + DRAIN_POLL
            self._rescue_clients(term, only_overdue=True)
        elif overdue.cause != RestartCause.BOOT_TIMEOUT:
            self._rescue_clients(term)
        if self.dump_signal is not None:
            _signal(pid, self.dump_signal)
        return term

    def _rest_still_runs(self, slot: int, overdue: Overdue, now: float) -> bool:
        """A request timed out in a threaded worker whose main loop still beats:
        the stuck call let go of the GIL, its other threads can finish."""
        if overdue.cause != RestartCause.TIMEOUT or self.board.threads < 2:
            return False
        worker = self.board.read_worker(slot)
        return not worker.event_loop and now - worker.heartbeat < PARTIAL_HEARTBEAT

    def others_busy(self, term: Termination) -> int:
        """The worker's requests in flight besides the overdue one."""
        return sum(1 for request in self.requests(term.slot)
                   if request.thread != term.overdue_thread)

    def advance(self, term: Termination, now: float) -> None:
        """Take the next step of ``term`` if it is due."""
        others = self.others_busy(term) if term.phase == Phase.DRAINING else 0
        step = next_step(term, now, request_finished=self._request_finished(term),
                         others_busy=others)
        if step == Step.ABORT:
            # Connections taken since the dump started (other threads kept
            # working if the stuck one released the GIL).
            self._rescue_clients(term)
            _signal(term.pid, signal.SIGABRT)
        elif step == Step.KILL:
            _signal(term.pid, signal.SIGKILL)
        took(term, step, now)

    def _request_finished(self, term: Termination) -> bool:
        if term.cause != RestartCause.TIMEOUT or term.phase != Phase.DUMP:
            return False
        request = self.board.read_request(term.slot, term.overdue_thread)
        return request.seq != term.seq or request.state not in BUSY_STATES

    def cancel(self, term: Termination) -> None:
        for client in term.rescued:
            try:
                os.close(client.fd)
            except OSError:
                pass
        term.rescued.clear()

    def _rescue_clients(self, term: Termination, *, only_overdue: bool = False) -> None:
        """Take copies of the worker's client sockets (idempotent: known ones are skipped).

        In-flight requests are found through the scoreboard (their fd and
        sequence number); the idle keep-alive connections of a worker that
        keeps them through /proc, as the worker's sockets whose local address
        is one of our listeners'.
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
            if only_overdue:
                self._rescue_in_flight(term, pidfd, term.overdue_thread)
                return
            for thread in range(self.board.threads):
                self._rescue_in_flight(term, pidfd, thread)
            # Any kind may hold idle keep-alive connections (gthread with one
            # thread too); a sync worker simply has none besides its request's.
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
            kind=rescue_kind(thread, term.overdue_thread, before.deadline, time.monotonic()),
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
                term.rescued.append(RescuedClient(fd=fd, thread=-1, kind=RescueKind.IDLE,
                                                  request_line="", request_id=""))
            else:
                os.close(fd)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
