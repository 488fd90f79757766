"""The master's decisions, driven without processes: an in-memory scoreboard and a made-up clock.

Each test sets slots the way a worker writes them and asks the pure
functions of workhorse.master (deadlines, termination, exits, rolling,
answers, backoff) what to do, at chosen times. The live tests in
tests/integration keep one test per end-to-end promise.
"""

from __future__ import annotations

import signal

import pytest

from workhorse.master.answers import Disposition, disposition, response
from workhorse.master.backoff import BASE_DELAY, BootBackoff
from workhorse.master.deadlines import (
    HEARTBEAT_SLACK,
    LOOP_GRACE,
    earliest_deadline,
    find_overdue,
    frozen_after,
    next_check,
)
from workhorse.master.exits import (
    APP_LOAD_ERROR,
    WORKER_BOOT_ERROR,
    YOUNG_SECONDS,
    Departure,
    StopReason,
    failed_boot,
    restart_cause,
)
from workhorse.master.rolling import WorkerView, reconcile
from workhorse.master.termination import (
    ABORT_GRACE,
    DUMP_WAIT,
    Phase,
    RescueKind,
    Step,
    Termination,
    next_step,
    rescue_kind,
    took,
)
from workhorse.scoreboard import ExitReason, RestartCause, Scoreboard

TIMEOUT = 30.0


class Board:
    """One worker slot with two request slots, written as a worker writes them."""

    def __init__(self) -> None:
        self.board = Scoreboard(4, 2)
        self.board.prepare_worker(0, 1)
        self.worker = self.board.worker_writer(0)
        self.worker.started(4242)
        self.spawned = self.board.read_worker(0).spawned
        self.threads = [self.board.request_writer(0, t) for t in range(2)]

    def ready(self) -> None:
        self.worker.ready()

    def begin(self, thread: int, start: float, *, line: bytes = b"GET /x HTTP/1.1",
              deadline: float | None = None) -> None:
        slot = self.threads[thread]
        slot.begin(7 + thread, b"203.0.113.9:5000", start,
                   start + TIMEOUT if deadline is None else deadline)
        slot.in_app(line, b"rid-1", None)

    def overdue(self, now: float, *, boot_timeout: float = 120.0):  # type: ignore[no-untyped-def]
        requests = [self.board.read_request(0, t) for t in range(2)]
        return find_overdue(self.board.read_worker(0), requests, now, timeout=TIMEOUT,
                            boot_timeout=boot_timeout)


# --- deadlines ---------------------------------------------------------------------------


def test_a_request_is_overdue_only_after_its_deadline():
    board = Board()
    board.ready()
    board.begin(1, 1000.0)
    assert board.overdue(1029.9) is None
    found = board.overdue(1030.5)
    assert found is not None
    assert (found.cause, found.thread, found.deadline) == (RestartCause.TIMEOUT, 1, 1030.0)
    assert found.request_line == "GET /x HTTP/1.1" and found.elapsed == pytest.approx(30.5)


def test_the_first_overdue_request_is_the_one_reported():
    board = Board()
    board.ready()
    board.begin(0, 1000.0)
    board.begin(1, 990.0, line=b"GET /older HTTP/1.1")
    found = board.overdue(1031.0)
    # Both overdue (the master looked late): the one whose deadline passed first,
    # whatever its slot.
    assert found is not None and found.thread == 1 and found.deadline == 1020.0
    assert board.overdue(1021.0).request_line == "GET /older HTTP/1.1"  # type: ignore[union-attr]


def test_every_request_past_its_own_deadline_is_answered_as_timed_out():
    # The overdue one, and another also past its deadline, get 504; one within it 503.
    assert rescue_kind(1, 1, 1020.0, 1031.0) == RescueKind.OVERDUE
    assert rescue_kind(0, 1, 1030.0, 1031.0) == RescueKind.OVERDUE
    assert rescue_kind(0, 1, 1040.0, 1031.0) == RescueKind.IN_FLIGHT
    assert rescue_kind(0, 1, 0.0, 1031.0) == RescueKind.IN_FLIGHT  # no deadline: never timed out


def test_an_extended_deadline_moves():
    board = Board()
    board.ready()
    board.begin(0, 1000.0)
    board.threads[0].extend_deadline(100.0)  # from the real clock: far in our future
    assert board.overdue(1031.0) is None


def test_a_finished_request_is_never_overdue():
    board = Board()
    board.ready()
    board.begin(0, 1000.0)
    board.threads[0].end(200, 1001.0, 10, 10)
    # Idle: only the loop's heartbeat matters now.
    beat = board.board.read_worker(0).heartbeat
    assert board.overdue(beat + 1.0) is None


