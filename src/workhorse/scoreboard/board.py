"""The shared-memory scoreboard: what every worker and request thread is doing.

Strategy (after Apache httpd's scoreboard): the master maps one anonymous
shared region before it forks any worker, so every worker inherits it. The
region holds fixed-size slots and no pointers:

- one *worker slot* per worker process (pid, generation, life state,
  spawn/ready/heartbeat times, why it exited), and
- ``threads`` *request slots* per worker slot (state, the request's start and
  deadline, the client's fd and a per-request sequence number, the request
  line, and cumulative counters and histograms of everything it served).

Each slot has exactly one writer: the master initialises a slot before it
forks the worker that will own it, and from then on only that worker (or,
for a request slot, only that one thread) writes it. So the request path
takes no lock.

A worker slot is read consistently with a sequence counter (a seqlock): the
writer makes it odd before a multi-field update and even after; a reader
retries while it is odd or changed under it. Worker slots change a few
times in a worker's life, so that costs nothing.

A request slot changes several times per request, so its protocol is
leaner. Its first word packs the request's sequence number and state
(``seq << 2 | state``) and is stored *last* by every transition: ``begin``
writes fd, client, start and deadline, then (seq+1, READING); ``in_app``
writes the request line, request id and queue time (one struct copy), then
(seq, APP); ``end`` stores (seq, IDLE). Each (seq, state) value occurs
once, so a reader that reads the word, copies the slot and reads the word
again unchanged holds the fields that belong to that state. That relies on
the CPU making stores visible in program order, which x86-64 does; on a
weakly ordered CPU (arm64) a reader could rarely see a field a moment
late: the C writer orders its stores (release), but a Python reader cannot
fence its loads.

The counters (status classes, duration and queue-time histograms, bytes)
are single words that only grow, read without that check. The C writer
adds them as each request ends, before the slot goes idle; the Python
writer in batches (see RequestSlotWriter). A slot's request count is the
sum of its duration histogram and its busy time the histogram's sum, so
neither is stored on its own.

Numbers are 8-byte words reached through two typed views of the same
memory (signed integers and floats), so a field update is one indexed
store.

Request slots are written by the C writer in ``_slotwriter.c`` when it was
built (the normal install): the same layout and write order, one call per
transition, the state word stored with release ordering, and the counters
added per request instead of in batches. ``RequestSlotWriter`` below is the
same thing in Python, used when the extension is missing (no compiler at
install time), stale (its layout differs from this module's) or turned off
with ``WORKHORSE_PURE_PYTHON=1``; ``SLOT_WRITER`` says which one runs and
``WHY_PYTHON_WRITER`` why the C one does not. What the writes cost a
request is measured in docs/observability.md ("Cost").
"""

from __future__ import annotations

import bisect
import collections
import functools
import math
import mmap
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from workhorse.scoreboard.states import ExitReason, RequestState, WorkerState

WORD = 8

#: Upper bounds (seconds) of the request-duration histogram buckets; the
#: last, implicit bucket is +Inf. Chosen to span a fast API call to a slow
#: report, like Prometheus' defaults, with 30 s and 60 s added because that is
#: where request timeouts usually sit.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Upper bounds (seconds) of the queue-time histogram buckets: a healthy
#: queue is sub-millisecond, a backlog problem shows from 100 ms up.
QUEUE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# --- worker slot layout (words) -------------------------------------------
W_VERSION = 0
W_PID = 1
W_GENERATION = 2
W_STATE = 3
W_SPAWNED = 4  # monotonic, float
W_READY = 5  # monotonic, float (0 = not yet)
W_HEARTBEAT = 6  # monotonic, float
W_EXIT_REASON = 7
W_CONNECTIONS = 8  # open client connections held by the worker (gthread keep-alive)
#: The one word of a worker slot the *master* writes after the fork: 1 while
#: it takes the idle keep-alive connections of this worker when it stops
#: (to pass them to a sibling), 0 when it cannot (the whole server stops).
W_TAKES_IDLE = 9
#: An event-loop worker (asgi) says at ready after how long without a turn
#: its loop counts as blocked (float seconds; 0: not an event-loop worker).
#: Such a worker ends its own overdue requests while its loop turns; the
#: master steps in when the loop is blocked (see master/deadlines.py).
W_LOOP_BLOCKED_AFTER = 10
#: Requests an event-loop worker timed out itself (cancelled and answered).
W_OWN_TIMEOUTS = 11
#: Requests answered 503 without running the app: they waited longer than
#: max_queue_time. Written by the worker (any of its threads: a lost count
#: under a race only delays a figure by one).
W_SHED = 12
#: Written by the master: 1 while the server drains (TERM with a shutdown
#: delay, then the stop): every response says Connection: close, so a load
#: balancer keeps no idle connection to an instance on its way out.
W_DRAIN = 13
WORKER_WORDS = 16
WORKER_SLOT_SIZE = WORKER_WORDS * WORD

