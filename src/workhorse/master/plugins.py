"""Components that live in the master's loop next to the workers.

Strategy: the control socket, the metrics listener and StatsD are not part
of supervision, but they must run in the master (so they answer while every
worker is stuck) without the arbiter knowing their details. Each is a
:class:`MasterPlugin`: the arbiter calls ``start`` once its scoreboard
exists, ``tick`` every loop iteration, ``worker_exited`` when it reaps a
worker, and ``stop`` at exit; ``fds`` lists descriptors a forked worker
must close. Plugins register their sockets in ``arbiter.selector`` with a
callback as the key's data.
"""

from __future__ import annotations

from typing import Any

from workhorse.logs.statsd import StatsdClient
from workhorse.observe.appmetrics import AppMetrics
from workhorse.observe.plugins import observe_plugins


class MasterPlugin:
    def start(self, arbiter: Any) -> None:
        """Open sockets and register them with ``arbiter.selector``."""

    def tick(self, arbiter: Any, now: float) -> None:
        """Periodic work; must not block."""

    def worker_exited(self, arbiter: Any, handle: Any, cause: str) -> None:
        """A worker was reaped; ``cause`` is its restart cause or ""."""

    def fds(self) -> list[int]:
        """Descriptors that a forked worker must close."""
        return []

    def stop(self, arbiter: Any) -> None:
        """Close what ``start`` opened."""


def default_plugins(cfg: Any) -> list[Any]:
    """The plugins a configuration asks for: control socket, metrics, StatsD, app metrics."""
    app_metrics = AppMetrics.setup() if cfg.metrics_bind else None
    plugins: list[Any] = observe_plugins(
        cfg,
        app_metrics=app_metrics.collect if app_metrics else None,
        app_metrics_openmetrics=app_metrics.collect_openmetrics if app_metrics else None,
        statsd=StatsdClient.from_settings(cfg),
    )
    if app_metrics is not None:
        plugins.append(app_metrics)
    return plugins
