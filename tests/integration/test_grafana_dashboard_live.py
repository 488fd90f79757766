"""The Grafana dashboard's queries, asked of a real Prometheus that scrapes a real server.

No Grafana here (it is neither a Debian package nor on PyPI or npm): what
Grafana would send is sent to Prometheus directly, with ``$job`` and
``$instance`` as "All" and ``$__rate_interval`` as 1m. Every panel query
must answer with at least one series carrying the labels its legend names,
every template variable must list this server's job and instance, and the
annotation must be a valid query (it is empty: nothing was reloaded).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from dashboard_support import load, queries
from support import free_port, wait_for

PROMETHEUS = shutil.which("prometheus")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus (Debian package) missing"),
]
#: Scrapes a query over [1m] needs before rate() has two samples everywhere.
SCRAPES = 3


def ask(prom_port: int, promql: str) -> dict[str, Any]:
    answer = requests.get(f"http://127.0.0.1:{prom_port}/api/v1/query",
                          params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", f"{promql}: {answer}"
    data: dict[str, Any] = answer["data"]
    return data


def test_every_dashboard_query_answers(server_factory: Any, tmp_path: Path) -> None:
    metrics_port, prom_port = free_port(), free_port()
    server = server_factory(["-w", "2", "--metrics-bind", f"127.0.0.1:{metrics_port}",
                             "testapp:app"])
    for path in ["/", "/", "/status?code=404", "/raise", "/sleep?s=0.05"]:
        requests.get(server.url + path, timeout=5)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: workhorse\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n")
    prom = subprocess.Popen([PROMETHEUS, f"--config.file={config}",
                             f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def scraped() -> bool:
            try:
                result = ask(prom_port, "count_over_time(workhorse_workers_target[1m])")
            except (requests.RequestException, ValueError):
                return False
            values = result["result"]
            return bool(values) and int(values[0]["value"][1]) >= SCRAPES

        wait_for(scraped, 60, interval=0.5, message=f"{SCRAPES} scrapes of workhorse")
        instance = f"127.0.0.1:{metrics_port}"
        for query in queries(load()):
            series = ask(prom_port, query.promql)["result"]
            if query.where.startswith("annotation"):
                continue  # valid (asked above); no reload happened, so no series
            assert series, f"{query.where}: no series for {query.promql}"
            if query.label_values:
                values = {s["metric"][query.label_values] for s in series}
                assert values == {"workhorse" if query.label_values == "job" else instance}
            for label in query.legend_labels():
                assert all(label in s["metric"] for s in series), (
                    f"{query.where}: a series without {label}: {series[:3]}")
    finally:
        prom.terminate()
        try:
            prom.wait(15)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait(5)