# --- request slot layout (words) ------------------------------------------
R_STATE_SEQ = 0  # seq << 2 | RequestState: the word every transition stores last
R_FD = 1  # the client socket's fd in the worker (valid while the state is busy)
R_STARTED = 2  # monotonic, float
R_DEADLINE = 3  # monotonic, float (0 = none)
R_LAST_STATUS = 4
R_CLIENT_LEN = 5
R_STATUS_CLASSES = 6  # 5 words: 1xx .. 5xx
R_DURATION_SUM = 11  # float; also the slot's busy seconds
R_DURATION_BUCKETS = 12  # len(DURATION_BUCKETS) + 1 words; their sum is the request count
R_QUEUE_SUM = R_DURATION_BUCKETS + len(DURATION_BUCKETS) + 1  # float
R_QUEUE_COUNT = R_QUEUE_SUM + 1
R_QUEUE_BUCKETS = R_QUEUE_COUNT + 1  # len(QUEUE_BUCKETS) + 1 words
R_BYTES_IN = R_QUEUE_BUCKETS + len(QUEUE_BUCKETS) + 1
R_BYTES_OUT = R_BYTES_IN + 1
# The request's head, written by in_app in one copy: the line's and the
# request id's lengths, the queue time, then the line and the id themselves.
R_LINE_LEN = 61
R_RID_LEN = 62
R_QUEUE = 63  # queue time of the current request, float (NaN = unknown)
R_NUMERIC_WORDS = 64
LINE_MAX = 256
RID_MAX = 64
CLIENT_MAX = 64
R_LINE_OFF = R_NUMERIC_WORDS * WORD
R_RID_OFF = R_LINE_OFF + LINE_MAX
R_CLIENT_OFF = R_RID_OFF + RID_MAX
REQUEST_SLOT_SIZE = R_CLIENT_OFF + CLIENT_MAX
assert R_BYTES_OUT < R_LINE_LEN
assert REQUEST_SLOT_SIZE % WORD == 0
STATE_BITS = 2
STATE_MASK = (1 << STATE_BITS) - 1
assert max(RequestState) <= STATE_MASK
#: in_app's one copy: words R_LINE_LEN..R_QUEUE, then the line and the id.
#: ``s`` fields cut what is longer and pad with zeros.
_HEAD = struct.Struct(f"=qqd{LINE_MAX}s{RID_MAX}s")
assert R_LINE_OFF == (R_QUEUE + 1) * WORD and R_RID_OFF == R_LINE_OFF + LINE_MAX
#: How long a request slot's counters may lag the requests it served while
#: it is busy (an idle worker adds them when it next waits; see
#: RequestSlotWriter.flush).
FLUSH_INTERVAL = 0.25

HEADER_SIZE = 64
MAGIC = 0x574B4853  # "WKHS"

# Plain ints for the hot path (storing an IntEnum member costs a conversion).
_READY, _STOPPING = int(WorkerState.READY), int(WorkerState.STOPPING)
IDLE, READING, APP, WRITING = (int(RequestState.IDLE), int(RequestState.READING),
                               int(RequestState.APP), int(RequestState.WRITING))
_NAN = math.nan

#: How often a reader retries a slot that is being written before it takes a
#: possibly torn copy (a writer that died mid-update must not hang readers).
READ_RETRIES = 100


