"""The scoreboard's slots: what a writer stores is what a reader gets, and never half of it.

Every request-slot test runs against both writers: the C one (what an
install with a compiler runs) and the pure-Python one (the fallback), and
the readers must not be able to tell them apart except for when counters
appear. The protocol test runs the writer in a real forked process that
changes its request slot as fast as it can, while this process reads the
same shared memory, as the master does.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from workhorse.scoreboard import (
    DURATION_BUCKETS,
    SLOT_WRITER,
    ExitReason,
    RequestSlot,
    RequestSlotWriter,
    RequestSnapshot,
    RequestState,
    Scoreboard,
    WorkerState,
)
from workhorse.scoreboard import board as board_module
from workhorse.scoreboard.board import (
    CLIENT_MAX,
    FLUSH_INTERVAL,
    LINE_MAX,
    REQUEST_SLOT_SIZE,
    RID_MAX,
    WORD,
)

assert FLUSH_INTERVAL < 3.0  # the counter test's last request must flush

WriterFor = Callable[[int, int], RequestSlot]


@pytest.fixture
def board() -> Scoreboard:
    board = Scoreboard(worker_capacity=2, threads=2)
    board.prepare_worker(0, generation=1)
    board.prepare_worker(1, generation=1)
    return board


def stored(board: Scoreboard, index: int = 0, thread: int = 0) -> RequestSnapshot:
    """A slot's snapshot without started_wall, which is derived from the clocks at read time."""
    return dataclasses.replace(board.read_request(index, thread), started_wall=0.0)


def c_writer_for(board: Scoreboard) -> WriterFor:
    """The C writer, explicitly; the test environment always builds it (gcc is installed)."""
    try:
        from workhorse.scoreboard._slotwriter import SlotWriter
    except ImportError as exc:
        pytest.fail(f"the C slot writer was not built: {exc}")
    return lambda index, thread: SlotWriter(board._raw, board.request_base(index, thread) * WORD)


def writer_factory(kind: str, board: Scoreboard) -> WriterFor:
    if kind == "c":
        return c_writer_for(board)
    return functools.partial(RequestSlotWriter, board)


@pytest.fixture(params=["c", "python"])
def writer_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def writer_for(writer_kind: str, board: Scoreboard) -> WriterFor:
    return writer_factory(writer_kind, board)


def test_the_server_uses_the_c_writer() -> None:
    """What the workers run: the C writer unless told otherwise (see _load_c_module)."""
    if os.environ.get("WORKHORSE_PURE_PYTHON"):
        assert SLOT_WRITER.startswith("python")
    else:
        assert SLOT_WRITER == "c"
        board = Scoreboard(worker_capacity=1, threads=1)
        assert type(board.request_writer(0, 0)).__name__ == "SlotWriter"


def test_the_c_writer_refuses_a_slot_outside_or_across_its_buffer(board: Scoreboard) -> None:
    from workhorse.scoreboard._slotwriter import SlotWriter

    for offset in (len(board._raw), len(board._raw) - WORD, -WORD, sys.maxsize - 7,
                   board.request_base(0, 0) * WORD + 4):
        with pytest.raises(ValueError, match="no aligned request slot"):
            SlotWriter(board._raw, offset)
    with pytest.raises(BufferError, match="not writable"):
        SlotWriter(b"read-only bytes", 0)


def test_a_c_writer_whose_first_init_failed_can_still_be_initialised(board: Scoreboard) -> None:
    from workhorse.scoreboard._slotwriter import SlotWriter

    writer: Any = SlotWriter.__new__(SlotWriter)  # type: ignore[attr-defined]
    with pytest.raises(BufferError):
        writer.__init__(memoryview(b"read-only"), 0)
    writer.__init__(board._raw, board.request_base(0, 0) * WORD)
    writer.begin(3, b"c", 1.0, 2.0)
    assert board.read_request(0, 0).state == RequestState.READING
    with pytest.raises(RuntimeError, match="already initialised"):
        writer.__init__(board._raw, board.request_base(0, 0) * WORD)


