"""Which worker class runs for a ``worker_class`` setting, and how many request slots it needs.

Strategy: the master only needs the :class:`~workhorse.workers.base.Worker`
contract; the module with a kind's I/O loop is imported here, by name, when
a worker of that kind is created, so the master never depends on it.
"""

from __future__ import annotations

import importlib

from workhorse.config.settings import Config
from workhorse.workers.base import Worker

KINDS = {
    "sync": ("workhorse.workers.sync", "SyncWorker"),
    "gthread": ("workhorse.workers.gthread", "ThreadWorker"),
    # gthread with one thread: the same behaviour, served inline by its loop.
    "gthread-inline": ("workhorse.workers.inline", "InlineThreadWorker"),
    "asgi": ("workhorse.workers.asgi", "AsgiWorker"),
    "gevent": ("workhorse.workers.gevent", "GeventWorker"),
}
#: The kinds that serve many requests at once on one loop: a slot per request in flight.
LOOP_KINDS = frozenset({"asgi", "gevent"})
#: Most requests in flight one event-loop worker shows on the scoreboard (and
#: serves at once: more wait for a slot). A slot is under a kilobyte.
MAX_LOOP_SLOTS = 4096


def request_slots(cfg: Config) -> int:
    """Request slots per worker: one per thread, or per concurrent request of an event loop."""
    if cfg.worker_class_name in LOOP_KINDS:
        return max(1, min(cfg.worker_connections or MAX_LOOP_SLOTS, MAX_LOOP_SLOTS))
    return max(1, cfg.threads if cfg.worker_class_name == "gthread" else 1)


def worker_class(kind: str, threads: int = 1) -> type[Worker]:
    """The Worker subclass for ``kind`` (one of :data:`KINDS`)."""
    if kind == "gthread" and threads <= 1:
        kind = "gthread-inline"
    try:
        module_name, class_name = KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown worker kind {kind!r}; accepted: {', '.join(KINDS)}")
    cls: type[Worker] = getattr(importlib.import_module(module_name), class_name)
    return cls