def test_no_deadline_means_no_timeout():
    board = Board()
    board.ready()
    board.begin(0, 1000.0, deadline=0.0)
    # Busy without a deadline: neither overdue nor frozen (the request covers the worker).
    assert board.overdue(1000.0 + 10 * TIMEOUT) is None


def test_a_boot_is_overdue_after_boot_timeout_only_while_booting():
    board = Board()
    assert board.overdue(board.spawned + 119.0) is None
    found = board.overdue(board.spawned + 121.0)
    assert found is not None and found.cause == RestartCause.BOOT_TIMEOUT
    assert found.deadline == pytest.approx(board.spawned + 120.0)
    assert board.overdue(board.spawned + 10_000.0, boot_timeout=0) is None  # 0: no limit


def test_an_idle_worker_whose_loop_stopped_is_frozen():
    board = Board()
    board.ready()
    beat = board.board.read_worker(0).heartbeat
    limit = frozen_after(TIMEOUT)
    assert limit == TIMEOUT + HEARTBEAT_SLACK
    assert board.overdue(beat + limit - 0.1) is None
    found = board.overdue(beat + limit + 0.1)
    assert found is not None and found.cause == RestartCause.FROZEN
    assert frozen_after(0.0) == 0.0 and frozen_after(0.5) == 2.0 + HEARTBEAT_SLACK


def test_the_earliest_deadline_wakes_the_master():
    board = Board()
    board.ready()
    assert earliest_deadline(board.board.read_request(0, t) for t in range(2)) is None
    board.begin(0, 1000.0)
    board.begin(1, 995.0)
    assert earliest_deadline(board.board.read_request(0, t) for t in range(2)) == 1025.0


# --- event-loop workers -----------------------------------------------------------------


def loop_board(blocked_after: float = 1.0) -> Board:
    board = Board()
    board.ready()
    board.worker.event_loop(blocked_after)
    return board


def test_a_turning_loop_ends_its_own_overdue_requests_the_master_waits():
    board = loop_board()
    board.begin(1, 1000.0)
    board.worker.heartbeat(1030.4)  # the loop turned a moment ago
    assert board.overdue(1030.5) is None
    board.worker.heartbeat(1031.8)  # and keeps turning
    assert board.overdue(1030.0 + LOOP_GRACE - 0.1) is None
    # Still there after the grace: the app would not be cancelled.
    board.worker.heartbeat(1032.0)
    found = board.overdue(1030.0 + LOOP_GRACE + 0.1)
    assert found is not None and found.cause == RestartCause.TIMEOUT and found.thread == 1


def test_a_blocked_loop_at_a_deadline_is_the_masters_to_end():
    board = loop_board(blocked_after=1.0)
    board.begin(0, 1000.0)
    board.worker.heartbeat(1029.0)  # no turn for 1.5 s at the deadline
    found = board.overdue(1030.5)
    assert found is not None and found.cause == RestartCause.TIMEOUT


def test_the_master_sleeps_until_a_loop_could_count_as_blocked():
    board = loop_board(blocked_after=1.0)
    board.begin(0, 1000.0)
    board.worker.heartbeat(1030.2)
    requests = [board.board.read_request(0, t) for t in range(2)]
    worker = board.board.read_worker(0)
    assert next_check(worker, requests, 1020.0) == 1030.0  # before: the deadline
    assert next_check(worker, requests, 1030.3) == pytest.approx(1031.2)  # beat + 1 s
    board.worker.heartbeat(1031.9)
    worker = board.board.read_worker(0)
    assert next_check(worker, requests, 1031.95) == pytest.approx(1030.0 + LOOP_GRACE)


def test_busy_slots_and_counters_are_read_without_copying_every_slot():
    board = Board()
    board.ready()
    assert board.board.busy_threads(0) == []
    board.begin(1, 1000.0)
    assert board.board.busy_threads(0) == [1]
    board.threads[1].end(200, 1000.2, 100, 50)
    board.threads[1].flush(1e12)
    board.begin(0, 1001.0)
    board.threads[0].end(503, 1001.5, 10, 5)
    board.threads[0].flush(1e12)
    sums = board.board.counter_sums(0)
    assert sums.requests == 2 and sums.status_classes == (0, 1, 0, 0, 1)
    assert (sums.bytes_in, sums.bytes_out) == (110, 55)
    assert sums.duration_sum == pytest.approx(0.7)