def test_a_refused_call_mid_request_leaves_the_slot_as_it_was(board: Scoreboard) -> None:
    writer: Any = c_writer_for(board)(0, 0)
    writer.begin(3, b"c", 1.0, 2.0)
    before = stored(board)
    with pytest.raises(TypeError, match="expected bytes, got str"):
        writer.in_app(b"GET / HTTP/1.1", "not bytes", None)
    with pytest.raises(TypeError, match="takes 3 arguments"):
        writer.in_app(b"GET / HTTP/1.1", b"x")
    with pytest.raises(TypeError, match="must be real number"):
        writer.in_app(b"GET / HTTP/1.1", b"x", "0.5")
    assert stored(board) == before
    writer.in_app(b"GET / HTTP/1.1", b"x", None)
    before = stored(board)
    with pytest.raises(TypeError):
        writer.end(200, 1.5, 0, "20")
    with pytest.raises(TypeError):
        writer.begin(3, "c", 1.0, 2.0)
    assert stored(board) == before


@pytest.mark.parametrize("status", [200, 0, 99, 100, 599, 600, -1, 1000])
def test_both_writers_leave_the_same_slot(status: int) -> None:
    """Fed the same requests, the C and the Python writer are indistinguishable to a reader.

    Durations and queue times sit exactly on bucket bounds and beyond both
    ends; statuses include ones outside every class; one client is empty.
    """
    snapshots = {}
    for kind in ("c", "python"):
        board = Scoreboard(worker_capacity=1, threads=1)
        board.prepare_worker(0, generation=1)
        writer = writer_factory(kind, board)(0, 0)
        for bound in (0.0, *DURATION_BUCKETS, 61.0, math.inf):
            writer.begin(4, b"" if bound else b"192.0.2.1:80", 0.0, 30.0)
            writer.in_app(b"GET / HTTP/1.1", b"id", bound if bound < 20 else None)
            writer.end(status, bound, 7, 9)
        writer.begin(4, b"c", 0.0, 30.0)
        writer.abandon()
        writer.flush()
        snapshots[kind] = stored(board)
    # Sums of floats may differ in the last bit (Python 3.12's sum() compensates).
    sums = ("duration_sum", "busy_seconds", "queue_sum")
    c, python = (dataclasses.replace(snapshots[kind], **dict.fromkeys(sums, 0.0))
                 for kind in ("c", "python"))
    assert c == python
    for name in sums:
        assert getattr(snapshots["c"], name) == pytest.approx(getattr(snapshots["python"], name))
    assert snapshots["c"].requests == len(DURATION_BUCKETS) + 3


@pytest.mark.parametrize("method,args", [
    ("begin", {"fd": 3, "client": b"c", "now": 1.0, "deadline": 2.0}),
    ("flush", {"now": 1.0}),
])
def test_the_c_writer_takes_positional_arguments_only(board: Scoreboard, method: str,
                                                       args: dict[str, object]) -> None:
    """As the RequestSlot protocol declares, so no caller can come to depend on keywords."""
    writer = c_writer_for(board)(0, 0)
    with pytest.raises(TypeError, match="keyword"):
        getattr(writer, method)(**args)


def test_a_stale_or_disabled_c_writer_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    from workhorse.scoreboard import _slotwriter, board

    monkeypatch.delenv("WORKHORSE_PURE_PYTHON", raising=False)
    assert board._load_c_module() == (_slotwriter, "")
    monkeypatch.setenv("WORKHORSE_PURE_PYTHON", "0")
    assert board._load_c_module() == (_slotwriter, "")
    monkeypatch.setitem(_slotwriter.LAYOUT, "REQUEST_SLOT_SIZE", 1024)
    assert board._load_c_module() == (
        None, "the C writer is a stale build: its slot layout differs")
    monkeypatch.setenv("WORKHORSE_PURE_PYTHON", "1")
    assert board._load_c_module() == (None, "WORKHORSE_PURE_PYTHON is set")


def test_a_request_is_visible_at_each_step(board: Scoreboard, writer_for: WriterFor) -> None:
    writer = writer_for(0, 1)
    writer.begin(7, b"192.0.2.7:51234", 100.0, 130.0)
    reading = board.read_request(0, 1)
    assert (reading.state, reading.seq, reading.fd) == (RequestState.READING, 1, 7)
    assert (reading.started, reading.deadline) == (100.0, 130.0)
    assert reading.client == "192.0.2.7:51234"
    assert reading.request_line == "" and reading.request_id == ""

    writer.in_app(b"GET /orders?id=3 HTTP/1.1", b"7f3a9c0001", 0.25)
    app = board.read_request(0, 1)
    assert app.state == RequestState.APP and app.seq == 1
    assert app.request_line == "GET /orders?id=3 HTTP/1.1"
    assert app.request_id == "7f3a9c0001"
    assert app.queue_time == 0.25

    writer.writing()
    assert board.read_request(0, 1).state == RequestState.WRITING
    # The other slots saw nothing of it.
    assert board.read_request(0, 0).state == RequestState.IDLE
    assert board.read_request(1, 1).state == RequestState.IDLE


