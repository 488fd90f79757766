"""The ring of the last minutes that the status page plots."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from workhorse.observe.history import (
    SAMPLE_SECONDS,
    SPAN_SECONDS,
    HistorySampler,
    percentile,
    point_between,
    significant,
)
from workhorse.observe.schema import Snapshot

SnapshotFactory = Callable[[], Snapshot]


def later(snapshot: Snapshot, seconds: float, *, requests: dict[str, int] | None = None,
          durations: dict[int, int] | None = None, restarts: dict[str, int] | None = None,
          timeouts: int = 0) -> Snapshot:
    """``snapshot`` ``seconds`` later, with what happened in between added to its counters."""
    after = copy.deepcopy(snapshot)
    after["taken_at"] += seconds
    totals, summary = after["totals"], after["summary"]
    for status_class, count in (requests or {}).items():
        totals["by_status_class"][status_class] += count
        totals["requests"] += count
    for bucket, count in (durations or {}).items():
        totals["duration"]["counts"][bucket] += count
    for cause, count in (restarts or {}).items():
        summary["restarts"][cause] += count
    summary["timeouts"] += timeouts
    return after


def test_a_point_says_what_happened_in_its_interval(snapshot: SnapshotFactory) -> None:
    before = snapshot()
    after = later(before, 2.0, requests={"2xx": 30, "5xx": 4}, durations={0: 17, 2: 17},
                  restarts={"timeout": 1, "crash": 2}, timeouts=1)
    point = point_between(before, after, 2.0)
    assert point.at == round(after["taken_at"], 3)
    assert point.rps == (0.0, 15.0, 0.0, 0.0, 2.0)
    # 34 requests: half below 5 ms, half in the 10-25 ms bucket.
    assert point.duration_p50 == pytest.approx(0.005)
    assert 0.01 < (point.duration_p99 or 0) <= 0.025
    assert point.queue_p50 is None and point.queue_p99 is None  # no queue time measured
    assert point.restarts == (("crash", 2), ("timeout", 1))
    assert point.timeouts == 1
    assert (point.busy, point.idle, point.busy_ratio) == (3, 3, 0.5)
    assert point.backlog == 3  # 3 + 0 over the two listeners


def test_unknown_backlog_is_not_zero(snapshot: SnapshotFactory) -> None:
    before = snapshot()
    for listener in before["listeners"]:
        listener["queued"] = None
    assert point_between(before, later(before, 2.0), 2.0).backlog is None


def test_counters_that_went_down_count_as_nothing(snapshot: SnapshotFactory) -> None:
    """A snapshot of another master (lower counters) must not plot negative rates."""
    before = later(snapshot(), 0.0, requests={"2xx": 100}, durations={3: 100},
                   restarts={"crash": 1}, timeouts=2)
    point = point_between(before, later(snapshot(), 2.0), 2.0)
    assert point.rps == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert point.duration_p50 is None
    assert point.restarts == () and point.timeouts == 0


def test_percentile_interpolates_within_a_bucket(snapshot: SnapshotFactory) -> None:
    histogram = snapshot()["totals"]["queue"]  # bounds 0.001, 0.005, 0.01, ...
    counts = [0] * len(histogram["counts"])
    counts[1] = 10  # all ten between 1 ms and 5 ms
    assert percentile(histogram, counts, 0.5) == pytest.approx(0.003)
    counts[-1] = 90  # most above the last bound: the open bucket's lower edge
    assert percentile(histogram, counts, 0.99) == histogram["bounds"][-1]
    assert percentile(histogram, [0] * len(counts), 0.5) is None


@pytest.mark.parametrize(("value", "expected"), [
    (0.0, 0.0), (1234.5678, 1235.0), (0.000123456, 0.0001235), (15.0, 15.0), (-2.34567, -2.346),
])
def test_significant_digits(value: float, expected: float) -> None:
    assert significant(value) == expected


class Master:
    """Hands out a new snapshot on each call, as the arbiter does; counts the calls."""

    def __init__(self, first: Snapshot) -> None:
        self.current = first
        self.calls = 0
        self.log = RecordingLog()

    def snapshot(self) -> Snapshot:
        self.calls += 1
        return self.current


class RecordingLog:
    def __init__(self) -> None:
        self.exceptions: list[str] = []

    def exception(self, msg: str, *args: Any) -> None:
        self.exceptions.append(msg % args if args else msg)


def test_the_sampler_samples_once_per_interval(snapshot: SnapshotFactory) -> None:
    master = Master(snapshot())
    sampler = HistorySampler(interval=2.0, span=600.0)
    for now in (100.0, 100.5, 101.9):  # the master ticks often; one sample per interval
        sampler.tick(master, now)  # type: ignore[arg-type]
    assert master.calls == 1
    assert list(sampler.points) == []  # the first sample is a starting point only
    master.current = later(master.current, 2.0, requests={"2xx": 8})
    sampler.tick(master, 102.0)  # type: ignore[arg-type]
    assert master.calls == 2
    assert [point.rps[1] for point in sampler.points] == [4.0]


def test_the_ring_is_bounded_and_keeps_the_newest(snapshot: SnapshotFactory) -> None:
    sampler = HistorySampler(interval=2.0, span=10.0)
    current = snapshot()
    for step in range(12):
        current = later(current, 2.0, requests={"2xx": step})
        sampler.add(current, 2.0 * step)
    assert len(sampler.points) == 5  # span / interval
    assert [point.rps[1] for point in sampler.points] == [3.5, 4.0, 4.5, 5.0, 5.5]


def test_defaults_hold_ten_minutes_every_two_seconds() -> None:
    sampler = HistorySampler()
    assert (SAMPLE_SECONDS, SPAN_SECONDS) == (2.0, 600.0)
    assert sampler.points.maxlen == 300


def test_the_document_is_columns_of_equal_length(snapshot: SnapshotFactory) -> None:
    sampler = HistorySampler()
    first = snapshot()
    sampler.add(first, 0.0)
    second = later(first, 2.0, requests={"2xx": 10, "4xx": 2}, restarts={"crash": 1})
    sampler.add(second, 2.0)
    third = later(second, 2.0, timeouts=1, restarts={"timeout": 1})
    sampler.add(third, 4.0)
    doc = sampler.document()
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc
    assert (doc["schema"], doc["interval"], doc["span"]) == (1, 2.0, 600.0)
    columns = [doc["at"], doc["busy"], doc["idle"], doc["busy_ratio"], doc["duration_p50"],
               doc["duration_p99"], doc["queue_p50"], doc["queue_p99"], doc["backlog"],
               *doc["rps"].values()]
    assert {len(column) for column in columns} == {2}
    assert doc["rps"]["2xx"] == [5.0, 0.0] and doc["rps"]["4xx"] == [1.0, 0.0]
    assert doc["events"] == [
        {"at": round(second["taken_at"], 3), "kind": "restart", "cause": "crash", "count": 1},
        {"at": round(third["taken_at"], 3), "kind": "restart", "cause": "timeout", "count": 1},
        {"at": round(third["taken_at"], 3), "kind": "timeout", "cause": "", "count": 1},
    ]


def test_a_failing_snapshot_is_logged_not_raised(snapshot: SnapshotFactory) -> None:
    class Broken(Master):
        def snapshot(self) -> Snapshot:
            raise RuntimeError("scoreboard gone")

    master = Broken(snapshot())
    sampler = HistorySampler()
    sampler.tick(master, 1.0)  # type: ignore[arg-type]
    assert master.log.exceptions == ["status history: cannot take a sample"]
    assert sampler.fds() == []
