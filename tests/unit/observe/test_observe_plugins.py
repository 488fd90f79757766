"""The plugins a real configuration asks for, and the master they expect."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from workhorse.config import load_config
from workhorse.logs.statsd import StatsdClient
from workhorse.observe import contract
from workhorse.observe.appmetrics import AppMetrics
from workhorse.observe.control import ControlServer
from workhorse.observe.history import HistorySampler
from workhorse.observe.metrics_http import MetricsServer
from workhorse.observe.plugins import observe_plugins
from workhorse.observe.statsd import StatsdReporter


def config(tmp_path: Path, *argv: str) -> Any:
    return load_config(list(argv), {}, cwd=str(tmp_path)).config


def test_defaults_give_the_control_socket_only(tmp_path: Path) -> None:
    plugins = observe_plugins(config(tmp_path))
    assert [type(p) for p in plugins] == [ControlServer]
    control = plugins[0]
    assert isinstance(control, ControlServer)
    assert control.path == str(tmp_path / "workhorse.ctl") and control.mode == 0o600


def test_everything_on(tmp_path: Path) -> None:
    cfg = config(tmp_path, "--control-socket-mode", "0660", "--metrics-bind", "127.0.0.1:9101",
                 "--statsd-host", "127.0.0.1:8125", "--enable-backlog-metric")
    environ = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus")}
    plugins = observe_plugins(cfg, environ=environ)
    assert [type(p) for p in plugins] == [ControlServer, MetricsServer, HistorySampler,
                                          StatsdReporter, AppMetrics]
    control, metrics, history, reporter, app_metrics = plugins
    assert isinstance(control, ControlServer) and control.mode == 0o660
    assert isinstance(metrics, MetricsServer) and metrics.bind == "127.0.0.1:9101"
    assert isinstance(app_metrics, AppMetrics) and metrics.app_metrics == app_metrics.collect
    assert app_metrics.directory == environ["PROMETHEUS_MULTIPROC_DIR"]
    assert metrics.history is history  # the status page plots what the master samples
    assert isinstance(reporter, StatsdReporter) and reporter.backlog_metric is True
    assert isinstance(reporter.sink, StatsdClient)
    reporter.sink.close()


def test_control_socket_disabled(tmp_path: Path) -> None:
    assert observe_plugins(config(tmp_path, "--no-control-socket")) == []


def test_the_real_arbiter_offers_what_the_plugins_call() -> None:
    from workhorse.master.arbiter import Arbiter

    members = [name for name in dir(contract.MasterControl) if not name.startswith("_")]
    missing = [name for name in members if not hasattr(Arbiter, name)
               and name not in ("selector", "log", "num_workers")]  # set in __init__
    if missing:
        pytest.skip(f"the arbiter does not offer {missing} yet")
    for name in ("reload", "set_num_workers", "stop", "snapshot", "reopen_logs"):
        expected = inspect.signature(getattr(contract.MasterControl, name))
        actual = inspect.signature(getattr(Arbiter, name))
        required = [p.name for p in actual.parameters.values()
                    if p.default is inspect.Parameter.empty]
        assert required == [p.name for p in expected.parameters.values()], name
