"""Build the status :class:`~workhorse.observe.schema.Snapshot` in the master.

Strategy: live figures come from the scoreboard (one consistent copy per
slot); cumulative counters must survive workers that come and go, so when
the master reaps a worker it folds that worker's final counters into
:class:`Ledger` before the slot is reused. Last-minute figures (rate,
percentiles) come from a ring of cumulative samples taken once a second:
the difference between the newest and the oldest sample is the last
minute's histogram, from which percentiles are interpolated within buckets.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from workhorse import __version__
from workhorse.observe.schema import (
    SCHEMA_VERSION,
    Histogram,
    ListenerInfo,
    Snapshot,
    ThreadInfo,
    Totals,
    WindowStats,
    WorkerInfo,
)
from workhorse.scoreboard import (
    BUSY_STATES,
    DURATION_BUCKETS,
    QUEUE_BUCKETS,
    CounterSums,
    RequestSnapshot,
    RequestState,
    Scoreboard,
    WorkerState,
    slot_char,
)

#: Length of the "last minute" window, and how often it is sampled.
WINDOW_SECONDS = 60.0
SAMPLE_EVERY = 1.0
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


@dataclass
class Counts:
    """Cumulative request counters, summed over request slots."""

    requests: int = 0
    by_class: list[int] = field(default_factory=lambda: [0] * 5)
    bytes_in: int = 0
    bytes_out: int = 0
    busy_seconds: float = 0.0
    duration_counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    duration_sum: float = 0.0
    queue_counts: list[int] = field(default_factory=lambda: [0] * (len(QUEUE_BUCKETS) + 1))
    queue_sum: float = 0.0
    queue_count: int = 0

    @classmethod
    def of(cls, sums: CounterSums) -> Counts:
        return cls(
            requests=sums.requests,
            by_class=list(sums.status_classes),
            bytes_in=sums.bytes_in,
            bytes_out=sums.bytes_out,
            busy_seconds=sums.duration_sum,
            duration_counts=list(sums.duration_buckets),
            duration_sum=sums.duration_sum,
            queue_counts=list(sums.queue_buckets),
            queue_sum=sums.queue_sum,
            queue_count=sums.queue_count,
        )

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            requests=self.requests + other.requests,
            by_class=_sum_lists(self.by_class, other.by_class),
            bytes_in=self.bytes_in + other.bytes_in,
            bytes_out=self.bytes_out + other.bytes_out,
            busy_seconds=self.busy_seconds + other.busy_seconds,
            duration_counts=_sum_lists(self.duration_counts, other.duration_counts),
            duration_sum=self.duration_sum + other.duration_sum,
            queue_counts=_sum_lists(self.queue_counts, other.queue_counts),
            queue_sum=self.queue_sum + other.queue_sum,
            queue_count=self.queue_count + other.queue_count,
        )


def _sum_lists(a: list[int], b: list[int]) -> list[int]:
    return [x + y for x, y in zip(a, b, strict=True)]


class Ledger:
    """Counters of workers that are gone, and the one-minute sample ring."""

    def __init__(self) -> None:
        self.retired = Counts()
        self.samples: deque[tuple[float, Counts]] = deque()
        self._next_sample = 0.0

    def retire(self, board: Scoreboard, slot: int) -> None:
        """Fold a reaped worker's counters in before its slot is reused."""
        self.retired = self.retired + self.live(board, [slot])

    def live(self, board: Scoreboard, slots: Iterable[int]) -> Counts:
        counts = Counts()
        for slot in slots:
            counts = counts + Counts.of(board.counter_sums(slot))
        return counts

    def total(self, board: Scoreboard, slots: Iterable[int]) -> Counts:
        return self.live(board, slots) + self.retired

    def sample(self, now: float, total: Callable[[], Counts]) -> None:
        if now < self._next_sample:
            return
        self._next_sample = now + SAMPLE_EVERY
        self.samples.append((now, total()))
        while self.samples and now - self.samples[0][0] > WINDOW_SECONDS:
            self.samples.popleft()