def test_counters_count_every_request(board: Scoreboard, writer_kind: str,
                                      writer_for: WriterFor) -> None:
    """The C writer counts per request; the Python one in batches, and by flush."""
    writer = writer_for(0, 0)
    now = 1000.0
    writer.flush(now)  # the next automatic flush is FLUSH_INTERVAL from here
    for status, seconds in ((200, 0.002), (404, 0.02), (503, 0.09)):
        writer.begin(5, b"c", now, now + 30)
        writer.in_app(b"GET / HTTP/1.1", b"id", None)
        assert writer.end(status, now + seconds, 100, 2000) == pytest.approx(seconds)
    idle = board.read_request(0, 0)
    assert idle.state == RequestState.IDLE
    if writer_kind == "python":
        assert idle.requests == 0  # noted, not yet added
    else:
        assert idle.requests == 3 and idle.status_classes == (0, 1, 0, 1, 1)
    writer.begin(5, b"c", now, now + 30)
    writer.in_app(b"GET / HTTP/1.1", b"id", 0.003)
    writer.end(200, now + 3.0, 40, 50)  # past FLUSH_INTERVAL: this end flushes
    counted = board.read_request(0, 0)
    assert counted.requests == 4
    assert counted.status_classes == (0, 2, 0, 1, 1)
    assert counted.last_status == 200
    assert counted.bytes_in == 340 and counted.bytes_out == 6050
    assert counted.duration_sum == pytest.approx(0.002 + 0.02 + 0.09 + 3.0)
    assert counted.busy_seconds == counted.duration_sum
    expected = [0] * (len(DURATION_BUCKETS) + 1)
    for seconds in (0.002, 0.02, 0.09, 3.0):
        expected[next(i for i, b in enumerate(DURATION_BUCKETS) if seconds <= b)] += 1
    assert list(counted.duration_buckets) == expected
    assert (counted.queue_count, counted.queue_sum) == (1, pytest.approx(0.003))
    assert sum(counted.queue_buckets) == 1


def test_flush_with_nothing_noted_changes_nothing(board: Scoreboard,
                                                 writer_for: WriterFor) -> None:
    writer = writer_for(1, 0)
    before = stored(board, 1, 0)
    writer.flush()
    assert stored(board, 1, 0) == before


def test_long_lines_ids_and_clients_are_cut(board: Scoreboard, writer_for: WriterFor) -> None:
    writer = writer_for(0, 0)
    writer.begin(3, b"c" * 300, 1.0, 2.0)
    writer.in_app(b"GET /" + b"a" * 1000 + b" HTTP/1.1", b"r" * 200, None)
    snap = board.read_request(0, 0)
    assert snap.request_line == ("GET /" + "a" * 1000)[:LINE_MAX]
    assert snap.request_id == "r" * RID_MAX
    assert snap.client == "c" * CLIENT_MAX
    assert snap.queue_time is None


def test_a_shorter_line_hides_the_longer_one_before_it(board: Scoreboard,
                                                       writer_for: WriterFor) -> None:
    writer = writer_for(0, 0)
    for line in (b"POST /a/very/long/path/indeed HTTP/1.1", b"GET / HTTP/1.1"):
        writer.begin(3, b"c", 1.0, 2.0)
        writer.in_app(line, b"x", None)
        writer.end(200, 1.5, 0, 0)
    assert board.read_request(0, 0).request_line == "GET / HTTP/1.1"


def test_a_deadline_can_be_moved_while_the_request_runs(board: Scoreboard,
                                                        writer_for: WriterFor) -> None:
    writer = writer_for(0, 0)
    writer.begin(3, b"c", time.monotonic(), time.monotonic() + 1)
    writer.in_app(b"GET / HTTP/1.1", b"x", None)
    writer.extend_deadline(60)
    snap = board.read_request(0, 0)
    assert snap.deadline > time.monotonic() + 55
    assert snap.state == RequestState.APP


