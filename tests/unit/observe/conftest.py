"""Fixtures for the observe tests: a realistic snapshot, a stand-in master, a loop.

The stand-in master is not a mock of the operating system: it owns a real
selector and answers the MasterControl calls by recording them, and
``serve`` runs the same select-dispatch-tick loop as the real master in a
thread, so plugins work on real sockets while the test plays the client.
"""

from __future__ import annotations

import copy
import selectors
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from workhorse.observe.schema import Snapshot, ThreadInfo, WorkerInfo

CAUSES = ("timeout", "boot_timeout", "frozen", "crash", "boot_failure", "max_requests",
          "memory", "reload", "scale_down", "killed")


def _thread(slot: int, thread: int, state: str, char: str, request: str = "",
            elapsed: float | None = None, requests: int = 0) -> ThreadInfo:
    busy = state != "idle"
    return ThreadInfo(
        thread=thread, slot_id=slot * 2 + thread, state=state, char=char, request=request,
        client="192.0.2.7:51234" if busy else "", request_id="7f3a9c" if busy else "",
        elapsed=elapsed, deadline_in=(30.0 - elapsed) if elapsed is not None else None,
        queue_time=0.0004 if busy else None, requests=requests, last_status=200,
    )


def _worker(slot: int, pid: int, state: str, threads: list[ThreadInfo], *, age: float,
            rss: int, busy_seconds: float) -> WorkerInfo:
    return WorkerInfo(
        slot=slot, pid=pid, generation=2, state=state, age=age, heartbeat_age=0.4,
        rss_bytes=rss, requests=sum(t["requests"] for t in threads), busy_seconds=busy_seconds,
        connections=sum(1 for t in threads if t["state"] != "idle"), threads=threads,
    )


def make_snapshot() -> Snapshot:
    """A gthread server with 2 threads per worker: 3 ready workers and 1 booting."""
    workers = [
        _worker(0, 4250, "ready", [
            _thread(0, 0, "app", "A", "GET /reports/annual?year=2026&format=pdf HTTP/1.1",
                    12.3, 1042),
            _thread(0, 1, "idle", "_", requests=998),
        ], age=7380.0, rss=85_196_800, busy_seconds=812.5),
        _worker(1, 4251, "ready", [
            _thread(1, 0, "reading", "R", "POST /api/orders HTTP/1.1", 0.004, 1530),
            _thread(1, 1, "writing", "W", "GET /static/app.js HTTP/1.1", 0.21, 1497),
        ], age=7379.5, rss=79_691_776, busy_seconds=120.25),
        _worker(2, 4312, "ready", [
            _thread(2, 0, "idle", "_", requests=12),
            _thread(2, 1, "idle", "_", requests=9),
        ], age=95.0, rss=61_865_984, busy_seconds=0.75),
        _worker(3, 4400, "booting", [
            _thread(3, 0, "idle", "S"),
            _thread(3, 1, "idle", "S"),
        ], age=1.5, rss=30_408_704, busy_seconds=0.0),
    ]
    duration_counts = [1200, 2100, 2400, 1800, 1100, 600, 420, 300, 150, 80, 40, 30, 10, 1]
    queue_counts = [9000, 700, 200, 120, 80, 50, 30, 20, 10, 8, 6, 5, 2]
    return Snapshot(
        schema=1,
        taken_at=1767233000.5,
        server={"pid": 4242, "version": "0.1.0", "started_at": 1767225616.25,
                "uptime": 7384.25, "proc_name": "shop", "worker_class": "gthread",
                "threads": 2, "timeout": 30.0, "generation": 2, "reexec_pid": 0},
        summary={"target_workers": 4, "workers_alive": 4, "workers_booting": 1,
                 "workers_ready": 3, "workers_stopping": 0, "slots_total": 6, "busy": 3,
                 "idle": 3, "busy_ratio": 0.5,
                 "restarts": {**dict.fromkeys(CAUSES, 0), "timeout": 2, "crash": 1,
                              "max_requests": 14},
                 "timeouts": 2, "loops_blocked": 1, "answered_504": 2, "answered_503": 0,
                 "boot_failures_in_a_row": 0, "next_spawn_in": None},
        window={"seconds": 60.0, "requests": 744, "rps": 12.4, "duration_p50": 0.012,
                "duration_p90": 0.08, "duration_p99": 1.2, "queue_p50": 0.0004,
                "queue_p90": 0.002, "queue_p99": 0.04},
        totals={"requests": sum(duration_counts),
                "by_status_class": {"1xx": 0, "2xx": 9800, "3xx": 131, "4xx": 260, "5xx": 40},
                "bytes_in": 4_812_300, "bytes_out": 912_004_512,
                "duration": {"bounds": [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                                        10.0, 30.0, 60.0],
                             "counts": duration_counts, "sum": 1534.75,
                             "count": sum(duration_counts)},
                "queue": {"bounds": [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                                     5.0, 10.0],
                          "counts": queue_counts, "sum": 41.5, "count": sum(queue_counts)},
                "busy_seconds": 2301.5},
        listeners=[
            {"address": "127.0.0.1:8000", "kind": "tcp", "queued": 3, "limit": 2048},
            {"address": "unix:/run/shop/app.sock", "kind": "unix", "queued": 0, "limit": 128},
        ],
        map="A_RW__SS",
        workers=workers,
    )


