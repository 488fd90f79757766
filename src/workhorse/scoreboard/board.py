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
takes no lock. Readers (the master, the status command, metrics) take a
consistent copy with a sequence counter (a seqlock): the writer makes it odd
before a multi-field update and even after; a reader retries while it is
odd or changed under it.

Numbers are stored as 8-byte words reached through two typed views of the
same memory (signed integers and floats), so a field update is one indexed
store, not a struct call: this is what keeps the scoreboard within its 3 %
cost budget on a hello-world request.
"""

from __future__ import annotations

import bisect
import math
import mmap
import struct
import time
from dataclasses import dataclass

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
WORKER_WORDS = 16
WORKER_SLOT_SIZE = WORKER_WORDS * WORD

# --- request slot layout (words) ------------------------------------------
R_VERSION = 0
R_STATE = 1
R_SEQ = 2  # per-request sequence number, pairs with R_FD
R_FD = 3  # the client socket's fd in the worker, -1 when none
R_STARTED = 4  # monotonic, float
R_DEADLINE = 5  # monotonic, float (0 = none)
R_STARTED_WALL = 6  # time.time(), float
R_QUEUE = 7  # queue time of the current request, float (NaN = unknown)
R_REQUESTS = 8  # requests served by this slot since its worker started
R_BUSY_SECONDS = 9  # float, cumulative time spent serving requests
R_LAST_STATUS = 10
R_STATUS_CLASSES = 11  # 5 words: 1xx .. 5xx
R_DURATION_SUM = 16  # float
R_DURATION_BUCKETS = 17  # len(DURATION_BUCKETS) + 1 words
R_QUEUE_SUM = R_DURATION_BUCKETS + len(DURATION_BUCKETS) + 1  # float
R_QUEUE_COUNT = R_QUEUE_SUM + 1
R_QUEUE_BUCKETS = R_QUEUE_COUNT + 1  # len(QUEUE_BUCKETS) + 1 words
R_BYTES_IN = R_QUEUE_BUCKETS + len(QUEUE_BUCKETS) + 1
R_BYTES_OUT = R_BYTES_IN + 1
R_LINE_LEN = R_BYTES_OUT + 1
R_CLIENT_LEN = R_LINE_LEN + 1
R_RID_LEN = R_CLIENT_LEN + 1
R_NUMERIC_WORDS = 64
LINE_MAX = 256
CLIENT_MAX = 64
RID_MAX = 64
R_LINE_OFF = R_NUMERIC_WORDS * WORD
R_CLIENT_OFF = R_LINE_OFF + LINE_MAX
R_RID_OFF = R_CLIENT_OFF + CLIENT_MAX
REQUEST_SLOT_SIZE = R_RID_OFF + RID_MAX
assert R_RID_LEN < R_NUMERIC_WORDS
assert REQUEST_SLOT_SIZE % WORD == 0

HEADER_SIZE = 64
MAGIC = 0x574B4853  # "WKHS"

# Plain ints for the hot path (storing an IntEnum member costs a conversion).
IDLE, READING, APP, WRITING = (int(RequestState.IDLE), int(RequestState.READING),
                               int(RequestState.APP), int(RequestState.WRITING))
_NAN = math.nan
#: Multi-word writes, each one copy into the slot (native byte order, as the
#: typed views read them).
_BEGIN = struct.Struct("=qqqqdddd")  # words 0-7
_IDLE = struct.Struct("=qqqdd")  # words 1-5
_TOTALS = struct.Struct("=qdq")  # words 8-10
_LENGTHS = struct.Struct("=qqq")  # line, client and request-id lengths
assert tuple(range(1, 8)) == (R_STATE, R_SEQ, R_FD, R_STARTED, R_DEADLINE, R_STARTED_WALL,
        R_QUEUE)
assert (R_REQUESTS, R_BUSY_SECONDS, R_LAST_STATUS) == (8, 9, 10)
assert (R_CLIENT_LEN, R_RID_LEN) == (R_LINE_LEN + 1, R_LINE_LEN + 2)

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

    def request_writer(self, index: int, thread: int) -> RequestSlotWriter:
        return RequestSlotWriter(self, index, thread)

    # --- readers -------------------------------------------------------------
    def _stable_copy(self, base: int, nbytes: int) -> bytes:
        ints = self._ints
        start = base * WORD
        copy = b""
        for _ in range(READ_RETRIES):
            before = ints[base]
            if before & 1:
                continue
            copy = bytes(self._raw[start : start + nbytes])
            if ints[base] == before:
                return copy
        return copy or bytes(self._raw[start : start + nbytes])

    def read_worker(self, index: int) -> WorkerSnapshot:
        data = memoryview(self._stable_copy(self.worker_base(index), WORKER_SLOT_SIZE))
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
        )

    def read_request(self, index: int, thread: int) -> RequestSnapshot:
        raw = self._stable_copy(self.request_base(index, thread), REQUEST_SLOT_SIZE)
        view = memoryview(raw)
        ints, floats = view.cast("q"), view.cast("d")
        queue = floats[R_QUEUE]
        nd = len(DURATION_BUCKETS) + 1
        nq = len(QUEUE_BUCKETS) + 1
        return RequestSnapshot(
            worker=index,
            thread=thread,
            state=_request_state(ints[R_STATE]),
            seq=ints[R_SEQ],
            fd=ints[R_FD],
            started=floats[R_STARTED],
            deadline=floats[R_DEADLINE],
            started_wall=floats[R_STARTED_WALL],
            queue_time=None if math.isnan(queue) else queue,
            requests=ints[R_REQUESTS],
            busy_seconds=floats[R_BUSY_SECONDS],
            last_status=ints[R_LAST_STATUS],
            status_classes=tuple(ints[R_STATUS_CLASSES : R_STATUS_CLASSES + 5]),
            duration_sum=floats[R_DURATION_SUM],
            duration_buckets=tuple(ints[R_DURATION_BUCKETS : R_DURATION_BUCKETS + nd]),
            queue_sum=floats[R_QUEUE_SUM],
            queue_count=ints[R_QUEUE_COUNT],
            queue_buckets=tuple(ints[R_QUEUE_BUCKETS : R_QUEUE_BUCKETS + nq]),
            bytes_in=ints[R_BYTES_IN],
            bytes_out=ints[R_BYTES_OUT],
            request_line=_text(raw, R_LINE_OFF, ints[R_LINE_LEN], LINE_MAX),
            client=_text(raw, R_CLIENT_OFF, ints[R_CLIENT_LEN], CLIENT_MAX),
            request_id=_text(raw, R_RID_OFF, ints[R_RID_LEN], RID_MAX),
        )

    def count_busy_idle(self) -> tuple[int, int]:
        """(busy, idle) request slots of ready workers, read without copying slots.

        Cheap enough for the request path (one load per slot) and exact up to
        the updates racing with the scan, which is all an access-log atom needs.
        """
        ints = self._ints
        busy = idle = 0
        for index in range(self.worker_capacity):
            wstate = ints[self.worker_base(index) + W_STATE]
            if wstate != WorkerState.READY and wstate != WorkerState.STOPPING:
                continue
            for thread in range(self.threads):
                if ints[self.request_base(index, thread) + R_STATE]:
                    busy += 1
                elif wstate == WorkerState.READY:
                    idle += 1
        return busy, idle

    def read_fd_and_seq(self, index: int, thread: int) -> tuple[RequestState, int, int]:
        """The (state, seq, fd) of a request slot, read consistently."""
        snap = self.read_request(index, thread)
        return snap.state, snap.seq, snap.fd


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


class RequestSlotWriter:
    """One request-serving thread's handle on its request slot (the hot path).

    Every method is a handful of indexed stores into shared memory, bracketed
    by the slot's sequence counter so readers never act on a half-written
    request (the watchdog pairs ``fd`` with ``seq`` before it takes a copy of
    the client socket).
    """

    __slots__ = ("_base", "_busy", "_byte", "_floats", "_ints", "_raw", "_requests",
                 "_seq", "_started", "_version")

    def __init__(self, board: Scoreboard, index: int, thread: int) -> None:
        self._base = board.request_base(index, thread)
        self._byte = self._base * WORD
        self._ints = board._ints
        self._floats = board._floats
        self._raw = board._raw
        # The slot has one writer (this object), so it keeps its own copies of
        # the counters it bumps: a write is then one store, not a load and a store.
        self._version = self._ints[self._base]
        self._seq = self._ints[self._base + R_SEQ]
        self._requests = self._ints[self._base + R_REQUESTS]
        self._busy = self._floats[self._base + R_BUSY_SECONDS]
        self._started = 0.0

    def begin(self, fd: int, now: float, deadline: float) -> None:
        """A connection was taken, or a keep-alive request began arriving."""
        version = self._version + 1
        self._seq += 1
        self._started = now
        # Words 0-7 in one copy: version (odd: being written), state, seq, fd,
        # start, deadline, wall-clock start, queue time (unknown).
        _BEGIN.pack_into(self._raw, self._byte, version, READING, self._seq, fd, now, deadline,
                         time.time(), _NAN)
        ints = self._ints
        ints[self._base + R_LINE_LEN] = 0
        self._version = version + 1
        ints[self._base] = version + 1

    def in_app(
        self, request_line: bytes, client: bytes, request_id: bytes, queue_time: float | None
    ) -> None:
        """The request head was read; the application is about to run."""
        base, ints, raw, byte = self._base, self._ints, self._raw, self._byte
        version = self._version + 1
        ints[base] = version
        line = request_line[:LINE_MAX]
        client = client[:CLIENT_MAX]
        rid = request_id[:RID_MAX]
        raw[byte + R_LINE_OFF : byte + R_LINE_OFF + len(line)] = line
        raw[byte + R_CLIENT_OFF : byte + R_CLIENT_OFF + len(client)] = client
        raw[byte + R_RID_OFF : byte + R_RID_OFF + len(rid)] = rid
        _LENGTHS.pack_into(raw, byte + R_LINE_LEN * WORD, len(line), len(client), len(rid))
        if queue_time is not None:
            floats = self._floats
            floats[base + R_QUEUE] = queue_time
            floats[base + R_QUEUE_SUM] += queue_time
            ints[base + R_QUEUE_COUNT] += 1
            ints[base + R_QUEUE_BUCKETS + bisect.bisect_left(QUEUE_BUCKETS, queue_time)] += 1
        ints[base + R_STATE] = APP
        self._version = version + 1
        ints[base] = version + 1

    def writing(self) -> None:
        """The response head is about to be sent: a 504 can no longer be given."""
        self._ints[self._base + R_STATE] = WRITING

    def extend_deadline(self, seconds: float) -> None:
        """Move this request's deadline (the app asked for more time)."""
        base, ints = self._base, self._ints
        ints[base] = self._version + 1
        self._floats[base + R_DEADLINE] = time.monotonic() + seconds
        self._version += 2
        ints[base] = self._version

    def end(self, status: int, now: float, bytes_in: int, bytes_out: int) -> float:
        """The request is done; count it and go idle. Returns its duration."""
        base, ints, floats, raw, byte = self._base, self._ints, self._floats, self._raw, self._byte
        duration = now - self._started
        version = self._version + 1
        ints[base] = version
        self._requests += 1
        self._busy += duration
        # Words 1-5: idle, seq unchanged, no fd, start unchanged, no deadline.
        _IDLE.pack_into(raw, byte + WORD, IDLE, self._seq, -1, self._started, 0.0)
        # Words 8-10: requests served, busy seconds, last status.
        _TOTALS.pack_into(raw, byte + R_REQUESTS * WORD, self._requests, self._busy, status)
        klass = status // 100 - 1
        if 0 <= klass < 5:
            ints[base + R_STATUS_CLASSES + klass] += 1
        floats[base + R_DURATION_SUM] += duration
        ints[base + R_DURATION_BUCKETS + bisect.bisect_left(DURATION_BUCKETS, duration)] += 1
        ints[base + R_BYTES_IN] += bytes_in
        ints[base + R_BYTES_OUT] += bytes_out
        self._version = version + 1
        ints[base] = version + 1
        return duration

    def abandon(self) -> None:
        """The connection ended without a complete request (nothing to count)."""
        version = self._version + 1
        self._ints[self._base] = version
        _IDLE.pack_into(self._raw, self._byte + WORD, IDLE, self._seq, -1, self._started, 0.0)
        self._version = version + 1
        self._ints[self._base] = version + 1
