"""Reports of blocked event loops, written by the workers themselves, logged by the master.

Strategy: an event-loop worker (asgi, gevent) arms ``faulthandler``'s C watchdog
thread each time its loop turns; when the loop has not turned for
``blocked_loop_timeout`` seconds, that thread writes every thread's stack
into the worker's dump pipe, from C, without needing the GIL. So a blocking
call inside an ``async def`` view is named while it blocks, well before any
deadline. The master reads that pipe anyway (for the stack dump it asks for
when it ends a worker): bytes arriving while it has not asked are such a
report. Once the pipe has been quiet for :data:`SETTLE` (the dump arrives in
several writes), the master logs one record per incident with the request
lines in flight and how long they have run, and counts it.
"""

from __future__ import annotations

from collections.abc import Sequence

from workhorse.scoreboard import RequestSnapshot

#: Quiet time after the last byte of a report before it is complete.
SETTLE = 0.05
#: Request lines listed in one report (an event-loop worker may have hundreds).
MAX_LISTED = 10


def describe(pid: int, slot: int, blocked_after: float, requests: Sequence[RequestSnapshot],
             stacks: str, now: float) -> str:
    """The log record of one blocked-loop incident."""
    busy = sorted(requests, key=lambda r: r.started)
    listed = ", ".join(f"{r.request_line!r} {now - r.started:.1f}s"
                       for r in busy[:MAX_LISTED] if r.request_line)
    more = f" and {len(busy) - MAX_LISTED} more" if len(busy) > MAX_LISTED else ""
    flight = (f"{len(busy)} request(s) in flight: {listed}{more}" if busy
              else "no request in flight")
    return (f"LOOP BLOCKED (pid:{pid}, slot:{slot}): the event loop has not turned for "
            f"{blocked_after:g}s; every request of this worker waits meanwhile; {flight}.\n"
            f"Where the loop is stuck (the thread running it is the one in a view, a "
            f"callback or a greenlet):\n{stacks}")