def test_busy_deadlines_name_the_busy_slots_with_their_request_and_deadline(
        board: Scoreboard, writer_for: WriterFor) -> None:
    first, second = writer_for(1, 0), writer_for(1, 1)
    assert board.busy_deadlines(1) == []
    first.begin(3, b"c", 1.0, 31.0)
    second.begin(4, b"c", 2.0, 0.0)  # timeout 0: no deadline
    second.in_app(b"GET / HTTP/1.1", b"x", None)
    assert board.busy_deadlines(1) == [(0, first.seq, 31.0), (1, second.seq, 0.0)]
    first.extend_deadline(100)  # progress, or the app, moves it: read from the slot
    ((_, _, moved), _) = board.busy_deadlines(1)
    assert moved > time.monotonic() + 95
    first.end(200, 3.0, 0, 0)
    assert board.busy_deadlines(1) == [(1, second.seq, 0.0)]
    assert board.busy_deadlines(0) == []  # another worker's slots are not read


def test_abandon_goes_idle_without_counting(board: Scoreboard, writer_for: WriterFor) -> None:
    writer = writer_for(0, 0)
    writer.begin(3, b"c", 1.0, 2.0)
    writer.abandon()
    writer.flush()
    snap = board.read_request(0, 0)
    assert snap.state == RequestState.IDLE and snap.requests == 0 and snap.seq == 1


def test_a_slot_that_changes_under_every_copy_is_read_without_one_requests_fields(
        board: Scoreboard, writer_for: WriterFor, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer faster than any copy: the reader gives up after READ_RETRIES, and says less.

    Its fd and deadline could be two requests' (the watchdog must not act
    on them), so they read as "none"; the state and counters stay.
    """
    writer = writer_for(0, 0)
    writer.begin(9, b"192.0.2.9:4000", 1.0, 2.0)
    writer.in_app(b"GET /a HTTP/1.1", b"rid", 0.5)
    writer.writing()
    writer.end(200, 1.5, 1, 2)
    writer.begin(9, b"192.0.2.9:4000", 3.0, 4.0)
    writer.in_app(b"GET /b HTTP/1.1", b"rid2", 0.5)
    writer.flush()
    whole = board.read_request(0, 0)
    base = board.request_base(0, 0)

    class MovingFirstWord:
        """The real words, except that the slot's first word differs at every read."""

        def __init__(self, ints: memoryview) -> None:
            self.ints, self.reads = ints, 0

        def __getitem__(self, index: int) -> int:
            if index != base:
                return int(self.ints[index])
            self.reads += 1
            return int(self.ints[index]) + self.reads

    moving = MovingFirstWord(board._ints)
    monkeypatch.setattr(board, "_ints", moving)
    torn = board.read_request(0, 0)
    assert moving.reads == 2 * board_module.READ_RETRIES
    assert (torn.fd, torn.deadline, torn.request_line, torn.request_id, torn.client,
            torn.queue_time) == (-1, 0.0, "", "", "", None)
    assert (torn.state, torn.seq, torn.requests, torn.last_status) == (
        whole.state, whole.seq, whole.requests, whole.last_status) == (RequestState.APP, 2, 1, 200)


def test_busy_and_idle_count_only_ready_workers(board: Scoreboard,
                                                writer_for: WriterFor) -> None:
    board.worker_writer(0).ready()
    writer_for(0, 0).begin(3, b"c", 1.0, 2.0)
    writer_for(1, 0).begin(4, b"c", 1.0, 2.0)  # worker 1 is still booting
    assert board.count_busy_idle() == (1, 1)


