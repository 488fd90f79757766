"""The pulse of a worker that serves every request on one loop (asgi, gevent).

Strategy: whatever the loop (asyncio's, gevent's hub), it calls
:meth:`LoopPulse.beat` from a callback it runs every quarter second or so.
Each beat writes the heartbeat into the worker's slot and re-arms
``faulthandler``'s C watchdog thread, so the watchdog fires only when the
loop stops turning: after ``blocked_after`` seconds without a beat it writes
the stack of every thread into the dump pipe (from C, without the GIL,
which a call spinning in C may hold), and the master logs that as LOOP
BLOCKED. At start the worker says in its slot that it is such a worker and
after how long its loop counts as blocked: the master then leaves its
overdue requests to it while the loop turns (see master/deadlines.py).
"""

from __future__ import annotations

import faulthandler
import time

from workhorse.scoreboard import WorkerSlotWriter

#: How often the loop beats, re-arms the blocked-loop watchdog and looks for
#: overdue requests: well under a second, so a deadline is kept to within it.
TICK = 0.25


class LoopPulse:
    """Heartbeat and blocked-loop watchdog of one event-loop worker."""

    def __init__(self, writer: WorkerSlotWriter, *, timeout: float, blocked_after: float,
                 dump_fd: int) -> None:
        self.writer = writer
        self.timeout = timeout
        self.blocked_after = blocked_after
        self.dump_fd = dump_fd
        #: The longest time between two beats so far (seconds).
        self.longest_gap = 0.0
        self._last = 0.0

    @property
    def _armed(self) -> bool:
        return bool(self.blocked_after) and self.dump_fd >= 0

    def start(self) -> None:
        # With the report off, the loop still counts as blocked after the
        # timeout: the master ends the worker then, as for a sync one.
        self.writer.event_loop(self.blocked_after if self.blocked_after else self.timeout or 1.0)
        self._last = time.monotonic()
        self.beat(self._last)

    def beat(self, now: float) -> None:
        self.longest_gap = max(self.longest_gap, now - self._last)
        self._last = now
        self.writer.heartbeat(now)
        if self._armed:
            # Re-armed every turn: it fires only when the loop stops turning.
            faulthandler.dump_traceback_later(self.blocked_after, repeat=False,
                                              file=self.dump_fd, exit=False)

    def stop(self) -> None:
        if self._armed:
            faulthandler.cancel_dump_traceback_later()
