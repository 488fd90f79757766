"""The names a ``worker_class`` setting may have, and the worker kind each one means.

Strategy: Gunicorn configurations name worker classes in many ways: its
short names, its dotted class paths, ``egg:gunicorn#...`` URIs, and for ASGI
apps the uvicorn worker (``uvicorn.workers.UvicornWorker``, the
``uvicorn-worker`` package's ``uvicorn_worker.UvicornWorker``) or a project's
subclass of it, which typically only sets ``CONFIG_KWARGS`` (lifespan, loop).
Each maps to one of workhorse's kinds; an alias is said once in the log
(:func:`alias_note`), and a subclass's ``CONFIG_KWARGS`` that workhorse has a
setting for are applied (:func:`uvicorn_overrides`). Anything else is refused
with the names that are accepted.
"""

from __future__ import annotations

import importlib
from typing import Any

from workhorse.config.errors import ConfigError

SYNC = frozenset({"sync", "gunicorn.workers.sync.SyncWorker", "workhorse.workers.sync",
                  "egg:gunicorn#sync"})
GTHREAD = frozenset({"gthread", "gunicorn.workers.gthread.ThreadWorker",
                     "workhorse.workers.gthread", "egg:gunicorn#gthread"})
ASGI = frozenset({"asgi", "gunicorn.workers.gasgi.ASGIWorker", "workhorse.workers.asgi",
                  "egg:gunicorn#asgi"})
#: uvicorn's Gunicorn workers: served by the asgi worker.
UVICORN = frozenset({"uvicorn.workers.UvicornWorker", "uvicorn.workers.UvicornH11Worker",
                     "uvicorn_worker.UvicornWorker", "uvicorn_worker.UvicornH11Worker"})
_UVICORN_CLASSES = frozenset(name.rsplit(".", 1)[1] for name in UVICORN)
_UVICORN_MODULES = frozenset(name.rsplit(".", 1)[0] for name in UVICORN)
ACCEPTED = "sync, gthread, asgi (and Gunicorn's and uvicorn's dotted names for them)"
#: uvicorn Config keyword -> workhorse setting, for a subclass's CONFIG_KWARGS.
UVICORN_SETTINGS = {"loop": "asgi_loop", "lifespan": "asgi_lifespan", "root_path": "root_path",
                    "ws_max_size": "websocket_max_message_size"}


def kind_of(name: str, threads: int) -> str:
    """The workhorse worker kind for a ``worker_class`` value (ConfigError if none)."""
    if name in SYNC:
        return "gthread" if threads > 1 else "sync"  # as Gunicorn does
    if name in GTHREAD:
        return "gthread"
    if name in ASGI or name in UVICORN:
        return "asgi"
    if "." in name and _uvicorn_subclass(name) is not None:
        return "asgi"
    raise ConfigError(f"worker_class: {name!r} is not supported by workhorse; accepted: "
                      f"{ACCEPTED}")


def alias_note(name: str) -> str:
    """One sentence for the log when ``name`` is served by a worker of another name."""
    if name in UVICORN:
        return (f"worker_class {name} is served by workhorse's asgi worker (uvicorn is not "
                "used; its settings: --asgi-loop, --asgi-lifespan, --root-path)")
    if name not in ASGI and "." in name and _uvicorn_subclass(name) is not None:
        return (f"worker_class {name} (a subclass of uvicorn's worker) is served by "
                "workhorse's asgi worker, with the CONFIG_KWARGS workhorse has settings for")
    return ""


def uvicorn_overrides(name: str) -> dict[str, Any]:
    """The workhorse settings a uvicorn worker subclass's ``CONFIG_KWARGS`` asks for."""
    cls = _uvicorn_subclass(name) if "." in name and name not in UVICORN else None
    kwargs = getattr(cls, "CONFIG_KWARGS", None) or {}
    return {UVICORN_SETTINGS[key]: value for key, value in dict(kwargs).items()
            if key in UVICORN_SETTINGS}


def _uvicorn_subclass(name: str) -> type | None:
    """The class a dotted path names if one of its bases is uvicorn's worker."""
    module_name, _, class_name = name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"worker_class: cannot import {name!r}: {exc}; accepted: "
                          f"{ACCEPTED}") from None
    for base in getattr(cls, "__mro__", ()):
        if base.__name__ in _UVICORN_CLASSES and base.__module__.split(".")[0] in {
                m.split(".")[0] for m in _UVICORN_MODULES}:
            return cls  # type: ignore[no-any-return]
    return None
