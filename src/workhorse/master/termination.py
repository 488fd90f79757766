"""Ending an overdue worker: the steps, their order and their timing.

Strategy: a :class:`Termination` is a small state machine the master
advances on each tick, never blocking. :func:`next_step` is pure: given the
termination, the time and whether the overdue request has finished
meanwhile, it says what to do now; the watchdog does it.

1. **rescue and dump** (at once): take copies of the worker's client
   sockets, then ask for a C-level dump of every thread's stack;
2. **abort** (after :data:`DUMP_WAIT`): take copies of connections accepted
   since, send SIGABRT so Gunicorn's ``worker_abort`` hook runs if the
   worker can still run Python; a request that finished during the dump
   cancels everything instead (the worker is healthy after all);
3. **kill** (after :data:`ABORT_GRACE`): SIGKILL, which also ends a worker
   stopped with SIGSTOP or blocked in a system call. A boot timeout skips
   the abort: a booting worker has no clients and no hook to run.

A stuck request costs only itself when the rest of its worker still runs:
in a threaded worker whose main loop still beats (the stuck call released
the GIL: a hung database query, a socket read), the termination is
*partial*: the overdue client is answered 504 at once, the worker is told to
stop gracefully (it takes no new work, passes its idle connections on), and
it is killed once its other requests are done (or at ``graceful_timeout``).
Only a worker frozen as a whole has its other requests answered 503.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from workhorse.scoreboard import RestartCause

#: How long the master waits for the stack dump before SIGABRT: faulthandler
#: writes within milliseconds; a deep stack of many threads needs a bit more.
DUMP_WAIT = 0.15
#: How long the worker_abort hook may run before SIGKILL. Kept short so the
#: whole sequence stays well within a second of the deadline.
ABORT_GRACE = 0.25


class Phase(enum.Enum):
    DUMP = "dump"  # the stack dump was asked for
    DRAINING = "draining"  # partial: the worker finishes its other requests
    ABORT = "abort"  # SIGABRT sent
    KILLED = "killed"  # SIGKILL sent; waiting for the reap
    CANCELLED = "cancelled"  # the overdue request finished during the dump


class Step(enum.Enum):
    WAIT = "wait"
    CANCEL = "cancel"  # release the copies; the worker lives
    ABORT = "abort"  # rescue connections taken since, then SIGABRT
    KILL = "kill"  # SIGKILL


class RescueKind(enum.Enum):
    """What a connection taken from an ended worker was doing."""

    OVERDUE = "overdue"  # the request past its deadline: answered 504
    IN_FLIGHT = "in_flight"  # another request in flight on the worker: answered 503
    IDLE = "idle"  # a keep-alive connection between requests: passed on


def rescue_kind(thread: int, overdue_thread: int, deadline: float, now: float) -> RescueKind:
    """A request in flight on an ended worker: the overdue one, and any other
    already past its own deadline, timed out (504); the rest were cut short (503)."""
    if thread == overdue_thread or (deadline and deadline <= now):
        return RescueKind.OVERDUE
    return RescueKind.IN_FLIGHT


@dataclass
class RescuedClient:
    fd: int  # the master's copy
    thread: int
    kind: RescueKind
    request_line: str
    request_id: str


@dataclass
class Termination:
    """One worker being ended by the watchdog."""

    cause: RestartCause  # TIMEOUT, BOOT_TIMEOUT or FROZEN
    pid: int
    slot: int
    started: float
    detail: str
    overdue_thread: int = -1
    request_line: str = ""
    elapsed: float = 0.0
    seq: int = 0
    deadline: float = 0.0  # the deadline that was missed (monotonic)
    phase: Phase = Phase.DUMP
    next_step_at: float = 0.0
    rescued: list[RescuedClient] = field(default_factory=list)
    held_fds: set[int] = field(default_factory=set)  # worker fds already copied
    rescue_error: str = ""
    killed_at: float = 0.0
    #: Partial (see the module docstring): the rest of the worker still runs.
    partial: bool = False
    #: Partial: the latest moment the worker is killed, done or not.
    drain_until: float = 0.0
    #: Partial: the worker's other requests still in flight when it was killed.
    others_left: int = 0
    #: The overdue client was answered at the deadline (partial), not after the kill.
    answered_early: bool = False

    @property
    def waiting(self) -> bool:
        """Still has a step to take (a wake-up is due at ``next_step_at``)."""
        return self.phase in (Phase.DUMP, Phase.ABORT, Phase.DRAINING)


#: How often a draining (partial) termination looks at the worker's other requests.
DRAIN_POLL = 0.1


def next_step(term: Termination, now: float, *, request_finished: bool,
              others_busy: int = 0) -> Step:
    """What to do with ``term`` now; the caller records the step with :func:`took`."""
    if not term.waiting or now < term.next_step_at:
        return Step.WAIT
    if term.phase == Phase.DRAINING:
        if others_busy and now < term.drain_until:
            term.next_step_at = now + DRAIN_POLL
            return Step.WAIT
        term.others_left = others_busy
        return Step.KILL
    if term.phase == Phase.ABORT or term.cause == RestartCause.BOOT_TIMEOUT:
        return Step.KILL
    if term.cause == RestartCause.TIMEOUT and request_finished:
        return Step.CANCEL
    return Step.ABORT


def took(term: Termination, step: Step, now: float) -> None:
    """Move ``term`` past ``step``, done at ``now``."""
    if step == Step.CANCEL:
        term.phase = Phase.CANCELLED
    elif step == Step.ABORT:
        term.phase = Phase.ABORT
        term.next_step_at = now + ABORT_GRACE
    elif step == Step.KILL:
        term.phase = Phase.KILLED
        term.killed_at = now
