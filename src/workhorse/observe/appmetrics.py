"""The app's own ``prometheus_client`` metrics, summed over workers, in our endpoint.

Strategy: ``prometheus_client`` counts per process; to sum across workers it
has a multiprocess mode that keeps values in files under
``PROMETHEUS_MULTIPROC_DIR``, which must be set before the app imports the
library, and files of dead workers must be marked (``mark_process_dead``).
Users of Gunicorn wire this by hand with an environment variable and a
``child_exit`` hook. Here, when the metrics endpoint is on and the library is
installed, the master does it: it creates the directory (or uses the one the
user set), exports the variable before any app code runs, marks each reaped
worker dead, collects the merged figures for each scrape, and removes the
directory it created when it exits.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

ENV = "PROMETHEUS_MULTIPROC_DIR"


class AppMetrics:
    """An observe plugin (see workhorse.observe.contract) plus the scrape callables."""

    def __init__(self, directory: str, *, owned: bool) -> None:
        self.directory = directory
        self.owned = owned

    @classmethod
    def setup(cls, environ: Any = os.environ) -> AppMetrics | None:
        """Prepare multiprocess mode; None when prometheus_client is not installed."""
        if importlib.util.find_spec("prometheus_client") is None:
            return None
        existing = environ.get(ENV) or environ.get(ENV.lower())
        if existing:
            os.makedirs(existing, exist_ok=True)
            return cls(existing, owned=False)
        import tempfile

        directory = tempfile.mkdtemp(prefix="workhorse-prometheus-")
        environ[ENV] = directory
        return cls(directory, owned=True)

    def collect(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.directory)  # type: ignore[no-untyped-call]
        data: bytes = generate_latest(registry)
        return data

    def collect_openmetrics(self) -> bytes:
        from prometheus_client import CollectorRegistry, multiprocess
        from prometheus_client.openmetrics.exposition import generate_latest

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.directory)  # type: ignore[no-untyped-call]
        data: bytes = generate_latest(registry)  # type: ignore[no-untyped-call]
        return data

    # --- master plugin ---------------------------------------------------------------
    def start(self, arbiter: Any) -> None:
        pass

    def tick(self, arbiter: Any, now: float) -> None:
        pass

    def worker_exited(self, arbiter: Any, handle: Any, cause: str) -> None:
        from prometheus_client import multiprocess

        try:
            multiprocess.mark_process_dead(handle.pid, path=self.directory)  # type: ignore[no-untyped-call]
        except OSError:
            pass

    def fds(self) -> list[int]:
        return []

    def stop(self, arbiter: Any) -> None:
        if self.owned:
            import shutil

            shutil.rmtree(self.directory, ignore_errors=True)
