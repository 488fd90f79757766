"""Server-wide gauges to StatsD, sent by the master once a second.

Strategy: the per-request metrics come from each worker's logger (see
:mod:`workhorse.logs.statsd`); what only the master knows (how many workers
there are and what they are doing, how long the listen queues are) is read
from the same snapshot as every other view and sent here as gauges. Names:

- Gunicorn's: ``gunicorn.workers`` (a gauge) and, with
  ``enable_backlog_metric``, ``gunicorn.backlog`` (a histogram, as Gunicorn
  sends it: the sum of the listen queues);
- ours: ``workhorse.workers.busy`` / ``.idle`` / ``.booting`` (request slots
  busy and idle, workers booting), ``workhorse.backlog`` (the sum of the
  listen queues, always), ``workhorse.listen_queue.<listener>`` and
  ``workhorse.listen_queue_limit.<listener>`` per listener, and
  ``workhorse.request.queue_time`` (the last minute's median queue time, ms).

The sink is any object with ``gauge`` and ``histogram`` (the master passes a
:class:`workhorse.logs.statsd.StatsdClient` of its own; ``observe`` does not
import ``logs``), and sending never blocks: a lost datagram is a lost sample.
"""

from __future__ import annotations

import re
from typing import Protocol

from workhorse.observe.contract import MasterControl
from workhorse.observe.schema import Snapshot

#: Gauges are sampled at the master's tick rate; StatsD agents flush every 10 s.
INTERVAL = 1.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class StatsdSink(Protocol):
    def gauge(self, name: str, value: float) -> None: ...

    def histogram(self, name: str, value: float) -> None: ...

    def fileno(self) -> int | None: ...

    def close(self) -> None: ...


def listener_key(address: str) -> str:
    """A listener's address as one StatsD name component: "127.0.0.1:8000" -> "127_0_0_1_8000"."""
    return _UNSAFE.sub("_", address).strip("_") or "unknown"


def gauges(snapshot: Snapshot) -> list[tuple[str, float]]:
    """Our gauges and Gunicorn's ``gunicorn.workers`` for one snapshot."""
    summary = snapshot["summary"]
    found: list[tuple[str, float]] = [
        ("gunicorn.workers", summary["workers_alive"]),
        ("workhorse.workers.busy", summary["busy"]),
        ("workhorse.workers.idle", summary["idle"]),
        ("workhorse.workers.booting", summary["workers_booting"]),
        ("workhorse.backlog", backlog(snapshot)),
    ]
    for listener in snapshot["listeners"]:
        key = listener_key(listener["address"])
        if listener["queued"] is not None:
            found.append((f"workhorse.listen_queue.{key}", listener["queued"]))
        if listener["limit"] is not None:
            found.append((f"workhorse.listen_queue_limit.{key}", listener["limit"]))
    queue_p50 = snapshot["window"]["queue_p50"]
    if queue_p50 is not None:
        found.append(("workhorse.request.queue_time", round(queue_p50 * 1000.0, 3)))
    return found


def backlog(snapshot: Snapshot) -> int:
    """Connections waiting over all listeners (unknown ones count as none, as in Gunicorn)."""
    return sum(listener["queued"] or 0 for listener in snapshot["listeners"])


class StatsdReporter:
    """The master plugin that sends the gauges every ``interval`` seconds."""

    def __init__(self, sink: StatsdSink, *, backlog_metric: bool = False,
                 interval: float = INTERVAL) -> None:
        self.sink = sink
        self.backlog_metric = backlog_metric
        self.interval = interval
        self._next = 0.0

    def start(self, arbiter: MasterControl) -> None:
        """Nothing to open: the sink's socket exists already."""

    def tick(self, arbiter: MasterControl, now: float) -> None:
        if now < self._next:
            return
        self._next = now + self.interval
        try:
            self.report(arbiter.snapshot())
        except Exception:
            arbiter.log.exception("StatsD: cannot report the server's gauges")

    def report(self, snapshot: Snapshot) -> None:
        for name, value in gauges(snapshot):
            self.sink.gauge(name, value)
        if self.backlog_metric:
            self.sink.histogram("gunicorn.backlog", backlog(snapshot))

    def worker_exited(self, arbiter: MasterControl, handle: object, cause: str) -> None:
        """Restarts are in the snapshot's counters; nothing to send per exit."""

    def fds(self) -> list[int]:
        fd = self.sink.fileno()
        return [] if fd is None else [fd]

    def stop(self, arbiter: MasterControl) -> None:
        self.sink.close()
