"""The observe plugins a configuration asks for, ready for the master.

Strategy: one function maps the settings to plugins, and every plugin's
"is it on?" rule lives here, next to them: the control socket unless
``control_socket_disable``; the metrics endpoint when ``metrics_bind`` is
set, with the app's own ``prometheus_client`` metrics merged in when that
library is installed, and the history of the last minutes its status page
plots; StatsD gauges when ``statsd_host`` is set. The master calls each
through :class:`~workhorse.observe.contract.ObservePlugin`.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

from workhorse.config.settings import Config
from workhorse.logs.statsd import StatsdClient
from workhorse.observe.contract import ObservePlugin
from workhorse.observe.control import ControlServer


def observe_plugins(cfg: Config, *,
                    environ: MutableMapping[str, str] = os.environ) -> list[ObservePlugin]:
    """Control socket, metrics endpoint, StatsD reporter and app metrics, as configured.

    ``environ`` receives ``PROMETHEUS_MULTIPROC_DIR`` for the app's metrics.
    """
    plugins: list[ObservePlugin] = []
    control = ControlServer.from_config(cfg)
    if control is not None:
        plugins.append(control)
    app_metrics = None
    if cfg.metrics_bind:
        endpoint, app_metrics = _metrics_plugins(cfg, environ)
        plugins += endpoint
    statsd = StatsdClient.from_settings(cfg)
    if statsd is not None:
        from workhorse.observe.statsd import StatsdReporter

        plugins.append(StatsdReporter(statsd, backlog_metric=cfg.enable_backlog_metric))
    if app_metrics is not None:
        plugins.append(app_metrics)
    return plugins


def _metrics_plugins(cfg: Config, environ: MutableMapping[str, str]
                     ) -> tuple[list[ObservePlugin], ObservePlugin | None]:
    """The metrics endpoint and the history its status page plots; the app's own metrics.

    Imported only when ``metrics_bind`` is set: the endpoint, its status page
    and its Prometheus text cost a default start about 15 ms of imports.
    """
    from workhorse.observe.appmetrics import AppMetrics
    from workhorse.observe.history import HistorySampler
    from workhorse.observe.metrics_http import MetricsServer

    app_metrics = AppMetrics.setup(environ)
    history = HistorySampler()
    metrics = MetricsServer.from_config(
        cfg, app_metrics.collect if app_metrics else None,
        app_metrics_openmetrics=app_metrics.collect_openmetrics if app_metrics else None,
        history=history)
    return ([metrics, history] if metrics is not None else []), app_metrics
