"""Dirty Arbiters: Gunicorn's pool for long-running jobs, accepted but not implemented."""

# setting() returns a dataclasses.field (a copied default for lists and dicts).
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass

from workhorse.config import converters as c
from workhorse.config import hooks as h
from workhorse.config.registry import Support, setting

SECTION = "Dirty Arbiters"
HOOKS_SECTION = "Dirty Arbiter Hooks"
_NO_DIRTY = "dirty arbiters are not implemented; run long jobs in a task queue"
_NOOP = "a function that does nothing"


@dataclass(init=False, repr=False, eq=False)
class DirtyArbiters:
    dirty_apps: list[str] = setting(
        [],
        section=SECTION,
        flags=("--dirty-app",),
        action="append",
        metavar="STRING",
        convert=c.string_list,
        support=Support.ACCEPTED,
        note=_NO_DIRTY,
        help="Application classes for the dirty worker pool: MODULE:CLASS[:N] (repeatable).",
    )
    dirty_workers: int = setting(
        0,
        section=SECTION,
        flags=("--dirty-workers",),
        metavar="INT",
        convert=c.non_negative_int,
        support=Support.ACCEPTED,
        note=_NO_DIRTY,
        help="Number of dirty worker processes (0: none).",
    )
    dirty_timeout: int = setting(
        300,
        section=SECTION,
        flags=("--dirty-timeout",),
        metavar="INT",
        convert=c.non_negative_int,
        support=Support.ACCEPTED,
        note=_NO_DIRTY,
        help="Seconds a dirty job may run.",
    )
    dirty_threads: int = setting(
        1,
        section=SECTION,
        flags=("--dirty-threads",),
        metavar="INT",
        convert=c.non_negative_int,
        support=Support.ACCEPTED,
        note=_NO_DIRTY,
        help="Threads per dirty worker.",
    )
    dirty_graceful_timeout: int = setting(
        30,
        section=SECTION,
        flags=("--dirty-graceful-timeout",),
        metavar="INT",
        convert=c.non_negative_int,
        support=Support.ACCEPTED,
        note=_NO_DIRTY,
        help="Seconds dirty workers get to finish on shutdown.",
    )


@dataclass(init=False, repr=False, eq=False)
class DirtyArbiterHooks:
    on_dirty_starting: h.ServerHook = setting(
        h.on_dirty_starting,
        section=HOOKS_SECTION,
        convert=c.hook(1, "arbiter"),
        hook_arity=1,
        support=Support.ACCEPTED,
        note=_NO_DIRTY,
        default_doc=_NOOP,
        help="Called when the dirty arbiter starts: on_dirty_starting(arbiter).",
    )
    dirty_post_fork: h.ServerWorkerHook = setting(
        h.dirty_post_fork,
        section=HOOKS_SECTION,
        convert=c.hook(2, "arbiter, worker"),
        hook_arity=2,
        support=Support.ACCEPTED,
        note=_NO_DIRTY,
        default_doc=_NOOP,
        help="Called after a dirty worker is forked: dirty_post_fork(arbiter, worker).",
    )
    dirty_worker_init: h.WorkerHook = setting(
        h.dirty_worker_init,
        section=HOOKS_SECTION,
        convert=c.hook(1, "worker"),
        hook_arity=1,
        support=Support.ACCEPTED,
        note=_NO_DIRTY,
        default_doc=_NOOP,
        help="Called once a dirty worker has loaded its apps: dirty_worker_init(worker).",
    )
    dirty_worker_exit: h.ServerWorkerHook = setting(
        h.dirty_worker_exit,
        section=HOOKS_SECTION,
        convert=c.hook(2, "arbiter, worker"),
        hook_arity=2,
        support=Support.ACCEPTED,
        note=_NO_DIRTY,
        default_doc=_NOOP,
        help="Called when a dirty worker exits: dirty_worker_exit(arbiter, worker).",
    )
