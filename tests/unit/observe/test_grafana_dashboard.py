"""contrib/grafana/workhorse.json: importable as it is, and asking only for what exists.

The metrics it queries are held against the exposition the server writes
(:func:`workhorse.observe.prometheus.render` of a realistic snapshot); a
real Prometheus answering every query is in
tests/integration/test_grafana_dashboard_live.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dashboard_support import TARGET_LABELS, load, panels, queries
from workhorse.observe.prometheus import render
from workhorse.observe.schema import Snapshot

PROMTOOL = shutil.which("promtool")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_COLUMNS = 24
PANEL_TYPES = {"row", "stat", "timeseries", "heatmap"}
#: What the issue asks the dashboard to show, by the metric that shows it.
REQUIRED_METRICS = {
    "workhorse_busy_ratio", "workhorse_slots", "workhorse_listen_queue",
    "workhorse_request_queue_seconds_bucket", "workhorse_request_duration_seconds_bucket",
    "workhorse_requests_total", "workhorse_timeouts_total", "workhorse_master_responses_total",
    "workhorse_worker_restarts_total", "workhorse_boot_failures_in_a_row",
    "workhorse_worker_rss_bytes",
}


def exposed(snapshot: Snapshot) -> dict[str, dict[str, set[str]]]:
    """Sample name -> label -> values, in the server's text exposition."""
    found: dict[str, dict[str, set[str]]] = {}
    for family in text_string_to_metric_families(render(snapshot).decode()):
        for sample in family.samples:
            labels = found.setdefault(sample.name, {})
            for name, value in sample.labels.items():
                labels.setdefault(name, set()).add(value)
    return found


@pytest.fixture
def dashboard() -> dict[str, Any]:
    return load()


def test_it_is_a_dashboard_grafana_imports(dashboard: dict[str, Any]) -> None:
    assert dashboard["title"] == "workhorse" and dashboard["uid"] == "workhorse"
    assert dashboard["id"] is None  # a new dashboard on import, not an update of id N
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert "__inputs" not in dashboard  # nothing to fill in: the data source is a variable
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("job", "instance"):
        assert variables[name]["type"] == "query" and variables[name]["includeAll"]
        assert variables[name]["datasource"] == DATASOURCE
    assert "$job" in variables["instance"]["query"]["query"]


def test_panels_fit_the_grid_and_use_the_data_source_variable(
        dashboard: dict[str, Any]) -> None:
    every = panels(dashboard)
    assert len({p["id"] for p in every}) == len(every)
    taken: set[tuple[int, int]] = set()
    for panel in every:
        assert panel["type"] in PANEL_TYPES, panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]
        cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                 for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel.get("description"), panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(set(refs)) == len(refs), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE and target["expr"].strip()


def test_every_metric_and_label_it_queries_exists(dashboard: dict[str, Any],
                                                  snapshot: Callable[[], Snapshot]) -> None:
    metrics = exposed(snapshot())
    used: set[str] = set()
    for query in queries(dashboard):
        selectors = query.selectors()
        assert selectors, f"{query.where}: no workhorse metric in {query.expr}"
        labels_here: set[str] = set(TARGET_LABELS)
        for metric, matchers in selectors:
            assert metric in metrics, f"{query.where}: {metric} is not exposed"
            used.add(metric)
            labels_here |= set(metrics[metric])
            for label, operator, value in matchers:
                if label in TARGET_LABELS:
                    continue
                assert label in metrics[metric], f"{query.where}: {metric} has no {label}"
                if operator in ("=", "!="):
                    assert value in metrics[metric][label], (
                        f"{query.where}: {metric}{{{label}={value!r}}} never exposed")
        for label in query.grouping_labels() | query.legend_labels():
            assert label in labels_here | {"le"}, f"{query.where}: no label {label}"
    assert not REQUIRED_METRICS - used, f"not shown: {REQUIRED_METRICS - used}"


def test_only_known_variables(dashboard: dict[str, Any]) -> None:
    text = json.dumps([q.expr for q in queries(dashboard)])
    leftover = text
    for name in ("$__rate_interval", "$job", "$instance"):
        leftover = leftover.replace(name, "")
    assert "$" not in leftover


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) missing")
def test_promtool_parses_every_query(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """Each query as a recording rule: ``promtool check rules`` parses its PromQL."""
    found = queries(dashboard)
    rules = [{"record": f"dashboard:query_{index}", "expr": query.promql}
             for index, query in enumerate(found)]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))  # JSON is YAML
    result = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True,
                            text=True, timeout=60)
    names = "\n".join(f"dashboard:query_{index} is {q.where}" for index, q in enumerate(found))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{names}"
    assert f"SUCCESS: {len(found)} rules found" in result.stdout
