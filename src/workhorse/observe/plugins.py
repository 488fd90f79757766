"""The observe plugins a configuration asks for, ready for the master.

Strategy: one function maps the settings to plugins, so the master's
``default_plugins`` is a single call and every plugin's "is it on?" rule
lives next to the plugin: the control socket unless
``control_socket_disable``, the metrics endpoint when ``metrics_bind`` is
set, StatsD gauges when the master passes a StatsD sink (it has one when
``statsd_host`` is set; ``observe`` does not build it, see
:mod:`workhorse.observe.statsd`).
"""

from __future__ import annotations

from workhorse.observe.contract import ObservePlugin, ObserveSettings
from workhorse.observe.control import ControlServer
from workhorse.observe.metrics_http import AppMetrics, MetricsServer
from workhorse.observe.statsd import StatsdReporter, StatsdSink


def observe_plugins(cfg: ObserveSettings, *, app_metrics: AppMetrics | None = None,
                    app_metrics_openmetrics: AppMetrics | None = None,
                    statsd: StatsdSink | None = None) -> list[ObservePlugin]:
    """Control socket, metrics endpoint and StatsD reporter, as configured."""
    plugins: list[ObservePlugin] = []
    control = ControlServer.from_config(cfg)
    if control is not None:
        plugins.append(control)
    metrics = MetricsServer.from_config(cfg, app_metrics,
                                        app_metrics_openmetrics=app_metrics_openmetrics)
    if metrics is not None:
        plugins.append(metrics)
    if statsd is not None:
        plugins.append(StatsdReporter(statsd, backlog_metric=bool(cfg.enable_backlog_metric)))
    return plugins
