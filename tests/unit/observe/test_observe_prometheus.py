"""Metrics text: what it says about the fixture, and that real parsers accept it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client import generate_latest as text_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from workhorse.observe.prometheus import format_value, merge_app_metrics, render
from workhorse.observe.schema import Snapshot

MakeSnapshot = Callable[[], Snapshot]


def promtool_check(text: bytes) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    done = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                          timeout=30)
    assert done.returncode == 0, (done.stdout + done.stderr).decode()
    assert done.stdout.strip() == b"" and done.stderr.strip() == b""


def lines_of(text: bytes) -> list[str]:
    return text.decode().splitlines()


def test_the_text_format_passes_promtool(snapshot: MakeSnapshot) -> None:
    promtool_check(render(snapshot()))


def test_the_text_format_parses_and_every_family_has_help_and_type(
        snapshot: MakeSnapshot) -> None:
    text = render(snapshot())
    families = list(parse_text(text.decode()))
    assert len(families) > 20
    assert all(family.name.startswith("workhorse_") and family.documentation
               for family in families)
    lines = lines_of(text)
    typed = {line.split()[2] for line in lines if line.startswith("# TYPE ")}
    helped = {line.split()[2] for line in lines if line.startswith("# HELP ")}
    assert typed == helped
    assert "# TYPE workhorse_requests_total counter" in lines
    assert "# TYPE workhorse_build_info gauge" in lines
    assert not any(line.startswith(("# UNIT", "# EOF")) for line in lines)


def test_what_the_fixture_says(snapshot: MakeSnapshot) -> None:
    lines = lines_of(render(snapshot()))
    for expected in [
        'workhorse_build_info{version="0.1.0",worker_class="gthread",proc_name="shop"} 1',
        "workhorse_start_time_seconds 1767225616.25",
        'workhorse_workers{state="booting"} 1',
        'workhorse_workers{state="ready"} 3',
        'workhorse_workers{state="stopping"} 0',
        "workhorse_workers_target 4",
        'workhorse_slots{state="idle"} 3',
        'workhorse_slots{state="reading"} 1',
        'workhorse_slots{state="app"} 1',
        'workhorse_slots{state="writing"} 1',
        "workhorse_busy_ratio 0.5",
        'workhorse_listen_queue{listener="127.0.0.1:8000"} 3',
        'workhorse_listen_queue_limit{listener="unix:/run/shop/app.sock"} 128',
        'workhorse_requests_total{status_class="2xx"} 9800',
        'workhorse_request_duration_seconds_bucket{le="0.005"} 1200',
        'workhorse_request_duration_seconds_bucket{le="0.01"} 3300',
        'workhorse_request_duration_seconds_bucket{le="+Inf"} 10231',
        "workhorse_request_duration_seconds_count 10231",
        "workhorse_request_duration_seconds_sum 1534.75",
        'workhorse_request_queue_seconds_bucket{le="0.001"} 9000',
        'workhorse_worker_busy_seconds_total{slot="0"} 812.5',
        'workhorse_worker_rss_bytes{slot="1"} 79691776',
        'workhorse_worker_requests_total{slot="0"} 2040',
        'workhorse_worker_restarts_total{cause="max_requests"} 14',
        "workhorse_timeouts_total 2",
        'workhorse_master_responses_total{code="504"} 2',
        'workhorse_master_responses_total{code="503"} 0',
    ]:
        assert expected in lines, expected


def test_every_restart_cause_of_the_snapshot_is_a_series(snapshot: MakeSnapshot) -> None:
    snap = snapshot()
    lines = lines_of(render(snap))
    for cause, count in snap["summary"]["restarts"].items():
        assert f'workhorse_worker_restarts_total{{cause="{cause}"}} {count}' in lines


def test_openmetrics_parses_and_ends_with_one_eof(snapshot: MakeSnapshot) -> None:
    text = render(snapshot(), openmetrics=True)
    assert text.endswith(b"\n# EOF\n") and text.count(b"# EOF") == 1
    families = {family.name: family for family in parse_openmetrics(text.decode())}
    assert families["workhorse_requests"].type == "counter"
    assert families["workhorse_build"].type == "info"
    assert families["workhorse_request_duration_seconds"].unit == "seconds"
    assert families["workhorse_worker_rss_bytes"].unit == "bytes"
    lines = lines_of(text)
    assert "# TYPE workhorse_requests counter" in lines
    assert "# UNIT workhorse_busy_seconds seconds" in lines


def test_label_values_and_help_are_escaped(snapshot: MakeSnapshot) -> None:
    snap = snapshot()
    snap["listeners"].append({"address": 'unix:/tmp/we"ird\\dir\nx.sock', "kind": "unix",
                              "queued": 1, "limit": 8})
    text = render(snap)
    assert 'workhorse_listen_queue{listener="unix:/tmp/we\\"ird\\\\dir\\nx.sock"} 1' in (
        lines_of(text))
    promtool_check(text)
    list(parse_openmetrics(render(snap, openmetrics=True).decode()))


def test_unknown_values_are_left_out_not_zeroed(snapshot: MakeSnapshot) -> None:
    snap = snapshot()
    snap["summary"]["busy_ratio"] = None
    snap["listeners"][0]["queued"] = None
    lines = lines_of(render(snap))
    assert not any(line.startswith("workhorse_busy_ratio") for line in lines)
    assert not any("busy_ratio" in line for line in lines)
    assert not any(line.startswith('workhorse_listen_queue{listener="127.0.0.1:8000"}')
                   for line in lines)
    assert 'workhorse_listen_queue_limit{listener="127.0.0.1:8000"} 2048' in lines


def test_numbers_are_spelled_as_both_formats_expect() -> None:
    assert format_value(3) == "3"
    assert format_value(0.005) == "0.005"
    assert format_value(1.0) == "1.0"
    assert format_value(float("inf")) == "+Inf"
    assert format_value(float("-inf")) == "-Inf"
    assert format_value(float("nan")) == "NaN"


def _app_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    orders = Counter("shop_orders", "Orders placed.", ["kind"], registry=registry)
    orders.labels(kind="web").inc(3)
    Gauge("shop_cart_items", "Items in carts.", registry=registry).set(7)
    squatter = Counter("workhorse_requests", "An app metric using our prefix.",
                       registry=registry)
    squatter.inc()
    return registry


def test_app_metrics_are_appended_and_our_prefix_is_reserved(snapshot: MakeSnapshot) -> None:
    merged = merge_app_metrics(render(snapshot()), text_latest(_app_registry()))
    lines = lines_of(merged)
    assert 'shop_orders_total{kind="web"} 3.0' in lines
    assert "shop_cart_items 7.0" in lines
    assert "An app metric using our prefix." not in merged.decode()
    assert lines.count("# TYPE workhorse_requests_total counter") == 1
    promtool_check(merged)
    names = [family.name for family in parse_text(merged.decode())]
    assert len(names) == len(set(names))


def test_openmetrics_app_metrics_keep_a_single_eof_at_the_end(snapshot: MakeSnapshot) -> None:
    merged = merge_app_metrics(render(snapshot(), openmetrics=True),
                               openmetrics_latest(_app_registry()), openmetrics=True)
    assert merged.count(b"# EOF") == 1 and merged.endswith(b"# EOF\n")
    families = {family.name for family in parse_openmetrics(merged.decode())}
    assert {"shop_orders", "shop_cart_items", "workhorse_requests"} <= families


def test_no_app_text_changes_nothing(snapshot: MakeSnapshot) -> None:
    ours = render(snapshot(), openmetrics=True)
    assert merge_app_metrics(ours, b"", openmetrics=True) == ours
