"""Supervising requests inside one event loop: slots, deadlines, the loop's own pulse.

Strategy: a worker that serves many requests concurrently in one loop (asgi)
cannot be supervised by the master alone: ending the process for one stuck
request would fail every other. So the loop supervises itself while it
turns, and the master steps in only when it does not:

- every request in flight holds a request slot of the scoreboard
  (:class:`SlotPool`), so the status, the metrics and the master's
  watchdog see it with its request line and deadline, as for a thread;
- :class:`LoopWatch` ticks every :data:`TICK` seconds: it beats the
  loop's pulse (:mod:`workhorse.workers.loop_pulse`: the heartbeat, and
  ``faulthandler``'s C watchdog thread, which writes every thread's stack
  into the dump pipe if the loop does not turn for
  ``blocked_loop_timeout``; the master logs that as LOOP BLOCKED), and
  ends requests past their deadline (:class:`InFlight`): their task is
  cancelled and their client answered, while the others carry on;
- a loop that does not turn cannot do any of that: the master sees the
  stale heartbeat and the deadline passed, and ends the worker as it ends a
  stuck sync worker (stack dump, 504/503 to the clients, replacement).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from workhorse.scoreboard import RequestSlot, WorkerSlotWriter
from workhorse.workers.loop_pulse import TICK, LoopPulse


class SlotPool:
    """The worker's request slots; a request without a free one waits for one."""

    def __init__(self, slots: list[RequestSlot]) -> None:
        self.free: deque[tuple[int, RequestSlot]] = deque(enumerate(slots))
        self.size = len(slots)
        self._waiters: deque[asyncio.Future[tuple[int, RequestSlot]]] = deque()

    @property
    def busy(self) -> int:
        return self.size - len(self.free)

    def take(self) -> tuple[int, RequestSlot] | None:
        """A free slot now, or None (then wait for one with :meth:`get`)."""
        if self.free and not self._waiters:
            return self.free.popleft()
        return None

    async def get(self) -> tuple[int, RequestSlot]:
        """A free slot (its index and writer), waiting for one if all are busy."""
        if self.free and not self._waiters:
            return self.free.popleft()
        waiter: asyncio.Future[tuple[int, RequestSlot]] = (
            asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        return await waiter

    def put(self, entry: tuple[int, RequestSlot]) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(entry)
                return
        self.free.append(entry)


@dataclass(eq=False)
class InFlight:
    """One request (or WebSocket) in flight, as the loop's deadline keeper sees it."""

    task: asyncio.Task[None]
    slot: RequestSlot
    line: str
    started: float
    #: When it is overdue (monotonic; 0: no deadline).
    deadline: float
    #: Called with the reason when it is overdue: cancels and answers.
    expire: Callable[[str], None]
    #: A deadline that progress keeps moving (a stream flowing, a WebSocket open).
    alive: Callable[[], bool] = field(default=lambda: False)


class LoopWatch:
    """The loop's pulse and its deadline keeper (see the module docstring)."""

    def __init__(self, writer: WorkerSlotWriter, *, timeout: float, blocked_after: float,
                 dump_fd: int, on_tick: Callable[[float], None]) -> None:
        self.pulse = LoopPulse(writer, timeout=timeout, blocked_after=blocked_after,
                               dump_fd=dump_fd)
        self.timeout = timeout
        self.on_tick = on_tick
        self.in_flight: set[InFlight] = set()
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.pulse.start()
        self._tick()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.pulse.stop()

    def _tick(self) -> None:
        now = time.monotonic()
        self.pulse.beat(now)
        self._expire(now)
        self.on_tick(now)
        self._handle = asyncio.get_running_loop().call_later(TICK, self._tick)

    def _expire(self, now: float) -> None:
        for entry in list(self.in_flight):
            if entry.alive():
                entry.slot.extend_deadline(self.timeout)
                entry.deadline = now + self.timeout
            elif entry.deadline and now > entry.deadline:
                self.in_flight.discard(entry)
                entry.expire(f"no progress for {self.timeout:g}s")