# --- termination -------------------------------------------------------------------------


def term(cause: RestartCause, started: float = 100.0) -> Termination:
    return Termination(cause=cause, pid=1, slot=0, started=started, detail="",
                       next_step_at=started + DUMP_WAIT)


def test_a_timeout_dumps_then_aborts_then_kills_on_schedule():
    t = term(RestartCause.TIMEOUT)
    assert next_step(t, 100.1, request_finished=False) == Step.WAIT
    assert next_step(t, 100.0 + DUMP_WAIT, request_finished=False) == Step.ABORT
    took(t, Step.ABORT, 100.15)
    assert t.phase == Phase.ABORT and t.next_step_at == pytest.approx(100.15 + ABORT_GRACE)
    assert next_step(t, 100.2, request_finished=True) == Step.WAIT  # too late to cancel
    assert next_step(t, 100.5, request_finished=True) == Step.KILL
    took(t, Step.KILL, 100.5)
    assert (t.phase, t.killed_at, t.waiting) == (Phase.KILLED, 100.5, False)
    assert next_step(t, 200.0, request_finished=False) == Step.WAIT


def test_a_request_that_finishes_during_the_dump_cancels_the_kill():
    t = term(RestartCause.TIMEOUT)
    assert next_step(t, 100.2, request_finished=True) == Step.CANCEL
    took(t, Step.CANCEL, 100.2)
    assert t.phase == Phase.CANCELLED and not t.waiting


@pytest.mark.parametrize("cause", [RestartCause.FROZEN, RestartCause.BOOT_TIMEOUT])
def test_only_a_request_timeout_can_be_cancelled(cause):
    t = term(cause)
    step = next_step(t, 100.2, request_finished=True)
    assert step == (Step.KILL if cause == RestartCause.BOOT_TIMEOUT else Step.ABORT)


# --- why a worker left -------------------------------------------------------------------


def gone(**changes: object) -> Departure:
    fields: dict[str, object] = dict(exit_code=0, ended_by=None, stop_reason=None,
                                     said=ExitReason.SHUTDOWN, booting=False, served_for=60.0)
    fields.update(changes)
    return Departure(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("departure", "cause", "counts_against_boot"), [
    (gone(ended_by=RestartCause.TIMEOUT, exit_code=-9), RestartCause.TIMEOUT, False),
    (gone(ended_by=RestartCause.FROZEN, exit_code=-9), RestartCause.FROZEN, False),
    (gone(ended_by=RestartCause.BOOT_TIMEOUT, exit_code=-9, booting=True),
     RestartCause.BOOT_TIMEOUT, True),
    (gone(exit_code=WORKER_BOOT_ERROR, booting=True, said=ExitReason.BOOT_ERROR),
     RestartCause.BOOT_FAILURE, True),
    (gone(exit_code=APP_LOAD_ERROR, booting=True, said=ExitReason.APP_LOAD_ERROR),
     RestartCause.BOOT_FAILURE, True),
    (gone(stop_reason=StopReason.RELOAD), RestartCause.RELOAD, False),
    (gone(stop_reason=StopReason.SCALE_DOWN), RestartCause.SCALE_DOWN, False),
    (gone(stop_reason=StopReason.MEMORY), RestartCause.MEMORY, False),
    (gone(stop_reason=StopReason.SHUTDOWN), None, False),
    (gone(said=ExitReason.MAX_REQUESTS), RestartCause.MAX_REQUESTS, False),
    (gone(said=ExitReason.PARENT_GONE), None, False),
    (gone(), None, False),  # exit 0 after TERM: it simply stopped
    (gone(exit_code=-signal.SIGKILL, said=ExitReason.UNKNOWN), RestartCause.KILLED, False),
    (gone(exit_code=-signal.SIGSEGV, said=ExitReason.UNKNOWN), RestartCause.CRASH, False),
    (gone(exit_code=1, said=ExitReason.UNKNOWN), RestartCause.CRASH, False),
    (gone(exit_code=-signal.SIGSEGV, said=ExitReason.UNKNOWN, booting=True, served_for=0.0),
     RestartCause.CRASH, True),
    (gone(exit_code=1, said=ExitReason.UNKNOWN, served_for=YOUNG_SECONDS - 0.1),
     RestartCause.CRASH, True),  # died young: a bad deploy, not bad luck
    (gone(exit_code=-signal.SIGKILL, said=ExitReason.UNKNOWN, served_for=0.5),
     RestartCause.KILLED, False),  # kill -9 from outside is not the app's fault
])
def test_every_departure_has_its_cause(departure, cause, counts_against_boot):
    assert restart_cause(departure) == cause
    assert failed_boot(departure, restart_cause(departure)) is counts_against_boot