@dataclass(frozen=True)
class WorkerSnapshot:
    index: int
    pid: int
    generation: int
    state: WorkerState
    spawned: float
    ready: float
    heartbeat: float
    exit_reason: ExitReason
    connections: int
    loop_blocked_after: float = 0.0
    own_timeouts: int = 0
    shed: int = 0

    @property
    def event_loop(self) -> bool:
        """An event-loop worker: it ends its own overdue requests while its loop turns."""
        return self.loop_blocked_after > 0


@dataclass(frozen=True)
class RequestSnapshot:
    worker: int
    thread: int
    state: RequestState
    seq: int
    fd: int
    started: float
    deadline: float
    started_wall: float
    queue_time: float | None
    requests: int
    busy_seconds: float
    last_status: int
    status_classes: tuple[int, ...]
    duration_sum: float
    duration_buckets: tuple[int, ...]
    queue_sum: float
    queue_count: int
    queue_buckets: tuple[int, ...]
    bytes_in: int
    bytes_out: int
    request_line: str
    client: str
    request_id: str


@dataclass(frozen=True)
class CounterSums:
    """A worker's request counters summed over its request slots."""

    status_classes: tuple[int, ...]
    duration_sum: float
    duration_buckets: tuple[int, ...]
    queue_sum: float
    queue_count: int
    queue_buckets: tuple[int, ...]
    bytes_in: int
    bytes_out: int

    @property
    def requests(self) -> int:
        return sum(self.duration_buckets)


