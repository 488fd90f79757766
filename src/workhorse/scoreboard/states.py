"""States of scoreboard slots and their one-character codes.

Strategy: a worker slot says where a worker process is in its life (booting,
ready, stopping); a request slot says what one request-serving thread of that
worker is doing right now. The one-character codes follow Apache's
mod_status where a code exists there, so an operator who knows that map
reads ours.
"""

from __future__ import annotations

import enum


class WorkerState(enum.IntEnum):
    """Life of a worker process, written by the worker into its slot."""

    EMPTY = 0  # no process in this slot
    BOOTING = 1  # forked, loading the app
    READY = 2  # serving (its request slots say idle or busy)
    STOPPING = 3  # asked to stop; finishing what is in flight


class RequestState(enum.IntEnum):
    """What one request-serving thread is doing."""

    IDLE = 0  # waiting for a connection or request
    READING = 1  # reading a request head or body from the client
    APP = 2  # the application is running
    WRITING = 3  # sending the response


#: States that count as busy: a request is in flight and has a deadline.
BUSY_STATES = frozenset({RequestState.READING, RequestState.APP, RequestState.WRITING})

REQUEST_STATE_CHARS = {
    RequestState.IDLE: "_",
    RequestState.READING: "R",
    RequestState.APP: "A",
    RequestState.WRITING: "W",
}

WORKER_STATE_CHARS = {
    WorkerState.EMPTY: ".",
    WorkerState.BOOTING: "S",
    WorkerState.STOPPING: "G",
}

STATE_LEGEND = {
    ".": "empty slot (no worker)",
    "S": "starting (worker booting)",
    "_": "idle, waiting for a request",
    "R": "reading the request",
    "A": "in the application",
    "W": "writing the response",
    "G": "gracefully finishing (worker stopping)",
}


def slot_char(worker: WorkerState, request: RequestState) -> str:
    """The map character of one request slot given its worker's state."""
    if worker == WorkerState.READY:
        return REQUEST_STATE_CHARS[request]
    if worker == WorkerState.STOPPING and request in BUSY_STATES:
        return REQUEST_STATE_CHARS[request]
    return WORKER_STATE_CHARS.get(worker, ".")


class ExitReason(enum.IntEnum):
    """Why a worker left, written by the worker before it exits (when it can)."""

    UNKNOWN = 0  # it died without saying (crash, SIGKILL from outside, OOM)
    SHUTDOWN = 1  # told to stop (TERM/INT/QUIT, TTOU, reload)
    MAX_REQUESTS = 2  # served max_requests
    MEMORY = 3  # crossed max_worker_memory
    BOOT_ERROR = 4  # failed to boot (exit code 3)
    APP_LOAD_ERROR = 5  # failed to import the app (exit code 4)
    PARENT_GONE = 6  # the master died


class RestartCause(str, enum.Enum):
    """Why the master replaced a worker, as the status, the metrics and the logs name it.

    Decided by the master (``workhorse.master.exits``) from what it did to the
    worker, the worker's own :class:`ExitReason` and its exit status.
    """

    TIMEOUT = "timeout"  # a request passed its deadline; the watchdog ended it
    BOOT_TIMEOUT = "boot_timeout"  # still booting at boot_timeout
    FROZEN = "frozen"  # its loop stopped beating with nothing in flight
    CRASH = "crash"  # it died on its own (a signal, an unexpected exit)
    BOOT_FAILURE = "boot_failure"  # exit code 3 or 4: could not boot or load the app
    MAX_REQUESTS = "max_requests"  # recycled after max_requests
    MEMORY = "memory"  # over max_worker_memory
    RELOAD = "reload"  # replaced by HUP
    SCALE_DOWN = "scale_down"  # TTOU or a lower target
    KILLED = "killed"  # SIGKILL from outside workhorse (OOM killer, kill -9)

    def __str__(self) -> str:
        return self.value
