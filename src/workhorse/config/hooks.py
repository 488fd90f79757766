"""Server hooks: their signatures and the no-op defaults.

Strategy: a hook is a setting whose value is a callable. Its arity is
Gunicorn's, checked when the hook is loaded (:func:`converters.hook`), so a
wrong signature fails at start-up instead of at the first call. ``server``
and ``worker`` are the master's and the worker's objects; the config package
cannot import them (they depend on it), so they are typed ``Any`` here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # ssl costs MiBs of memory: only the type checker loads it here
    import ssl

#: on_starting, on_reload, when_ready, pre_exec, on_exit: (server)
ServerHook = Callable[[Any], object]
#: post_worker_init, worker_int, worker_abort: (worker)
WorkerHook = Callable[[Any], object]
#: pre_fork, post_fork, child_exit, worker_exit: (server, worker)
ServerWorkerHook = Callable[[Any, Any], object]
#: pre_request: (worker, req)
PreRequestHook = Callable[[Any, Any], object]
#: post_request: (worker, req, environ, resp)
PostRequestHook = Callable[[Any, Any, Any, Any], object]
#: nworkers_changed: (server, new_value, old_value)
NWorkersChangedHook = Callable[[Any, int, int | None], object]
#: ssl_context: (config, default_ssl_context_factory) -> SSLContext
SSLContextHook = Callable[[Any, Callable[[], "ssl.SSLContext"]], "ssl.SSLContext"]


def on_starting(server: Any) -> None:
    """Default: do nothing."""


def on_reload(server: Any) -> None:
    """Default: do nothing."""


def when_ready(server: Any) -> None:
    """Default: do nothing."""


def pre_fork(server: Any, worker: Any) -> None:
    """Default: do nothing."""


def post_fork(server: Any, worker: Any) -> None:
    """Default: do nothing."""


def post_worker_init(worker: Any) -> None:
    """Default: do nothing."""


def worker_int(worker: Any) -> None:
    """Default: do nothing."""


def worker_abort(worker: Any) -> None:
    """Default: do nothing."""


def pre_exec(server: Any) -> None:
    """Default: do nothing."""


def pre_request(worker: Any, req: Any) -> None:
    """Default: do nothing."""


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    """Default: do nothing."""


def child_exit(server: Any, worker: Any) -> None:
    """Default: do nothing."""


def worker_exit(server: Any, worker: Any) -> None:
    """Default: do nothing."""


def nworkers_changed(server: Any, new_value: int, old_value: int | None) -> None:
    """Default: do nothing."""


def on_exit(server: Any) -> None:
    """Default: do nothing."""


def ssl_context(
    config: Any, default_ssl_context_factory: Callable[[], ssl.SSLContext]
) -> ssl.SSLContext:
    """Default: the context built from the SSL settings, unchanged."""
    return default_ssl_context_factory()


def on_dirty_starting(arbiter: Any) -> None:
    """Default: do nothing (dirty arbiters are not implemented)."""


def dirty_post_fork(arbiter: Any, worker: Any) -> None:
    """Default: do nothing (dirty arbiters are not implemented)."""


def dirty_worker_init(worker: Any) -> None:
    """Default: do nothing (dirty arbiters are not implemented)."""


def dirty_worker_exit(arbiter: Any, worker: Any) -> None:
    """Default: do nothing (dirty arbiters are not implemented)."""