# --- rolling -----------------------------------------------------------------------------


def view(pid: int, generation: int = 1, *, age: int | None = None, booting: bool = False,
         stopping: bool = False) -> WorkerView:
    return WorkerView(pid=pid, generation=generation, age=pid if age is None else age,
                      booting=booting, stopping=stopping)


def test_missing_workers_are_started():
    plan = reconcile([view(1)], generation=1, target=3)
    assert (plan.missing, plan.booting, plan.stop) == (2, 0, [])


def test_a_reload_keeps_an_old_worker_for_each_new_one_not_ready():
    old = [view(1), view(2), view(3)]
    start = reconcile(old, generation=2, target=3)
    assert start.stop == [] and start.missing == 3
    one_ready = reconcile([*old, view(4, 2), view(5, 2, booting=True), view(6, 2, booting=True)],
                          generation=2, target=3)
    assert one_ready.stop == [(1, StopReason.RELOAD)]  # the oldest goes first
    all_ready = reconcile([*old, view(4, 2), view(5, 2), view(6, 2)], generation=2, target=3)
    assert all_ready.stop == [(1, StopReason.RELOAD), (2, StopReason.RELOAD),
                              (3, StopReason.RELOAD)]


def test_a_reload_that_cannot_boot_leaves_the_old_generation_serving():
    plan = reconcile([view(1), view(2), view(9, 2, booting=True)], generation=2, target=2)
    assert plan.stop == []


def test_scaling_down_stops_booting_workers_first_then_the_oldest():
    workers = [view(1), view(2), view(3), view(4, booting=True)]
    assert reconcile(workers, generation=1, target=2).stop == [
        (4, StopReason.SCALE_DOWN), (1, StopReason.SCALE_DOWN)]


def test_workers_on_their_way_out_do_not_count():
    plan = reconcile([view(1, stopping=True), view(2)], generation=1, target=2)
    assert (plan.missing, plan.stop) == (1, [])


# --- what a rescue answers ---------------------------------------------------------------


@pytest.mark.parametrize(("kind", "can_pass_on", "waiting", "fate"), [
    (RescueKind.OVERDUE, True, True, Disposition.ANSWER_504),
    (RescueKind.IN_FLIGHT, True, True, Disposition.ANSWER_503),
    (RescueKind.IDLE, True, True, Disposition.PASS_ON),
    (RescueKind.IDLE, True, False, Disposition.PASS_ON),
    (RescueKind.IDLE, False, True, Disposition.ANSWER_503),
    (RescueKind.IDLE, False, False, Disposition.CLOSE),
])
def test_each_rescued_connection_has_its_fate(kind, can_pass_on, waiting, fate):
    assert disposition(kind, can_pass_on=can_pass_on, request_waiting=waiting) == fate


def test_the_answers_are_complete_responses_that_close():
    timeout = response(504, "abc123")
    head, _, body = timeout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 504 Gateway Timeout\r\n")
    assert b"\r\nConnection: close\r\n" in head and b"\r\nX-Request-ID: abc123" in head
    assert f"Content-Length: {len(body)}".encode() in head
    unavailable = response(503, head_only=True, retry_after=7.4)
    head, _, body = unavailable.partition(b"\r\n\r\n")
    assert b"Retry-After: 7\r\n" in head + b"\r\n" and body == b""
    assert b"X-Request-ID" not in head
    # The length the GET answer's body would have, without the body (HEAD).
    length = len(response(503, retry_after=7.4).partition(b"\r\n\r\n")[2])
    assert f"Content-Length: {length}".encode() in head and length > 0


# --- boot backoff ------------------------------------------------------------------------


def test_the_backoff_doubles_up_to_its_cap_and_probes_one_at_a_time():
    backoff = BootBackoff(cap=5.0)
    assert backoff.may_spawn(0.0, booting=3) and not backoff.failing
    delays = [backoff.failed(float(n)) for n in range(5)]
    assert delays == [BASE_DELAY, 2.0, 4.0, 5.0, 5.0]
    assert not backoff.may_spawn(8.9, booting=0)
    assert backoff.may_spawn(9.0, booting=0)
    assert not backoff.may_spawn(9.0, booting=1)  # one probe at a time
    backoff.healthy()
    assert backoff.may_spawn(0.0, booting=5) and backoff.failures == 0
