"""Worker Processes: how many workers, of which kind, and their deadlines."""

# setting() returns a dataclasses.field (a copied default for lists and dicts).

from __future__ import annotations

from dataclasses import dataclass

from workhorse.config import converters as c
from workhorse.config.registry import Support, setting

SECTION = "Worker Processes"



@dataclass(init=False, repr=False, eq=False)
class WorkerProcesses:
    workers: int = setting(
        1,
        section=SECTION,
        flags=("-w", "--workers"),
        metavar="INT",
        env="WEB_CONCURRENCY",
        convert=c.non_negative_int,
        default_doc="1, or $WEB_CONCURRENCY when set",
        help="Number of worker processes.",
        details="A common starting point is 2-4 per CPU core; measure from there.",
    )
    worker_class: str = setting(
        "sync",
        section=SECTION,
        flags=("-k", "--worker-class"),
        metavar="STRING",
        convert=c.worker_class_path,
        help="Worker type: sync (one request at a time), gthread (a thread pool), asgi "
             "(ASGI apps on an event loop) or gevent (WSGI apps on greenlets).",
        details=(
            "Gunicorn's dotted names `gunicorn.workers.sync.SyncWorker`,"
            " `gunicorn.workers.gthread.ThreadWorker` and"
            " `gunicorn.workers.ggevent.GeventWorker` and ours,"
            " `workhorse.workers.sync` and `workhorse.workers.gthread`, are accepted."
            " `sync` with `threads` above 1 runs the gthread worker, as in Gunicorn."
            " `gevent_wsgi` and `gevent_pywsgi` (Gunicorn's gevent worker on gevent's"
            " own HTTP server) run the gevent worker, on workhorse's HTTP core; it"
            " needs gevent 24.10.1 or later (`pip install 'workhorse[gevent]'`), see"
            " docs/gevent.md. Other worker classes (eventlet, tornado, ...) are"
            " refused at start-up."
        ),
    )
    threads: int = setting(
        1,
        section=SECTION,
        flags=("--threads",),
        metavar="INT",
        convert=c.non_negative_int,
        help="Threads per worker for the gthread worker (more than 1 selects it).",
    )
    worker_connections: int = setting(
        1000,
        section=SECTION,
        flags=("--worker-connections",),
        metavar="INT",
        convert=c.non_negative_int,
        help="Most client connections a gthread worker holds open at once; in the asgi "
             "and gevent workers, most requests in flight (each has a scoreboard slot).",
        details=(
            "As in Gunicorn's gthread worker: connections beyond `threads` wait"
            " in keep-alive. The sync worker serves one connection at a time. The"
            " asgi and gevent workers show at most 4096 requests in flight per"
            " worker; more wait for a slot (in the asgi worker that wait counts as"
            " queue time); the gevent worker also holds at most this many"
            " connections, the others waiting in the listen queue for a sibling."
        ),
    )
    max_requests: int = setting(
        0,
        section=SECTION,
        flags=("--max-requests",),
        metavar="INT",
        convert=c.non_negative_int,
        help="Replace a worker after it has served this many requests (0: never).",
        details="Bounds the damage of slow memory leaks; see also `max_worker_memory`.",
    )
    max_requests_jitter: int = setting(
        0,
        section=SECTION,
        flags=("--max-requests-jitter",),
        metavar="INT",
        convert=c.non_negative_int,
        help="Add a random 0..N to max_requests per worker so they do not restart together.",
    )
    timeout: float = setting(
        30,
        section=SECTION,
        flags=("-t", "--timeout"),
        metavar="SECONDS",
        convert=c.seconds,
        help="Seconds a request may run before its worker is killed (0: no limit).",
        details=(
            "Measured per request, in shared memory, by the master: a worker stuck"
            " in C code is caught too, in the sync and the gthread worker alike."
            " The client of the killed request gets a 504. Fractions are accepted"
            " (Gunicorn takes whole seconds only). Application loading is limited"
            " by `boot_timeout` instead."
        ),
    )
    graceful_timeout: float = setting(
        30,
        section=SECTION,
        flags=("--graceful-timeout",),
        metavar="SECONDS",
        convert=c.seconds,
        help="Seconds workers get to finish their requests after a stop or restart.",
        details="Workers still busy after this are killed. Fractions are accepted.",
    )
    keepalive: float = setting(
        2,
        section=SECTION,
        flags=("--keep-alive",),
        metavar="SECONDS",
        convert=c.seconds,
        help="Seconds an idle keep-alive connection is kept open for its next request.",
        details=(
            "Behind a load balancer, set it above the balancer's idle timeout."
            " Fractions are accepted."
        ),
    )
    boot_timeout: float = setting(
        120,
        section=SECTION,
        flags=("--boot-timeout",),
        metavar="SECONDS",
        convert=c.seconds,
        support=Support.NEW,
        help="Seconds from fork until a worker must be ready to serve (0: no limit).",
        details=(
            "Covers importing and initialising the application in the worker,"
            " which `timeout` does not. A worker that misses it is killed and"
            " respawned after a back-off (`boot_backoff_max`)."
        ),
    )
    boot_backoff_max: float = setting(
        60,
        section=SECTION,
        flags=("--boot-backoff-max",),
        metavar="SECONDS",
        convert=c.seconds,
        support=Support.NEW,
        help="Longest wait between respawns of a worker that fails to boot or dies young.",
        details=(
            "The wait doubles with each consecutive failure up to this cap and is"
            " reset once a worker has stayed up."
        ),
    )
    max_boot_failures: int = setting(
        0,
        section=SECTION,
        flags=("--max-boot-failures",),
        metavar="INT",
        convert=c.non_negative_int,
        support=Support.NEW,
        help="Exit (code 3, Gunicorn's boot error) after this many failed boots in a row "
             "(0: never, keep backing off).",
        details=(
            "For supervisors that restart a server that crashes: Gunicorn exits at the"
            " first worker that fails to boot; workhorse keeps backing off and serving"
            " with the workers it has, unless this is set."
        ),
    )
    boot_failure_unhealthy_after: float = setting(
        60,
        section=SECTION,
        flags=("--boot-failure-unhealthy-after",),
        metavar="SECONDS",
        convert=c.seconds,
        support=Support.NEW,
        help="/healthz answers 503 once no worker has been able to boot for this long "
             "(0: never).",
        details=(
            "So that a liveness probe restarts an instance whose app cannot start (a"
            " dependency down, a broken deploy); /readyz is 503 as soon as no worker"
            " is ready."
        ),
    )
    shutdown_delay: float = setting(
        0,
        section=SECTION,
        flags=("--shutdown-delay",),
        metavar="SECONDS",
        convert=c.seconds,
        support=Support.NEW,
        help="On TERM, keep serving this long (with /readyz answering 503) before "
             "the graceful stop begins.",
        details=(
            "A load balancer (a Kubernetes Service) keeps sending new connections for"
            " a few seconds after it was told the instance goes: they are served"
            " instead of refused. 0 keeps Gunicorn's behaviour. Then the workers stop"
            " accepting, serve what waits in the listen queue, and finish their"
            " requests within graceful_timeout. See docs/deploy.md."
        ),
    )
    max_queue_time: float = setting(
        0,
        section=SECTION,
        flags=("--max-queue-time",),
        metavar="SECONDS",
        convert=c.seconds,
        support=Support.NEW,
        help="Answer 503 without running the app to a request that waited longer than "
             "this (0: off).",
        details=(
            "The wait is what a trusted proxy's X-Request-Start or X-Queue-Start says,"
            " or, for the asgi worker, the wait for a free request slot too. A client"
            " that waited that long has probably given up; shedding its request keeps"
            " the ones that are still wanted fast. Counted in the metrics"
            " (workhorse_shed_total) and logged like any request (status 503)."
        ),
    )
    max_worker_memory: int = setting(
        0,
        section=SECTION,
        flags=("--max-worker-memory",),
        metavar="BYTES",
        convert=c.byte_size,
        support=Support.NEW,
        help="Resident memory above which a worker is replaced, e.g. 512M (0: off).",
        details=(
            "The worker finishes the request in progress, stops accepting, and a"
            " fresh worker takes its place."
        ),
    )
    timeout_stack_dump: bool = setting(
        True,
        section=SECTION,
        flags=("--no-timeout-stack-dump",),
        action="store_false",
        convert=c.boolean,
        support=Support.NEW,
        help="Log the stacks of a worker killed for a timeout; the flag turns it off.",
        details="Every thread's Python stack is logged, even when the worker is stuck in C code.",
    )
    asgi_loop: str = setting(
        "auto",
        section=SECTION,
        flags=("--asgi-loop",),
        metavar="STRING",
        convert=c.choice("auto", "asyncio", "uvloop", none="auto"),
        help="Event loop of the asgi worker: uvloop when installed (auto), or asyncio.",
    )
    asgi_lifespan: str = setting(
        "auto",
        section=SECTION,
        flags=("--asgi-lifespan",),
        metavar="STRING",
        convert=c.choice("auto", "on", "off", none="auto"),
        help="Whether the asgi worker runs the app's lifespan startup and shutdown.",
        details=(
            "auto: run it, and serve anyway if the app does not speak it; on: an app"
            " that does not complete its startup fails to boot; off: never. A failing"
            " startup is a failed boot (logged with the app's error, backed off)."
        ),
    )
    asgi_disconnect_grace_period: int = setting(
        3,
        section=SECTION,
        flags=("--asgi-disconnect-grace-period",),
        metavar="INT",
        convert=c.non_negative_int,
        help="Seconds an ASGI app gets to finish after its client disconnects.",
        details="After that its task is cancelled: no request task outlives its client.",
    )
    blocked_loop_timeout: float = setting(
        1.0,
        section=SECTION,
        flags=("--blocked-loop-timeout",),
        metavar="SECONDS",
        convert=c.seconds,
        support=Support.NEW,
        help="Report an event loop that has not turned for this long, with the blocking "
             "call's stack (0: off).",
        details=(
            "The asgi worker's loop (the gevent worker's hub) serves every request of the"
            " worker, so one blocking call in an async view (time.sleep, a blocking client,"
            " CPU work), or in a greenlet that never yields (C code gevent cannot patch, a"
            " long computation), freezes them all."
            " The worker's own watchdog thread writes the stack of the call that blocks the"
            " loop, and the master logs it once per incident as LOOP BLOCKED with the"
            " requests in flight. Keep it well under timeout."
        ),
    )
    websocket_max_message_size: int = setting(
        16 * 1024 * 1024,
        section=SECTION,
        flags=("--websocket-max-message-size",),
        metavar="BYTES",
        convert=c.non_negative_int,
        help="Largest WebSocket message the asgi worker accepts (0: no limit).",
        details="A larger one closes the connection with code 1009, as in Gunicorn.",
    )
    http_parser: str = setting(
        "auto",
        section=SECTION,
        flags=("--http-parser",),
        metavar="STRING",
        convert=c.choice("auto", "fast", "python", none="auto"),
        support=Support.ACCEPTED,
        honoured=("python",),
        note="workhorse has one HTTP/1.1 parser, written in Python; 'fast' selects nothing",
        help="HTTP parser implementation: auto, fast (C) or python.",
    )