def percentile(bounds: tuple[float, ...], counts: list[int], q: float) -> float | None:
    """Estimate the q-quantile of a bucketed distribution by linear interpolation."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    lower = 0.0
    for index, count in enumerate(counts):
        upper = bounds[index] if index < len(bounds) else math.inf
        if count and seen + count >= rank:
            if upper == math.inf:
                return lower  # the open bucket: the best honest answer is its lower edge
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
        lower = upper
    return lower


def window_stats(samples: deque[tuple[float, Counts]], current: Counts, now: float) -> WindowStats:
    if samples:
        start_time, start = samples[0]
    else:
        start_time, start = now, current
    seconds = max(0.0, now - start_time)
    durations = [a - b for a, b in zip(current.duration_counts, start.duration_counts, strict=True)]
    queues = [a - b for a, b in zip(current.queue_counts, start.queue_counts, strict=True)]
    requests = current.requests - start.requests
    return WindowStats(
        seconds=round(seconds, 3),
        requests=requests,
        rps=round(requests / seconds, 3) if seconds > 0 else 0.0,
        duration_p50=percentile(DURATION_BUCKETS, durations, 0.50),
        duration_p90=percentile(DURATION_BUCKETS, durations, 0.90),
        duration_p99=percentile(DURATION_BUCKETS, durations, 0.99),
        queue_p50=percentile(QUEUE_BUCKETS, queues, 0.50),
        queue_p90=percentile(QUEUE_BUCKETS, queues, 0.90),
        queue_p99=percentile(QUEUE_BUCKETS, queues, 0.99),
    )


def histogram(bounds: tuple[float, ...], counts: list[int], total: float) -> Histogram:
    return Histogram(bounds=list(bounds), counts=list(counts), sum=total, count=sum(counts))


def totals(counts: Counts) -> Totals:
    return Totals(
        requests=counts.requests,
        by_status_class=dict(zip(STATUS_CLASSES, counts.by_class, strict=True)),
        bytes_in=counts.bytes_in,
        bytes_out=counts.bytes_out,
        duration=histogram(DURATION_BUCKETS, counts.duration_counts, counts.duration_sum),
        queue=histogram(QUEUE_BUCKETS, counts.queue_counts, counts.queue_sum),
        busy_seconds=round(counts.busy_seconds, 6),
    )


WORKER_STATE_NAMES = {WorkerState.BOOTING: "booting", WorkerState.READY: "ready",
                      WorkerState.STOPPING: "stopping", WorkerState.EMPTY: "gone"}
REQUEST_STATE_NAMES = {RequestState.IDLE: "idle", RequestState.READING: "reading",
                       RequestState.APP: "app", RequestState.WRITING: "writing"}


def thread_info(board: Scoreboard, request: RequestSnapshot, worker_state: WorkerState,
                now: float) -> ThreadInfo:
    busy = request.state in BUSY_STATES
    return ThreadInfo(
        thread=request.thread,
        slot_id=request.worker * board.threads + request.thread,
        state=REQUEST_STATE_NAMES[request.state],
        char=slot_char(worker_state, request.state),
        request=request.request_line if busy else "",
        client=request.client if busy else "",
        request_id=request.request_id if busy else "",
        elapsed=round(now - request.started, 3) if busy else None,
        deadline_in=round(request.deadline - now, 3) if busy and request.deadline else None,
        queue_time=request.queue_time if busy else None,
        requests=request.requests,
        last_status=request.last_status,
    )


def worker_info(board: Scoreboard, handle: Any, now: float) -> WorkerInfo:
    snap = board.read_worker(handle.slot)
    state = snap.state
    if handle.stopping and state == WorkerState.READY:
        state = WorkerState.STOPPING
    threads = [thread_info(board, board.read_request(handle.slot, t), state, now)
               for t in range(board.threads)]
    return WorkerInfo(
        slot=handle.slot,
        pid=handle.pid,
        generation=handle.generation,
        state=WORKER_STATE_NAMES.get(state, "booting"),
        age=round(now - handle.spawned, 3),
        heartbeat_age=round(max(0.0, now - snap.heartbeat), 3),
        rss_bytes=handle.rss,
        requests=sum(t["requests"] for t in threads),
        busy_seconds=round(sum(board.read_request(handle.slot, t).busy_seconds
                               for t in range(board.threads)), 6),
        connections=snap.connections,
        threads=threads,
    )


def build(arbiter: Any, listeners: list[ListenerInfo]) -> Snapshot:
    """The snapshot of the server right now."""
    board: Scoreboard = arbiter.board
    now = time.monotonic()
    handles = sorted(arbiter.worker_handles(), key=lambda h: h.slot)
    workers = [worker_info(board, handle, now) for handle in handles]
    current = arbiter.ledger.total(board, [h.slot for h in handles])
    ready_threads = [t for w in workers if w["state"] == "ready" for t in w["threads"]]
    busy = sum(1 for w in workers for t in w["threads"] if t["state"] != "idle")
    idle = sum(1 for t in ready_threads if t["state"] == "idle")
    counters = arbiter.counters
    backoff = arbiter.backoff
    return Snapshot(
        schema=SCHEMA_VERSION,
        taken_at=time.time(),
        server={
            "pid": arbiter.pid,
            "version": __version__,
            "started_at": arbiter.started_at,
            "uptime": round(time.time() - arbiter.started_at, 3),
            "proc_name": str(arbiter.cfg.proc_name_or_default),
            "worker_class": str(arbiter.cfg.worker_class_name),
            "threads": board.threads,
            "timeout": float(arbiter.cfg.timeout or 0),
            "generation": arbiter.generation,
            "reexec_pid": arbiter.reexec_pid,
        },
        summary={
            "target_workers": arbiter.num_workers,
            "workers_alive": len(workers),
            "workers_booting": sum(1 for w in workers if w["state"] == "booting"),
            "workers_ready": sum(1 for w in workers if w["state"] == "ready"),
            "workers_stopping": sum(1 for w in workers if w["state"] == "stopping"),
            "slots_total": len(ready_threads),
            "busy": busy,
            "idle": idle,
            "busy_ratio": round(busy / (busy + idle), 4) if busy + idle else None,
            "restarts": {str(cause): count for cause, count in counters.restarts.items()},
            "timeouts": counters.timeouts + sum(
                board.read_worker(h.slot).own_timeouts for h in handles),
            "loops_blocked": counters.loops_blocked,
            "shed": counters.shed + sum(board.read_worker(h.slot).shed for h in handles),
            "answered_504": counters.answered_504,
            "answered_503": counters.answered_503 + arbiter.unavailable.answered,
            "draining": arbiter.draining,
            "unable_to_boot_for": (round(arbiter.unable_to_boot_for, 3)
                                   if arbiter.unable_to_boot_for is not None else None),
            "boot_failures_in_a_row": backoff.failures,
            "next_spawn_in": (round(max(0.0, backoff.next_spawn_at - now), 3)
                              if backoff.failing else None),
        },
        window=window_stats(arbiter.ledger.samples, current, now),
        totals=totals(current),
        listeners=listeners,
        map="".join(t["char"] for w in workers for t in w["threads"]),
        workers=workers,
    )
