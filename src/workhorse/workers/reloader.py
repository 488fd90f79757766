"""Code reload for development (``--reload``): restart the worker on changes.

Strategy: a daemon thread in the worker polls the modification times of
every loaded module's file and of ``reload_extra_files`` once a second
(polling works everywhere, needs nothing installed, and a second is fast
enough for a developer). On a change it logs the file and stops the worker
gracefully; the master starts a fresh one, which imports the new code. If
the new code does not import, boot backoff applies, so a broken edit does
not turn into a restart storm.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

#: Seconds between two scans of the files.
POLL_INTERVAL = 1.0


def module_files() -> set[str]:
    files = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and os.path.isfile(path):
            files.add(path[:-1] if path.endswith(".pyc") else path)
    return files


def expand(patterns: Iterable[str]) -> set[str]:
    import glob

    files: set[str] = set()
    for pattern in patterns:
        files.update(glob.glob(pattern, recursive=True) or [pattern])
    return files


def mtimes(files: Iterable[str]) -> dict[str, float]:
    times = {}
    for path in files:
        try:
            times[path] = os.stat(path).st_mtime
        except OSError:
            times[path] = 0.0
    return times


class Reloader(threading.Thread):
    def __init__(self, extra_files: Iterable[str], on_change: Callable[[str], None]) -> None:
        super().__init__(name="workhorse-reloader", daemon=True)
        self.extra = list(extra_files)
        self.on_change = on_change
        self.stopped = threading.Event()

    def run(self) -> None:
        known = mtimes(module_files() | expand(self.extra))
        while not self.stopped.wait(POLL_INTERVAL):
            current = mtimes(module_files() | expand(self.extra))
            for path, stamp in current.items():
                if path in known and stamp != known[path]:
                    self.on_change(path)
                    return
            known.update(current)


def start_reloader(worker: object, extra_files: Iterable[str], log: Any) -> Reloader:
    def changed(path: str) -> None:
        log.info("Worker reloading: %s modified", path)
        os.kill(os.getpid(), signal.SIGTERM)

    reloader = Reloader(extra_files, changed)
    reloader.start()
    return reloader