@pytest.fixture
def snapshot() -> Callable[[], Snapshot]:
    """``snapshot()`` returns a fresh copy of the realistic fixture."""
    return lambda: copy.deepcopy(make_snapshot())


class RecordingLog:
    """Collects log lines (level, formatted message) from the loop thread."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def _add(self, level: str, msg: str, *args: Any, **kwargs: Any) -> None:
        self.lines.append((level, msg % args if args else msg))

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._add("debug", msg, *args)

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._add("info", msg, *args)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._add("warning", msg, *args)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._add("error", msg, *args)

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._add("exception", msg, *args)

    def text(self, level: str) -> str:
        return "\n".join(message for lvl, message in self.lines if lvl == level)


class StandInMaster:
    """Satisfies workhorse.observe.contract.MasterControl; records what it is asked."""

    def __init__(self, snap: Snapshot) -> None:
        self.selector: selectors.BaseSelector = selectors.DefaultSelector()
        self.log = RecordingLog()
        self.num_workers = snap["summary"]["target_workers"]
        self.calls: list[Any] = []
        self.current = snap

    def snapshot(self) -> Snapshot:
        return self.current

    def reload(self) -> None:
        self.calls.append("reload")

    def set_num_workers(self, count: int) -> None:
        self.calls.append(("scale", count))
        self.num_workers = count

    def stop(self, *, graceful: bool) -> None:
        self.calls.append(("stop", graceful))

    def reopen_logs(self) -> None:
        self.calls.append("reopen")


@pytest.fixture
def master(snapshot: Callable[[], Snapshot]) -> Iterator[StandInMaster]:
    stand_in = StandInMaster(snapshot())
    yield stand_in
    stand_in.selector.close()


Serve = Callable[..., Any]


@pytest.fixture
def serve() -> Serve:
    """``with serve(master, plugin, ...):`` starts the plugins and runs the loop in a thread."""

    @contextmanager
    def run(master: StandInMaster, *plugins: Any) -> Iterator[None]:
        for plugin in plugins:
            plugin.start(master)
        done = threading.Event()
        failures: list[BaseException] = []

        def loop() -> None:
            try:
                while not done.is_set():
                    for key, _ in master.selector.select(0.02):
                        key.data()
                    now = time.monotonic()
                    for plugin in plugins:
                        plugin.tick(master, now)
            except BaseException as exc:  # surfaced in the test below
                failures.append(exc)

        thread = threading.Thread(target=loop, name="master-loop", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(5)
            for plugin in plugins:
                plugin.stop(master)
        assert not failures, failures

    return run


def wait_until(predicate: Callable[[], Any], timeout: float = 3.0) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)


@pytest.fixture
def until() -> Callable[..., Any]:
    return wait_until
