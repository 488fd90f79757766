"""The status snapshot: the one document every view of the server reads.

Strategy: the master builds a :class:`Snapshot` from the scoreboard and its
own bookkeeping (:mod:`workhorse.master.snapshot`), and everything that
shows the server's state renders that document: the control socket returns
it as JSON, ``workhorse status`` prints it, the Prometheus endpoint and
StatsD turn it into metrics. A view never reads the scoreboard or the
master's internals itself, so all of them agree, and this schema is the
contract between the master and the views (its version is bumped on any
incompatible change).

All times are seconds (floats); ``*_at`` fields are Unix timestamps;
byte counts are integers. ``None`` means "unknown", never zero.
"""

from __future__ import annotations

from typing import TypedDict

SCHEMA_VERSION = 1


class Histogram(TypedDict):
    #: Upper bounds of the finite buckets, ascending; a last +Inf bucket is implied.
    bounds: list[float]
    #: Observations per bucket (not cumulative), len(bounds) + 1 entries.
    counts: list[int]
    sum: float
    count: int


class WindowStats(TypedDict):
    """Figures over the last minute (from histogram deltas, so percentiles are
    bucket-interpolated estimates)."""

    seconds: float  # the window actually covered (shorter right after start)
    requests: int
    rps: float
    duration_p50: float | None
    duration_p90: float | None
    duration_p99: float | None
    queue_p50: float | None
    queue_p90: float | None
    queue_p99: float | None


class ListenerInfo(TypedDict):
    address: str  # "127.0.0.1:8000", "unix:/run/app.sock"
    kind: str  # "tcp" | "unix"
    queued: int | None  # connections waiting in the accept queue
    limit: int | None  # the accept queue's limit (backlog)


class ThreadInfo(TypedDict):
    thread: int
    slot_id: int  # worker slot * threads + thread: the access log's `slot` atom
    state: str  # "idle" | "reading" | "app" | "writing"
    char: str  # the map character
    request: str  # request line, "" when idle
    client: str
    request_id: str
    elapsed: float | None  # seconds since the request started, None when idle
    deadline_in: float | None  # seconds until its deadline (negative: overdue)
    queue_time: float | None
    requests: int
    last_status: int


class WorkerInfo(TypedDict):
    slot: int
    pid: int
    generation: int
    state: str  # "booting" | "ready" | "stopping"
    age: float  # seconds since spawn
    heartbeat_age: float
    rss_bytes: int
    requests: int
    busy_seconds: float
    connections: int  # open client connections (gthread keep-alive included)
    threads: list[ThreadInfo]


class Totals(TypedDict):
    requests: int
    by_status_class: dict[str, int]  # "1xx".."5xx"
    bytes_in: int
    bytes_out: int
    duration: Histogram
    queue: Histogram
    busy_seconds: float


class Summary(TypedDict):
    target_workers: int
    workers_alive: int
    workers_booting: int
    workers_ready: int
    workers_stopping: int
    slots_total: int  # request slots of ready workers
    busy: int  # request slots serving a request
    idle: int  # request slots of ready workers waiting for work
    busy_ratio: float | None
    restarts: dict[str, int]  # cause -> count since the master started
    timeouts: int
    loops_blocked: int  # event loops reported blocked (asgi workers)
    shed: int  # requests answered 503 for waiting longer than max_queue_time
    answered_504: int
    answered_503: int
    boot_failures_in_a_row: int
    draining: bool  # the server is stopping (TERM received, shutdown_delay or after)
    unable_to_boot_for: float | None  # seconds no worker could boot and serve (None: fine)
    next_spawn_in: float | None  # while boot backoff holds spawns back


class ServerInfo(TypedDict):
    pid: int
    version: str
    started_at: float
    uptime: float
    proc_name: str
    worker_class: str
    threads: int
    timeout: float
    generation: int
    reexec_pid: int


class Snapshot(TypedDict):
    schema: int
    taken_at: float
    server: ServerInfo
    summary: Summary
    window: WindowStats
    totals: Totals
    listeners: list[ListenerInfo]
    map: str  # one character per request slot of every live worker, in slot order
    workers: list[WorkerInfo]


# --- the last minutes, for the status page's plots (observe.history) -----------------------
HISTORY_SCHEMA_VERSION = 1


class HistoryEvent(TypedDict):
    """Restarts or timeouts that happened between two samples."""

    at: float  # Unix time of the sample that saw them
    kind: str  # "timeout" | "restart"
    cause: str  # the restart cause (as in Summary.restarts); "" for a timeout
    count: int


class History(TypedDict):
    """The last minutes as columns, oldest sample first; one entry per sample.

    Rates and percentiles describe the interval that ends at the sample
    (from the difference of the cumulative counters), so the first sample
    the master takes is a starting point only and appears in no column.
    """

    schema: int
    interval: float  # seconds between samples
    span: float  # seconds the ring holds at most
    at: list[float]  # Unix time of each sample
    busy: list[int]
    idle: list[int]
    busy_ratio: list[float | None]
    rps: dict[str, list[float]]  # requests per second by status class, "1xx".."5xx"
    duration_p50: list[float | None]
    duration_p99: list[float | None]
    queue_p50: list[float | None]
    queue_p99: list[float | None]
    backlog: list[int | None]  # connections waiting over all listeners (None: unknown)
    events: list[HistoryEvent]