@pytest.mark.parametrize("threads", [1, 3])
def test_busy_and_idle_are_counted_alike_in_c_and_python(threads: int) -> None:
    """Ready workers' slots count busy or idle, a stopping worker's only busy, others nothing."""
    board = Scoreboard(worker_capacity=6, threads=threads)
    lives = ["ready", "stopping", "booting", "ready", "empty", "ready"]
    expected = [0, 0]
    for index, life in enumerate(lives):
        if life == "empty":
            continue
        board.prepare_worker(index, generation=1)
        writer = board.worker_writer(index)
        writer.started(1000 + index)
        if life != "booting":
            writer.ready()
        if life == "stopping":
            writer.stopping(ExitReason.MAX_REQUESTS)
        for thread in range(threads):
            busy = (index + thread) % 2 == 0
            if busy:
                board.request_writer(index, thread).begin(3, b"c", 1.0, 2.0)
            if life == "ready" or (life == "stopping" and busy):
                expected[0 if busy else 1] += 1
    geometry = (board.worker_base(0) + board_module.W_STATE, board_module.WORKER_WORDS,
                board.request_base(0, 0), REQUEST_SLOT_SIZE // WORD, 6, threads)
    python = board_module._count_busy_idle(board._ints, *geometry)
    from workhorse.scoreboard._slotwriter import count_busy_idle

    assert count_busy_idle(board._raw, *geometry) == python == tuple(expected)
    assert board.count_busy_idle() == tuple(expected)


def test_the_c_count_refuses_a_geometry_outside_its_buffer(board: Scoreboard) -> None:
    from workhorse.scoreboard._slotwriter import count_busy_idle

    words = len(board._raw) // WORD
    for geometry in ((0, 16, 0, 112, words, 2), (words, 16, 0, 112, 1, 1),
                     (0, 16, words - 1, 112, 2, 1), (0, 16, 0, -1, 1, 1),
                     (0, 16, 0, sys.maxsize, 2, 1)):
        with pytest.raises(ValueError, match="count_busy_idle"):
            count_busy_idle(board._raw, *geometry)


def test_worker_slot_life(board: Scoreboard) -> None:
    writer = board.worker_writer(1)
    writer.started(4242)
    assert board.read_worker(1).state == WorkerState.BOOTING
    writer.ready()
    ready = board.read_worker(1)
    assert (ready.pid, ready.state) == (4242, WorkerState.READY) and ready.ready > 0
    writer.stopping(ExitReason.MAX_REQUESTS)
    stopping = board.read_worker(1)
    assert (stopping.state, stopping.exit_reason) == (WorkerState.STOPPING,
                                                      ExitReason.MAX_REQUESTS)
    board.release_worker(1)
    assert board.read_worker(1).state == WorkerState.EMPTY


def test_readers_never_see_half_a_request_from_a_running_writer(writer_kind: str) -> None:
    """A forked writer serves fake requests flat out; every busy snapshot read here is whole.

    Each request's fd, line, id and deadline are derived from its sequence
    number, so a snapshot that mixes two requests shows as a mismatch.
    """
    board = Scoreboard(worker_capacity=1, threads=1)
    board.prepare_worker(0, generation=1)
    pid = os.fork()
    if pid == 0:  # the writer: never returns into pytest
        try:
            writer = writer_factory(writer_kind, board)(0, 0)
            dwell = range(30)  # a little work in every state, so each is seen whole
            while True:
                seq = writer.seq + 1
                started = seq / 1e6
                line = b"GET /%d HTTP/1.1" % seq + b"x" * (seq % 50)
                writer.begin(seq % 997, b"client-%d" % (seq % 3), started, started + 0.5)
                sum(dwell)
                writer.in_app(line, b"rid-%d" % seq, seq / 1000)
                sum(dwell)
                writer.writing()
                sum(dwell)
                writer.end(200, started + 1e-7, 10, 20)
                sum(dwell)
        finally:
            os._exit(0)
    try:
        seen = {state: 0 for state in RequestState}
        torn = 0
        deadline = time.monotonic() + 20
        while min(seen.values()) < 100 and time.monotonic() < deadline:
            snap = board.read_request(0, 0)
            if snap.seq and (snap.fd, snap.deadline) == (-1, 0.0):
                # Changed under every copy (READ_RETRIES): no request's fields.
                assert snap.request_line == "" and snap.queue_time is None, snap
                torn += 1
                continue
            seen[snap.state] += 1
            if snap.state == RequestState.IDLE and snap.seq and writer_kind == "c":
                # Counted before it went idle: every request so far, this one's status.
                assert (snap.requests, snap.last_status) == (snap.seq, 200), snap
            if snap.state == RequestState.IDLE or snap.seq == 0:
                continue
            seq = snap.seq
            assert snap.fd == seq % 997, snap
            assert (snap.started, snap.deadline) == (seq / 1e6, seq / 1e6 + 0.5), snap
            assert snap.client == f"client-{seq % 3}", snap
            if snap.state == RequestState.READING:
                assert snap.request_line == "" and snap.queue_time is None
            else:
                assert snap.request_line == f"GET /{seq} HTTP/1.1" + "x" * (seq % 50), snap
                assert snap.request_id == f"rid-{seq}", snap
                assert snap.queue_time is not None and math.isclose(snap.queue_time, seq / 1000)
        assert min(seen.values()) >= 100, f"the reader did not see every state: {seen}, {torn=}"
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
