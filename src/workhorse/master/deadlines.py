"""What counts as overdue: requests past their deadline, boots past theirs, frozen loops.

Strategy: pure functions of scoreboard snapshots and the time, so every
case is tested with an in-memory scoreboard and a made-up clock. A request
slot that is busy past its deadline is overdue (deadlines are written by the
worker when a request starts, and moved by progress or by the app). A worker
still booting past ``boot_timeout`` is overdue. A worker with nothing in
flight whose loop has not beaten its heartbeat for well over ``timeout`` is
frozen (a request's own deadline covers the busy case).

An event-loop worker (asgi) ends its own overdue requests (it cancels the
request's task and answers 504) and keeps serving the others, as long as
its loop turns. So the master counts one of its requests as overdue only
when the loop is blocked at the deadline (its heartbeat older than the
worker's ``loop_blocked_after``), or when the request is still there
:data:`LOOP_GRACE` after its deadline (the app would not be cancelled).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from workhorse.scoreboard import (
    BUSY_STATES,
    RequestSnapshot,
    RestartCause,
    WorkerSnapshot,
    WorkerState,
)

#: Added to the heartbeat limit: an idle worker's loop beats once a second,
#: so its heartbeat is up to that old without anything being wrong.
HEARTBEAT_SLACK = 1.5
#: How long past a deadline an event-loop worker whose loop turns may take to
#: end the request itself before the master ends the worker.
LOOP_GRACE = 2.0


@dataclass(frozen=True)
class Overdue:
    """A worker the watchdog must end, and the deadline it missed."""

    cause: RestartCause  # TIMEOUT, BOOT_TIMEOUT or FROZEN
    thread: int  # the overdue request's slot (-1: none)
    detail: str
    deadline: float
    request_line: str = ""
    elapsed: float = 0.0
    seq: int = 0


def frozen_after(timeout: float) -> float:
    """Heartbeat age that means frozen: the timeout, but never within a loop tick or two."""
    return max(timeout, 2.0) + HEARTBEAT_SLACK if timeout else 0.0


def find_overdue(worker: WorkerSnapshot, requests: Iterable[RequestSnapshot], now: float, *,
                 timeout: float, boot_timeout: float) -> Overdue | None:
    """Whether this worker must be ended, and why (None: it is fine)."""
    if worker.state == WorkerState.BOOTING:
        if boot_timeout and now - worker.spawned > boot_timeout:
            return Overdue(RestartCause.BOOT_TIMEOUT, -1,
                           f"did not finish booting in {boot_timeout:g}s",
                           worker.spawned + boot_timeout)
        return None
    if worker.state not in (WorkerState.READY, WorkerState.STOPPING):
        return None
    busy = False
    loop_blocked = worker.event_loop and now - worker.heartbeat > worker.loop_blocked_after
    first: RequestSnapshot | None = None
    for request in requests:
        if request.state not in BUSY_STATES:
            continue
        busy = True
        if not request.deadline:
            continue
        past = now - request.deadline
        # The one that missed its deadline first, whatever its thread: when the
        # master looks late, several may be past theirs.
        if past > 0 and (not worker.event_loop or loop_blocked or past > LOOP_GRACE) and \
                (first is None or request.deadline < first.deadline):
            first = request
    if first is not None:
        return Overdue(RestartCause.TIMEOUT, first.thread,
                       f"request exceeded its deadline by {now - first.deadline:.2f}s",
                       first.deadline, first.request_line, now - first.started, first.seq)
    limit = frozen_after(timeout)
    if not busy and limit and now - worker.heartbeat > limit:
        # Something outside the request path holds the worker: an app thread
        # holding the GIL, or the process was stopped.
        return Overdue(RestartCause.FROZEN, -1,
                       f"its main loop has not run for {now - worker.heartbeat:.1f}s",
                       worker.heartbeat + limit)
    return None


def earliest_deadline(requests: Iterable[RequestSnapshot]) -> float | None:
    """The earliest deadline of the requests in flight."""
    deadlines = [r.deadline for r in requests if r.state in BUSY_STATES and r.deadline]
    return min(deadlines) if deadlines else None


def next_check(worker: WorkerSnapshot, requests: Iterable[RequestSnapshot],
               now: float) -> float | None:
    """When this worker's requests next need a look, for the master's sleep.

    A request's deadline; for an event-loop worker, a deadline already passed
    needs a look again only when the loop would count as blocked or the
    grace is over (the loop is ending the request meanwhile).
    """
    deadline = earliest_deadline(requests)
    if deadline is None or not worker.event_loop or deadline > now:
        return deadline
    return min(deadline + LOOP_GRACE, worker.heartbeat + worker.loop_blocked_after)