class Scoreboard:
    """The shared region and its geometry. Created by the master before forking."""

    def __init__(self, worker_capacity: int, threads: int) -> None:
        if worker_capacity < 1 or threads < 1:
            raise ValueError("a scoreboard needs at least one worker slot and one thread")
        self.worker_capacity = worker_capacity
        self.threads = threads
        self._workers_off = HEADER_SIZE
        self._requests_off = HEADER_SIZE + worker_capacity * WORKER_SLOT_SIZE
        size = self._requests_off + worker_capacity * threads * REQUEST_SLOT_SIZE
        size = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
        self._mm = mmap.mmap(-1, size, flags=mmap.MAP_SHARED)
        self._raw = memoryview(self._mm)
        self._ints = self._raw.cast("q")
        self._floats = self._raw.cast("d")
        self._ints[0] = MAGIC
        self._ints[1] = worker_capacity
        self._ints[2] = threads

    # --- geometry ----------------------------------------------------------
    def worker_base(self, index: int) -> int:
        """Word index of a worker slot."""
        return (self._workers_off + index * WORKER_SLOT_SIZE) // WORD

    def request_base(self, index: int, thread: int) -> int:
        """Word index of a request slot."""
        byte = self._requests_off + (index * self.threads + thread) * REQUEST_SLOT_SIZE
        return byte // WORD

    # --- master side -------------------------------------------------------
    def prepare_worker(self, index: int, generation: int) -> None:
        """Reset a free worker slot and its request slots before a fork."""
        base = self.worker_base(index)
        self._zero_words(base, WORKER_WORDS)
        ints, floats = self._ints, self._floats
        ints[base + W_GENERATION] = generation
        ints[base + W_STATE] = WorkerState.BOOTING
        now = time.monotonic()
        floats[base + W_SPAWNED] = now
        floats[base + W_HEARTBEAT] = now
        for thread in range(self.threads):
            rbase = self.request_base(index, thread)
            self._zero_words(rbase, REQUEST_SLOT_SIZE // WORD)
            ints[rbase + R_FD] = -1
            floats[rbase + R_QUEUE] = math.nan

    def set_draining(self, index: int) -> None:
        """Tell a worker that every response from now on closes its connection."""
        self._ints[self.worker_base(index) + W_DRAIN] = 1

    def set_takes_idle(self, index: int, takes: bool) -> None:
        """Tell a worker whether the master takes its idle connections when it stops."""
        self._ints[self.worker_base(index) + W_TAKES_IDLE] = int(takes)

    def release_worker(self, index: int) -> None:
        """Mark a worker slot empty after its process was reaped."""
        base = self.worker_base(index)
        self._ints[base + W_PID] = 0
        self._ints[base + W_STATE] = WorkerState.EMPTY

    def _zero_words(self, base: int, count: int) -> None:
        start = base * WORD
        self._raw[start : start + count * WORD] = bytes(count * WORD)

    # --- writer handles ----------------------------------------------------
    def worker_writer(self, index: int) -> WorkerSlotWriter:
        return WorkerSlotWriter(self, index)

    def request_writer(self, index: int, thread: int) -> RequestSlot:
        """The writer of one request slot: the C one when it is available."""
        if _c_writer is not None:
            return _c_writer(self._raw, self.request_base(index, thread) * WORD)
        return RequestSlotWriter(self, index, thread)

    # --- readers -------------------------------------------------------------
    def _stable_copy(self, base: int, nbytes: int, *,
                     odd_is_writing: bool) -> tuple[bytes, bool]:
        """A copy of a slot, and whether it was taken between two equal reads of its first word.

        A worker slot's first word is a seqlock (odd: being written, so not
        worth copying yet); a request slot's is its (seq, state) word, whose
        odd values are ordinary states. After READ_RETRIES changed copies the
        last one is returned as not stable: its fields may mix updates.
        """
        ints = self._ints
        start = base * WORD
        copy = b""
        for _ in range(READ_RETRIES):
            before = ints[base]
            if odd_is_writing and before & 1:
                continue
            copy = bytes(self._raw[start : start + nbytes])
            if ints[base] == before:
                return copy, True
        return copy or bytes(self._raw[start : start + nbytes]), False

    def read_worker(self, index: int) -> WorkerSnapshot:
        # A worker slot changes a few times in a worker's life: a copy that
        # is still not stable belongs to a writer that died mid-update.
        copy, _ = self._stable_copy(self.worker_base(index), WORKER_SLOT_SIZE,
                                    odd_is_writing=True)
        data = memoryview(copy)
        ints, floats = data.cast("q"), data.cast("d")
        return WorkerSnapshot(
            index=index,
            pid=ints[W_PID],
            generation=ints[W_GENERATION],
            state=_worker_state(ints[W_STATE]),
            spawned=floats[W_SPAWNED],
            ready=floats[W_READY],
            heartbeat=floats[W_HEARTBEAT],
            exit_reason=_exit_reason(ints[W_EXIT_REASON]),
            connections=ints[W_CONNECTIONS],
            loop_blocked_after=floats[W_LOOP_BLOCKED_AFTER],
            own_timeouts=ints[W_OWN_TIMEOUTS],
            shed=ints[W_SHED],
        )

    def busy_threads(self, index: int) -> list[int]:
        """The request slots of a worker with a request in flight, without copying any.

        One strided read of the slots' state words: an event-loop worker has
        hundreds of slots, and the master looks at them every tick.
        """
        first = self.request_base(index, 0) + R_STATE_SEQ
        words = REQUEST_SLOT_SIZE // WORD
        states = self._ints[first : first + self.threads * words : words].tolist()
        return [thread for thread, word in enumerate(states) if word & STATE_MASK]

    def busy_deadlines(self, index: int) -> list[tuple[int, int, float]]:
        """(slot, seq, deadline) of a worker's busy request slots, in two strided reads.

        For a worker that keeps its own deadlines (gevent) and looks at all of
        them every quarter second: the deadlines are in the slots, where the
        request's progress and the app move them, so it keeps no copy.
        """
        first = self.request_base(index, 0)
        words = REQUEST_SLOT_SIZE // WORD
        end = first + self.threads * words
        states = self._ints[first + R_STATE_SEQ : end : words].tolist()
        deadlines = self._floats[first + R_DEADLINE : end : words].tolist()
        return [(thread, word >> STATE_BITS, deadlines[thread])
                for thread, word in enumerate(states) if word & STATE_MASK]

    def read_busy_requests(self, index: int) -> list[RequestSnapshot]:
        """Consistent copies of the slots :meth:`busy_threads` names (still busy or not)."""
        return [self.read_request(index, thread) for thread in self.busy_threads(index)]

    def counter_sums(self, index: int) -> CounterSums:
        """Every counter of a worker's request slots, summed (strided reads, no copies)."""
        words = REQUEST_SLOT_SIZE // WORD
        first = self.request_base(index, 0)
        end = first + self.threads * words
        ints, floats = self._ints, self._floats

        def total(word: int) -> int:
            return sum(ints[first + word : end : words])

        def total_float(word: int) -> float:
            return math.fsum(floats[first + word : end : words])

        nd, nq = len(DURATION_BUCKETS) + 1, len(QUEUE_BUCKETS) + 1
        return CounterSums(
            status_classes=tuple(total(R_STATUS_CLASSES + i) for i in range(5)),
            duration_sum=total_float(R_DURATION_SUM),
            duration_buckets=tuple(total(R_DURATION_BUCKETS + i) for i in range(nd)),
            queue_sum=total_float(R_QUEUE_SUM),
            queue_count=total(R_QUEUE_COUNT),
            queue_buckets=tuple(total(R_QUEUE_BUCKETS + i) for i in range(nq)),
            bytes_in=total(R_BYTES_IN),
            bytes_out=total(R_BYTES_OUT),
        )

    def read_request(self, index: int, thread: int) -> RequestSnapshot:
        raw, stable = self._stable_copy(self.request_base(index, thread), REQUEST_SLOT_SIZE,
                                        odd_is_writing=False)
        view = memoryview(raw)
        ints, floats = view.cast("q"), view.cast("d")
        state_seq = ints[R_STATE_SEQ]
        state = _request_state(state_seq & STATE_MASK)
        queue = floats[R_QUEUE]
        nd = len(DURATION_BUCKETS) + 1
        nq = len(QUEUE_BUCKETS) + 1
        durations = tuple(ints[R_DURATION_BUCKETS : R_DURATION_BUCKETS + nd])
        started = floats[R_STARTED]
        # The line and id of a request still being read are not written yet
        # (those bytes may be the previous request's, half overwritten).
        head_read = stable and state != RequestState.READING
        # A slot that changed under every copy is serving requests faster
        # than it can be copied, so none of them is overdue: its counters,
        # state and a recent start are kept; one request's fields (fd,
        # deadline, line, id, queue time, client) are not.
        fd, deadline = (ints[R_FD], floats[R_DEADLINE]) if stable else (-1, 0.0)
        return RequestSnapshot(
            worker=index,
            thread=thread,
            state=state,
            seq=state_seq >> STATE_BITS,
            fd=fd,
            started=started,
            deadline=deadline,
            started_wall=time.time() - (time.monotonic() - started) if started else 0.0,
            queue_time=None if math.isnan(queue) or not head_read else queue,
            requests=sum(durations),
            busy_seconds=floats[R_DURATION_SUM],
            last_status=ints[R_LAST_STATUS],
            status_classes=tuple(ints[R_STATUS_CLASSES : R_STATUS_CLASSES + 5]),
            duration_sum=floats[R_DURATION_SUM],
            duration_buckets=durations,
            queue_sum=floats[R_QUEUE_SUM],
            queue_count=ints[R_QUEUE_COUNT],
            queue_buckets=tuple(ints[R_QUEUE_BUCKETS : R_QUEUE_BUCKETS + nq]),
            bytes_in=ints[R_BYTES_IN],
            bytes_out=ints[R_BYTES_OUT],
            request_line=_text(raw, R_LINE_OFF, ints[R_LINE_LEN], LINE_MAX) if head_read else "",
            client=_text(raw, R_CLIENT_OFF, ints[R_CLIENT_LEN], CLIENT_MAX) if stable else "",
            request_id=_text(raw, R_RID_OFF, ints[R_RID_LEN], RID_MAX) if head_read else "",
        )

    def count_busy_idle(self) -> tuple[int, int]:
        """(busy, idle) request slots of ready workers, read without copying slots.

        Exact up to the updates racing with the scan, which is all an
        access-log atom needs. The access log's busy/idle atoms call it per
        request, so it is the C module's loop when that is built (under a
        microsecond); the Python one fetches the worker states in one
        strided slice and each live worker's state words in another.
        """
        geometry = (self.worker_base(0) + W_STATE, WORKER_WORDS,
                    self.request_base(0, 0) + R_STATE_SEQ, REQUEST_SLOT_SIZE // WORD,
                    self.worker_capacity, self.threads)
        if _c_count is not None:
            return _c_count(self._raw, *geometry)
        return _count_busy_idle(self._ints, *geometry)


def _count_busy_idle(ints: memoryview, first_worker: int, worker_words: int, first_request: int,
                     request_words: int, capacity: int, threads: int) -> tuple[int, int]:
    """Scoreboard.count_busy_idle in Python (what _slotwriter.count_busy_idle does in C)."""
    worker_states = ints[first_worker : first_worker + capacity * worker_words
                         : worker_words].tolist()
    busy = idle = 0
    for index, wstate in enumerate(worker_states):
        if wstate in (_READY, _STOPPING):
            first = first_request + index * threads * request_words
            states = ints[first : first + threads * request_words : request_words].tolist()
            working = sum(1 for word in states if word & STATE_MASK)
            busy += working
            if wstate == _READY:
                idle += threads - working
    return busy, idle


def _text(raw: bytes, offset: int, length: int, limit: int) -> str:
    length = max(0, min(length, limit))
    return raw[offset : offset + length].decode("latin-1")


def _worker_state(value: int) -> WorkerState:
    try:
        return WorkerState(value)
    except ValueError:  # a torn or garbage read: treat as empty
        return WorkerState.EMPTY


def _request_state(value: int) -> RequestState:
    try:
        return RequestState(value)
    except ValueError:
        return RequestState.IDLE


def _exit_reason(value: int) -> ExitReason:
    try:
        return ExitReason(value)
    except ValueError:
        return ExitReason.UNKNOWN


class WorkerSlotWriter:
    """The worker process's handle on its own worker slot."""

    __slots__ = ("_base", "_floats", "_ints")

    def __init__(self, board: Scoreboard, index: int) -> None:
        self._base = board.worker_base(index)
        self._ints = board._ints
        self._floats = board._floats

    def started(self, pid: int) -> None:
        base, ints = self._base, self._ints
        ints[base + W_VERSION] += 1
        ints[base + W_PID] = pid
        ints[base + W_STATE] = WorkerState.BOOTING
        self._floats[base + W_HEARTBEAT] = time.monotonic()
        ints[base + W_VERSION] += 1

    def ready(self) -> None:
        base, ints = self._base, self._ints
        now = time.monotonic()
        ints[base + W_VERSION] += 1
        self._floats[base + W_READY] = now
        self._floats[base + W_HEARTBEAT] = now
        ints[base + W_STATE] = WorkerState.READY
        ints[base + W_VERSION] += 1

    def stopping(self, reason: ExitReason) -> None:
        base, ints = self._base, self._ints
        ints[base + W_VERSION] += 1
        ints[base + W_STATE] = WorkerState.STOPPING
        ints[base + W_EXIT_REASON] = reason
        ints[base + W_VERSION] += 1

    def exit_reason(self, reason: ExitReason) -> None:
        """Record why the worker is leaving without changing its state."""
        self._ints[self._base + W_EXIT_REASON] = reason

    def heartbeat(self, now: float) -> None:
        self._floats[self._base + W_HEARTBEAT] = now

    def set_connections(self, count: int) -> None:
        self._ints[self._base + W_CONNECTIONS] = count

    def event_loop(self, blocked_after: float) -> None:
        """This worker runs an event loop, blocked after ``blocked_after`` without a turn."""
        self._floats[self._base + W_LOOP_BLOCKED_AFTER] = blocked_after

    def count_own_timeout(self) -> None:
        self._ints[self._base + W_OWN_TIMEOUTS] += 1

    def count_shed(self) -> None:
        self._ints[self._base + W_SHED] += 1

    def master_drains(self) -> bool:
        """The server is on its way out: close each connection after its response."""
        return bool(self._ints[self._base + W_DRAIN])

    def master_takes_idle(self) -> bool:
        """Whether the master takes this worker's idle connections when it stops."""
        return bool(self._ints[self._base + W_TAKES_IDLE])


class RequestSlotWriter:
    """One request-serving thread's handle on its request slot (the hot path).

    The request's state, deadline and head are stored as they change, the
    state word last (see the module's docstring), so readers never act on a
    half-written request: the watchdog pairs ``fd`` with ``seq`` before it
    takes a copy of the client socket, and answers with the request id.

    The counters (status classes, histograms, bytes) are what a metrics
    scrape or ``workhorse status`` reads, seconds apart, so a finished
    request is only noted in a local list and added to the shared counters
    in batches: at most every FLUSH_INTERVAL while the thread is busy, and
    by the worker's loop when it next waits idle. Doing the arithmetic of a
    few thousand requests at once, mostly in C, costs far less than doing
    it per request in the request path.
    """

    __slots__ = ("_base", "_byte", "_client", "_done", "_floats", "_flush_at", "_ints",
                 "_queued", "_raw", "_seq", "_started")

    def __init__(self, board: Scoreboard, index: int, thread: int) -> None:
        self._base = board.request_base(index, thread)
        self._byte = self._base * WORD
        self._ints = board._ints
        self._floats = board._floats
        self._raw = board._raw
        # The slot has one writer (this object), so it keeps its own copy of
        # the state word's sequence part (already shifted) and of the client
        # it last wrote.
        self._seq = self._ints[self._base] & ~STATE_MASK
        self._client = b""
        self._started = 0.0
        #: Status, duration, bytes in and bytes out of each request not yet
        #: counted, flat (one list extend per request; sliced apart in C).
        self._done: list[float] = []
        #: Queue times of requests not yet counted.
        self._queued: list[float] = []
        self._flush_at = 0.0

    @property
    def seq(self) -> int:
        return self._seq >> STATE_BITS

    def begin(self, fd: int, client: bytes, now: float, deadline: float) -> None:
        """A connection was taken, or a keep-alive request began arriving."""
        base, ints, floats = self._base, self._ints, self._floats
        self._started = now
        ints[base + R_FD] = fd
        floats[base + R_STARTED] = now
        floats[base + R_DEADLINE] = deadline
        if client is not self._client:  # once per connection, not per request
            self._client = client
            client = client[:CLIENT_MAX]
            start = self._byte + R_CLIENT_OFF
            self._raw[start : start + len(client)] = client
            ints[base + R_CLIENT_LEN] = len(client)
        self._seq += 1 << STATE_BITS
        ints[base] = self._seq | READING

    def in_app(self, request_line: bytes, request_id: bytes, queue_time: float | None) -> None:
        """The request head was read; the application is about to run."""
        _HEAD.pack_into(self._raw, self._byte + R_LINE_LEN * WORD, len(request_line),
                        len(request_id), _NAN if queue_time is None else queue_time,
                        request_line, request_id)
        if queue_time is not None:  # (after pack_into, which refuses a non-number)
            self._queued.append(queue_time)
        self._ints[self._base] = self._seq | APP

    def writing(self) -> None:
        """The response head is about to be sent: a 504 can no longer be given."""
        self._ints[self._base] = self._seq | WRITING

    def extend_deadline(self, seconds: float) -> None:
        """Move this request's deadline (the app asked for more time).

        One word: a reader sees the old deadline or the new one.
        """
        self._floats[self._base + R_DEADLINE] = time.monotonic() + seconds

    def end(self, status: int, now: float, bytes_in: int, bytes_out: int) -> float:
        """The request is done: go idle and note it for the counters. Returns its duration."""
        duration = now - self._started
        self._ints[self._base] = self._seq  # idle
        self._done += (status, duration, bytes_in, bytes_out)
        if now >= self._flush_at:
            self.flush(now)
        return duration

    def abandon(self) -> None:
        """The connection ended without a complete request (nothing to count)."""
        self._ints[self._base] = self._seq  # idle

    def flush(self, now: float = 0.0) -> None:
        """Add the requests noted since the last flush to the shared counters.

        Called by ``end`` when FLUSH_INTERVAL has passed, and by the thread's
        own loop when it waits idle and before it exits; only ever by the
        thread that owns the slot (the counters have one writer).
        """
        self._flush_at = (now or time.monotonic()) + FLUSH_INTERVAL
        done, queued = self._done, self._queued
        if done:
            self._done = []
            self._add_done(done)
        if queued:
            self._queued = []
            self._add_queued(queued)

    def _add_done(self, done: list[float]) -> None:
        base, ints = self._base, self._ints
        statuses = done[0::4]
        durations = done[1::4]
        for status, count in collections.Counter(statuses).items():
            klass = int(status) // 100 - 1
            if 0 <= klass < 5:
                ints[base + R_STATUS_CLASSES + klass] += count
        for bucket, count in collections.Counter(map(_duration_bucket, durations)).items():
            ints[base + R_DURATION_BUCKETS + bucket] += count
        self._floats[base + R_DURATION_SUM] += sum(durations)
        ints[base + R_BYTES_IN] += int(sum(done[2::4]))
        ints[base + R_BYTES_OUT] += int(sum(done[3::4]))
        ints[base + R_LAST_STATUS] = int(statuses[-1])

    def _add_queued(self, queued: list[float]) -> None:
        base, ints = self._base, self._ints
        for bucket, count in collections.Counter(map(_queue_bucket, queued)).items():
            ints[base + R_QUEUE_BUCKETS + bucket] += count
        self._floats[base + R_QUEUE_SUM] += sum(queued)
        ints[base + R_QUEUE_COUNT] += len(queued)


class RequestSlot(Protocol):
    """What the request path calls on its slot (RequestSlotWriter or the C SlotWriter)."""

    # Positional-only: the C writer takes no keywords.
    @property
    def seq(self) -> int: ...
    def begin(self, fd: int, client: bytes, now: float, deadline: float, /) -> None: ...
    def in_app(self, request_line: bytes, request_id: bytes,
               queue_time: float | None, /) -> None: ...
    def writing(self) -> None: ...
    def extend_deadline(self, seconds: float, /) -> None: ...
    def end(self, status: int, now: float, bytes_in: int, bytes_out: int, /) -> float: ...
    def abandon(self) -> None: ...
    def flush(self, now: float = 0.0, /) -> None: ...


def _python_layout() -> dict[str, Any]:
    """This module's request-slot layout, in the form the C writer reports its own."""
    names = ("R_STATE_SEQ", "R_FD", "R_STARTED", "R_DEADLINE", "R_LAST_STATUS", "R_CLIENT_LEN",
             "R_STATUS_CLASSES", "R_DURATION_SUM", "R_DURATION_BUCKETS", "R_QUEUE_SUM",
             "R_QUEUE_COUNT", "R_QUEUE_BUCKETS", "R_BYTES_IN", "R_BYTES_OUT", "R_LINE_LEN",
             "R_RID_LEN", "R_QUEUE", "R_LINE_OFF", "R_RID_OFF", "R_CLIENT_OFF", "LINE_MAX",
             "RID_MAX", "CLIENT_MAX", "REQUEST_SLOT_SIZE", "STATE_BITS", "DURATION_BUCKETS",
             "QUEUE_BUCKETS")
    layout = {name: globals()[name] for name in names}
    layout.update(IDLE=IDLE, READING=READING, APP=APP, WRITING=WRITING,
                  WORKER_READY=_READY, WORKER_STOPPING=_STOPPING)
    return layout


def _load_c_module() -> tuple[ModuleType | None, str]:
    """The C module (_slotwriter) if it can be used, else None and why not."""
    if os.environ.get("WORKHORSE_PURE_PYTHON", "").lower() not in ("", "0", "false", "no"):
        return None, "WORKHORSE_PURE_PYTHON is set"
    try:
        import workhorse.scoreboard._slotwriter as slotwriter
    except ImportError as exc:
        return None, f"the C writer was not built: {exc}"
    if _python_layout() != slotwriter.LAYOUT:
        return None, "the C writer is a stale build: its slot layout differs"
    return slotwriter, ""


_c_module, WHY_PYTHON_WRITER = _load_c_module()
#: Which request-slot writer runs: "c", or "python (why)".
SLOT_WRITER = "c" if _c_module is not None else f"python ({WHY_PYTHON_WRITER})"
_c_writer: Callable[[memoryview, int], RequestSlot] | None = (
    _c_module.SlotWriter if _c_module is not None else None)
_c_count: Callable[..., tuple[int, int]] | None = (
    _c_module.count_busy_idle if _c_module is not None else None)

_duration_bucket = functools.partial(bisect.bisect_left, DURATION_BUCKETS)
_queue_bucket = functools.partial(bisect.bisect_left, QUEUE_BUCKETS)

