"""Server Hooks: functions from the config file called at points of the server's life.

Each hook's arity is Gunicorn's and is checked when the config is loaded.
"""

# setting() returns a dataclasses.field (a copied default for lists and dicts).
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass

from workhorse.config import converters as c
from workhorse.config import hooks as h
from workhorse.config.registry import setting

SECTION = "Server Hooks"
_NOOP = "a function that does nothing"


@dataclass(init=False, repr=False, eq=False)
class ServerHooks:
    on_starting: h.ServerHook = setting(
        h.on_starting,
        section=SECTION,
        convert=c.hook(1, "server"),
        hook_arity=1,
        default_doc=_NOOP,
        help="Called in the master before it is initialised: on_starting(server).",
    )
    on_reload: h.ServerHook = setting(
        h.on_reload,
        section=SECTION,
        convert=c.hook(1, "server"),
        hook_arity=1,
        default_doc=_NOOP,
        help="Called when the master reloads on SIGHUP: on_reload(server).",
    )
    when_ready: h.ServerHook = setting(
        h.when_ready,
        section=SECTION,
        convert=c.hook(1, "server"),
        hook_arity=1,
        default_doc=_NOOP,
        help="Called once the master listens and has started its workers: when_ready(server).",
    )
    pre_fork: h.ServerWorkerHook = setting(
        h.pre_fork,
        section=SECTION,
        convert=c.hook(2, "server, worker"),
        hook_arity=2,
        default_doc=_NOOP,
        help="Called in the master before forking a worker: pre_fork(server, worker).",
    )
    post_fork: h.ServerWorkerHook = setting(
        h.post_fork,
        section=SECTION,
        convert=c.hook(2, "server, worker"),
        hook_arity=2,
        default_doc=_NOOP,
        help="Called in a new worker right after the fork: post_fork(server, worker).",
    )
    post_worker_init: h.WorkerHook = setting(
        h.post_worker_init,
        section=SECTION,
        convert=c.hook(1, "worker"),
        hook_arity=1,
        default_doc=_NOOP,
        help="Called in a worker once the application is loaded: post_worker_init(worker).",
    )
    worker_int: h.WorkerHook = setting(
        h.worker_int,
        section=SECTION,
        convert=c.hook(1, "worker"),
        hook_arity=1,
        default_doc=_NOOP,
        help="Called in a worker that got SIGINT or SIGQUIT: worker_int(worker).",
    )
    worker_abort: h.WorkerHook = setting(
        h.worker_abort,
        section=SECTION,
        convert=c.hook(1, "worker"),
        hook_arity=1,
        default_doc=_NOOP,
        help="Called in a worker that got SIGABRT, as on a timeout: worker_abort(worker).",
    )
    pre_exec: h.ServerHook = setting(
        h.pre_exec,
        section=SECTION,
        convert=c.hook(1, "server"),
        hook_arity=1,
        default_doc=_NOOP,
        help="Called in the new master before it executes the new binary (USR2): pre_exec(server).",
    )
    pre_request: h.PreRequestHook = setting(
        h.pre_request,
        section=SECTION,
        convert=c.hook(2, "worker, req"),
        hook_arity=2,
        default_doc=_NOOP,
        help="Called in a worker before it runs the application: pre_request(worker, req).",
    )
    post_request: h.PostRequestHook = setting(
        h.post_request,
        section=SECTION,
        convert=c.post_request_hook,
        hook_arity=4,
        default_doc=_NOOP,
        help="Called after a request: post_request(worker, req, environ, resp).",
        details="A function of (worker, req, environ) or (worker, req) is accepted too.",
    )
    child_exit: h.ServerWorkerHook = setting(
        h.child_exit,
        section=SECTION,
        convert=c.hook(2, "server, worker"),
        hook_arity=2,
        default_doc=_NOOP,
        help="Called in the master after a worker has exited: child_exit(server, worker).",
    )
    worker_exit: h.ServerWorkerHook = setting(
        h.worker_exit,
        section=SECTION,
        convert=c.hook(2, "server, worker"),
        hook_arity=2,
        default_doc=_NOOP,
        help="Called in a worker that is exiting: worker_exit(server, worker).",
    )
    nworkers_changed: h.NWorkersChangedHook = setting(
        h.nworkers_changed,
        section=SECTION,
        convert=c.hook(3, "server, new_value, old_value"),
        hook_arity=3,
        default_doc=_NOOP,
        help="Called when the worker count changes: nworkers_changed(server, new, old).",
        details="`old_value` is None the first time.",
    )
    on_exit: h.ServerHook = setting(
        h.on_exit,
        section=SECTION,
        convert=c.hook(1, "server"),
        hook_arity=1,
        default_doc=_NOOP,
        help="Called in the master just before workhorse exits: on_exit(server).",
    )
    ssl_context: h.SSLContextHook = setting(
        h.ssl_context,
        section=SECTION,
        convert=c.hook(2, "config, default_ssl_context_factory"),
        hook_arity=2,
        default_doc="returns default_ssl_context_factory()",
        help="Builds the SSLContext: ssl_context(config, default_ssl_context_factory).",
        details=(
            "The factory returns a context already set up from the SSL settings;"
            " the hook may adjust it (e.g. `minimum_version`) and must return it."
        ),
    )
