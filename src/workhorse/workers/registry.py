"""Which worker class runs for a ``worker_class`` setting.

Strategy: the master only needs the :class:`~workhorse.workers.base.Worker`
contract; the module with a kind's I/O loop is imported here, by name, when
a worker of that kind is created, so the master never depends on it.
"""

from __future__ import annotations

import importlib

from workhorse.workers.base import Worker

KINDS = {
    "sync": ("workhorse.workers.sync", "SyncWorker"),
    "gthread": ("workhorse.workers.gthread", "ThreadWorker"),
}


def worker_class(kind: str) -> type[Worker]:
    """The Worker subclass for ``kind`` ("sync" or "gthread")."""
    try:
        module_name, class_name = KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown worker kind {kind!r}; accepted: {', '.join(KINDS)}")
    cls: type[Worker] = getattr(importlib.import_module(module_name), class_name)
    return cls
