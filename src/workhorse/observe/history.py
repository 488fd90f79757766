"""The last minutes of the server, kept by the master for the status page's plots.

Strategy: a snapshot says how things are now and how many requests there
have been since the master started; a plot needs how things went. So, as a
master plugin, :class:`HistorySampler` takes the snapshot every
``interval`` seconds on the master's tick and keeps one :class:`Point` per
interval: the gauges as they are (busy and idle slots, the listen queues)
and, from the difference with the previous snapshot's cumulative counters,
what happened in between (requests per second by status class, duration
and queue-time percentiles, restarts by cause, timeouts).

The ring is bounded (``span / interval`` points, 300 by default: ten
minutes every two seconds, a few hundred bytes each) and lives in memory
only: a new master (``USR2``) starts with an empty history, as its counters
start at zero. Sampling reads the scoreboard once every two seconds, only
when the metrics listener is on (the page is served there).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from workhorse.observe.contract import MasterControl
from workhorse.observe.schema import (
    HISTORY_SCHEMA_VERSION,
    Histogram,
    History,
    HistoryEvent,
    Snapshot,
)

#: Seconds between samples: twice the status page's refresh is fine for a plot.
SAMPLE_SECONDS = 2.0
#: How far back the plots go.
SPAN_SECONDS = 600.0
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
#: Kept figures are rounded to this many significant digits (the JSON stays small).
DIGITS = 4


@dataclass(frozen=True, slots=True)
class Point:
    """One interval: the gauges at its end and what happened during it."""

    at: float
    busy: int
    idle: int
    busy_ratio: float | None
    rps: tuple[float, ...]  # in STATUS_CLASSES order
    duration_p50: float | None
    duration_p99: float | None
    queue_p50: float | None
    queue_p99: float | None
    backlog: int | None
    restarts: tuple[tuple[str, int], ...]  # causes with restarts in this interval
    timeouts: int


def percentile(histogram: Histogram, counts: list[int], q: float) -> float | None:
    """The q-quantile of ``counts`` over ``histogram``'s buckets, interpolated within one.

    The same estimate as the snapshot's last-minute percentiles; an
    observation in the open last bucket gives that bucket's lower edge.
    """
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    lower = 0.0
    for index, count in enumerate(counts):
        bounds = histogram["bounds"]
        upper = bounds[index] if index < len(bounds) else math.inf
        if count and seen + count >= rank:
            if upper == math.inf:
                return lower
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
        lower = upper
    return lower


def significant(value: float) -> float:
    """``value`` rounded to DIGITS significant digits."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, DIGITS - 1 - math.floor(math.log10(abs(value))))


def rounded(value: float | None) -> float | None:
    """:func:`significant`, with None (unknown) kept as it is."""
    return None if value is None else significant(value)


def _delta(now: list[int], before: list[int]) -> list[int]:
    # Counters only grow within one master; a negative difference would mean
    # a different master's snapshot, and is read as "nothing happened".
    return [max(0, a - b) for a, b in zip(now, before, strict=True)]


def _histogram_delta(now: Histogram, before: Histogram) -> list[int]:
    if now["bounds"] != before["bounds"]:
        return [0] * len(now["counts"])
    return _delta(now["counts"], before["counts"])


def backlog(snapshot: Snapshot) -> int | None:
    """Connections waiting over all listeners; None when no listener's queue is known."""
    known = [listener["queued"] for listener in snapshot["listeners"]
             if listener["queued"] is not None]
    return sum(known) if known else None


def point_between(before: Snapshot, now: Snapshot, seconds: float) -> Point:
    """The point for the interval of ``seconds`` that ends with ``now``."""
    summary, totals, old = now["summary"], now["totals"], before["totals"]
    by_class = _delta([totals["by_status_class"].get(c, 0) for c in STATUS_CLASSES],
                      [old["by_status_class"].get(c, 0) for c in STATUS_CLASSES])
    durations = _histogram_delta(totals["duration"], old["duration"])
    queues = _histogram_delta(totals["queue"], old["queue"])
    restarts = tuple((cause, count - before["summary"]["restarts"].get(cause, 0))
                     for cause, count in sorted(summary["restarts"].items())
                     if count > before["summary"]["restarts"].get(cause, 0))
    return Point(
        at=round(now["taken_at"], 3),
        busy=summary["busy"],
        idle=summary["idle"],
        busy_ratio=summary["busy_ratio"],
        rps=tuple(significant(n / seconds) for n in by_class),
        duration_p50=rounded(percentile(totals["duration"], durations, 0.50)),
        duration_p99=rounded(percentile(totals["duration"], durations, 0.99)),
        queue_p50=rounded(percentile(totals["queue"], queues, 0.50)),
        queue_p99=rounded(percentile(totals["queue"], queues, 0.99)),
        backlog=backlog(now),
        restarts=restarts,
        timeouts=max(0, summary["timeouts"] - before["summary"]["timeouts"]),
    )


def _events(point: Point) -> list[HistoryEvent]:
    events = [HistoryEvent(at=point.at, kind="restart", cause=cause, count=count)
              for cause, count in point.restarts]
    if point.timeouts:
        events.append(HistoryEvent(at=point.at, kind="timeout", cause="", count=point.timeouts))
    return events


class HistorySampler:
    """A master plugin keeping the last ``span`` seconds, one point every ``interval``."""

    def __init__(self, *, interval: float = SAMPLE_SECONDS, span: float = SPAN_SECONDS) -> None:
        self.interval = interval
        self.span = span
        self.points: deque[Point] = deque(maxlen=max(1, round(span / interval)))
        self._previous: Snapshot | None = None
        self._previous_at = 0.0
        self._next = 0.0

    # --- the plugin interface -------------------------------------------------------
    def start(self, arbiter: MasterControl) -> None:
        """Nothing to open; the first tick takes the starting sample."""

    def tick(self, arbiter: MasterControl, now: float) -> None:
        if now < self._next:
            return
        self._next = now + self.interval
        try:
            self.add(arbiter.snapshot(), now)
        except Exception:
            arbiter.log.exception("status history: cannot take a sample")

    def worker_exited(self, arbiter: MasterControl, handle: object, cause: str) -> None:
        """Restarts are counted in the snapshot; the next sample sees them."""

    def fds(self) -> list[int]:
        return []

    def stop(self, arbiter: MasterControl) -> None:
        """Nothing to close."""

    # --- the ring ----------------------------------------------------------------------
    def add(self, snapshot: Snapshot, now: float) -> None:
        """Take ``snapshot``, taken at monotonic time ``now``, as the next sample."""
        previous, seconds = self._previous, now - self._previous_at
        self._previous, self._previous_at = snapshot, now
        if previous is not None and seconds > 0:
            self.points.append(point_between(previous, snapshot, seconds))

    def document(self) -> History:
        """The ring as the columns the status page plots (schema: ``History``)."""
        points = list(self.points)
        return History(
            schema=HISTORY_SCHEMA_VERSION,
            interval=self.interval,
            span=self.span,
            at=[p.at for p in points],
            busy=[p.busy for p in points],
            idle=[p.idle for p in points],
            busy_ratio=[p.busy_ratio for p in points],
            rps={c: [p.rps[i] for p in points] for i, c in enumerate(STATUS_CLASSES)},
            duration_p50=[p.duration_p50 for p in points],
            duration_p99=[p.duration_p99 for p in points],
            queue_p50=[p.queue_p50 for p in points],
            queue_p99=[p.queue_p99 for p in points],
            backlog=[p.backlog for p in points],
            events=[event for p in points for event in _events(p)],
        )
