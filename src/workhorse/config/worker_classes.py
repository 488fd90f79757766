"""The names a ``worker_class`` setting may have, and the worker kind each one means.

Strategy: Gunicorn configurations name worker classes in many ways: its
short names, its dotted class paths, ``egg:gunicorn#...`` URIs, and for ASGI
apps the uvicorn worker (``uvicorn.workers.UvicornWorker``, the
``uvicorn-worker`` package's ``uvicorn_worker.UvicornWorker``) or a project's
subclass of it, which typically only sets ``CONFIG_KWARGS`` (lifespan, loop).
Each maps to one of workhorse's kinds; an alias is said once in the log
(:func:`alias_note`), and a subclass's ``CONFIG_KWARGS`` that workhorse has a
setting for are applied (:func:`uvicorn_overrides`). Gunicorn's gevent
workers (``gevent``, its ``gevent_wsgi``/``gevent_pywsgi`` variants on
gevent's own HTTP server) are served by the gevent worker, which needs gevent
at its security floor (checked from the installed distribution, without
importing gevent into the master). Anything else is refused with the names
that are accepted.
"""

from __future__ import annotations

import functools
import importlib
import itertools
from typing import Any

from workhorse.config.errors import ConfigError

SYNC = frozenset({"sync", "gunicorn.workers.sync.SyncWorker", "workhorse.workers.sync",
                  "egg:gunicorn#sync"})
GTHREAD = frozenset({"gthread", "gunicorn.workers.gthread.ThreadWorker",
                     "workhorse.workers.gthread", "egg:gunicorn#gthread"})
ASGI = frozenset({"asgi", "gunicorn.workers.gasgi.ASGIWorker", "workhorse.workers.asgi",
                  "egg:gunicorn#asgi"})
GEVENT = frozenset({"gevent", "gunicorn.workers.ggevent.GeventWorker", "workhorse.workers.gevent",
                    "egg:gunicorn#gevent"})
#: Gunicorn's gevent worker on gevent's own HTTP server (pywsgi): served by the
#: gevent worker, whose requests go through workhorse's HTTP core like every other.
GEVENT_PYWSGI = frozenset({"gevent_wsgi", "gevent_pywsgi",
                           "gunicorn.workers.ggevent.GeventPyWSGIWorker",
                           "egg:gunicorn#gevent_wsgi", "egg:gunicorn#gevent_pywsgi"})
#: Every name of a kind (a dotted path outside them may be a uvicorn subclass).
KNOWN = SYNC | GTHREAD | ASGI | GEVENT
#: The oldest gevent the gevent worker runs on: Gunicorn 27's floor, above the
#: fixes of CVE-2023-41419 (23.9.0, request smuggling in pywsgi) and of
#: CVE-2023-40217 in gevent's SSLSocket (24.2.1), which serves TLS here.
GEVENT_FLOOR = "24.10.1"
#: uvicorn's Gunicorn workers: served by the asgi worker.
UVICORN = frozenset({"uvicorn.workers.UvicornWorker", "uvicorn.workers.UvicornH11Worker",
                     "uvicorn_worker.UvicornWorker", "uvicorn_worker.UvicornH11Worker"})
_UVICORN_CLASSES = frozenset(name.rsplit(".", 1)[1] for name in UVICORN)
_UVICORN_MODULES = frozenset(name.rsplit(".", 1)[0] for name in UVICORN)
ACCEPTED = ("sync, gthread, asgi, gevent (and Gunicorn's and uvicorn's dotted names for "
            "them)")
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
    if name in GEVENT or name in GEVENT_PYWSGI:
        _require_gevent()
        return "gevent"
    if "." in name and _uvicorn_subclass(name) is not None:
        return "asgi"
    raise ConfigError(f"worker_class: {name!r} is not supported by workhorse; accepted: "
                      f"{ACCEPTED}")


def alias_note(name: str) -> str:
    """One sentence for the log when ``name`` is served by a worker of another name."""
    if name in GEVENT_PYWSGI:
        return (f"worker_class {name} is served by workhorse's gevent worker: requests are "
                "parsed by workhorse's HTTP core, not by gevent's pywsgi, and logged by "
                "access_log_format")
    if name in UVICORN:
        return (f"worker_class {name} is served by workhorse's asgi worker (uvicorn is not "
                "used; its settings: --asgi-loop, --asgi-lifespan, --root-path)")
    if name in KNOWN:
        return ""
    if "." in name and _uvicorn_subclass(name) is not None:
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


@functools.cache
def _require_gevent() -> None:
    """The gevent worker needs gevent at or above :data:`GEVENT_FLOOR` (read from the
    installed distribution: the master does not import gevent for this)."""
    # Imported here: importlib.metadata costs about 13 ms of every start
    # (email, zipfile, csv), and only this check needs it.
    from importlib import metadata

    install = "pip install 'workhorse[gevent]'"
    try:
        found = metadata.version("gevent")
    except metadata.PackageNotFoundError:
        raise ConfigError(f"worker_class gevent needs gevent, which is not installed ({install})")
    if _version_tuple(found) < _version_tuple(GEVENT_FLOOR):
        raise ConfigError(f"worker_class gevent needs gevent {GEVENT_FLOOR} or later (older ones "
                          f"have known security flaws); {found} is installed ({install})")


def _version_tuple(version: str) -> tuple[int, ...]:
    """The leading numbers of a release string ("24.10.1" -> (24, 10, 1); "25.4.2.post1"
    -> (25, 4, 2)): enough to compare gevent's releases without another dependency."""
    numbers = []
    for part in version.split("."):
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        numbers.append(int(digits))
        if digits != part:
            break
    return tuple(numbers)
