"""What the workers are doing, shown by the master with nothing to hand-write."""

from __future__ import annotations

import json
import re
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import requests

from support import free_port, wait_for

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")


def status(server, *extra: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "workhorse", "status", "--json",
                          "--pid", str(server.pid), *extra],
                         capture_output=True, text=True, timeout=15, check=True)
    return json.loads(out.stdout)


def metrics(port: int, accept: str = "") -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                 headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=5) as response:
        return response.read().decode()


def metric_value(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (re.escape("{" + labels + "}") if labels else "") + r" (\S+)"
    match = re.search(r"^" + pattern + r"$", text, re.M)
    assert match, f"{name}{{{labels}}} not in metrics"
    return float(match.group(1))


def hold(url: str, count: int) -> list[threading.Thread]:
    """Send ``count`` slow requests in the background (their outcome is not the point)."""

    def send() -> None:
        try:
            requests.get(url, timeout=30)
        except requests.RequestException:
            pass

    threads = [threading.Thread(target=send, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


@pytest.mark.parametrize("kind,threads,writer", [("sync", 1, "c"), ("gthread", 2, "c"),
                                                 ("gthread", 2, "python")])
def test_busy_and_idle_are_exact(server_factory, stuck_env, kind, threads, writer):
    """Also with the pure-Python slot writer, which an install without a compiler runs."""
    workers, busy = 3, 2
    metrics_port = free_port()
    env = dict(stuck_env, WORKHORSE_PURE_PYTHON="1") if writer == "python" else stuck_env
    server = server_factory(["-k", kind, "--threads", str(threads), "-w", str(workers),
                             "--metrics-bind", f"127.0.0.1:{metrics_port}",
                             "--access-logfile", "-",
                             "--access-logformat",
                             "%(r)s busy=%(busy)s idle=%(idle)s slot=%(slot)s",
                             "stuckapp:app"], env=env)
    server.wait_booted(workers)
    python_writer_warned = "recorded by the slower Python writer: WORKHORSE_PURE_PYTHON is set"
    assert (python_writer_warned in server.log()) == (writer == "python")
    slots = workers * threads
    held = hold(server.url + "/sleep?s=3", busy)
    wait_for(lambda: len(list(Path(stuck_env["STUCK_MARK_DIR"]).glob("sleep-*"))) == busy,
             message="the slow requests in the app")
    snap = status(server)
    assert snap["summary"]["busy"] == busy
    assert snap["summary"]["idle"] == slots - busy
    assert snap["map"].count("A") == busy and snap["map"].count("_") == slots - busy
    in_app = [t for w in snap["workers"] for t in w["threads"] if t["state"] == "app"]
    assert {t["request"] for t in in_app} == {"GET /sleep?s=3 HTTP/1.1"}
    assert all(t["elapsed"] >= 0 for t in in_app)
    text = metrics(metrics_port)
    assert metric_value(text, "workhorse_slots", 'state="app"') == busy
    assert metric_value(text, "workhorse_slots", 'state="idle"') == slots - busy
    # A request arriving now is logged with the busy/idle count it saw.
    requests.get(server.url + "/ok", timeout=5)
    line = wait_for(lambda: re.search(r"GET /ok HTTP/1.1 busy=(\d+) idle=(\d+) slot=(\d+)",
                                      server.log()))
    assert (int(line.group(1)), int(line.group(2))) == (busy + 1, slots - busy - 1)
    for thread in held:
        thread.join(10)


@pytest.mark.parametrize("listener", ["tcp", "unix"])
def test_backlog_depth_is_reported(server_factory, stuck_env, tmp_path, listener):
    path = tmp_path / "app.sock"
    bind = ["-b", f"unix:{path}"] if listener == "unix" else []
    server = server_factory([*bind, "-w", "1", "--backlog", "64", "--graceful-timeout", "1",
                             "stuckapp:app"],
                            env=stuck_env, wait=False)
    if listener == "unix":
        wait_for(path.exists)
    else:
        server.wait_ready()
    server.wait_booted(1)

    def connect() -> socket.socket:
        if listener == "unix":
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(str(path))
        else:
            sock = socket.create_connection(("127.0.0.1", server.port))
        return sock

    blocker = connect()
    # Long enough that the worker cannot free itself while a loaded machine
    # runs the status command; the server is stopped at the end anyway.
    blocker.sendall(b"GET /sleep?s=60 HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_for(lambda: list(Path(stuck_env["STUCK_MARK_DIR"]).glob("sleep-*")))
    queued = [connect() for _ in range(5)]
    try:
        snap = wait_for(lambda: (s := status(server))["listeners"][0]["queued"] == 5 and s,
                        message="5 queued connections")
        assert snap["listeners"][0]["limit"] == 64
        assert snap["listeners"][0]["kind"] == listener
    finally:
        for sock in [blocker, *queued]:
            sock.close()


def test_control_and_metrics_answer_while_every_worker_is_stuck(server_factory, stuck_env):
    metrics_port = free_port()
    server = server_factory(["-w", "2", "-t", "30", "--graceful-timeout", "1", "--metrics-bind",
                             f"127.0.0.1:{metrics_port}", "stuckapp:app"], env=stuck_env)
    server.wait_booted(2)
    held = hold(server.url + "/spin?s=20", 2)
    wait_for(lambda: len(list(Path(stuck_env["STUCK_MARK_DIR"]).glob("spin-*"))) == 2,
             message="both workers spinning in C")
    started = time.monotonic()
    snap = status(server)
    assert snap["summary"]["busy"] == 2 and snap["summary"]["idle"] == 0
    assert metric_value(metrics(metrics_port), "workhorse_slots", 'state="app"') == 2
    ready = requests.get(f"http://127.0.0.1:{metrics_port}/readyz", timeout=5)
    health = requests.get(f"http://127.0.0.1:{metrics_port}/healthz", timeout=5)
    assert (ready.status_code, health.status_code) == (503, 200)
    assert time.monotonic() - started < 5
    server.stop()
    for thread in held:
        thread.join(5)


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) missing")
def test_promtool_accepts_the_metrics(server_factory):
    metrics_port = free_port()
    server = server_factory(["-w", "2", "--metrics-bind", f"127.0.0.1:{metrics_port}",
                             "testapp:app"])
    for path in ["/", "/status?code=404", "/raise"]:
        requests.get(server.url + path, timeout=5)
    text = wait_for(lambda: (t := metrics(metrics_port)) and
                    'workhorse_requests_total{status_class="5xx"} 1' in t and t)
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus (Debian package) missing")
def test_real_prometheus_scrapes_the_endpoint(server_factory, tmp_path):
    metrics_port, prom_port = free_port(), free_port()
    server = server_factory(["-w", "1", "--metrics-bind", f"127.0.0.1:{metrics_port}",
                             "testapp:app"])
    requests.get(server.url + "/", timeout=5)
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
                data = requests.get(f"http://127.0.0.1:{prom_port}/api/v1/query",
                                    params={"query": "workhorse_workers_target"},
                                    timeout=2).json()
            except (requests.RequestException, ValueError):
                return False
            results = data.get("data", {}).get("result", [])
            return bool(results) and results[0]["value"][1] == "1"

        wait_for(scraped, 30, interval=0.5, message="Prometheus to scrape workhorse")
        targets = requests.get(f"http://127.0.0.1:{prom_port}/api/v1/targets", timeout=5).json()
        health = targets["data"]["activeTargets"][0]["health"]
        assert health == "up"
    finally:
        prom.terminate()
        try:
            prom.wait(15)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait(5)


PROM_APP = '''
import os
from prometheus_client import Counter
HITS = Counter("shop_hits", "Hits to the shop")
def app(environ, start_response):
    HITS.inc()
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
'''


def test_app_prometheus_client_metrics_are_summed_and_survive_restarts(server_factory,
                                                                       tmp_path):
    (tmp_path / "promapp.py").write_text(PROM_APP)
    metrics_port = free_port()
    server = server_factory(["-w", "2", "--max-requests", "7", "--metrics-bind",
                             f"127.0.0.1:{metrics_port}", "promapp:app"], cwd=tmp_path)
    pids = set()
    for _ in range(20):
        pids.add(requests.get(server.url + "/", timeout=5).text)
    assert len(pids) >= 3  # max_requests recycled workers along the way
    text = wait_for(lambda: (t := metrics(metrics_port)) and "shop_hits_total" in t and t)
    # The readiness probe of the test harness counts too.
    assert metric_value(text, "shop_hits_total") >= 20
    assert "workhorse_workers_target 2" in text


def test_status_watch_refreshes(server_factory):
    server = server_factory(["-w", "1", "testapp:app"])
    watcher = subprocess.Popen([sys.executable, "-m", "workhorse", "status", "--watch",
                                "--interval", "0.2", "--pid", str(server.pid)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert watcher.stdout is not None
    output = b""
    try:
        deadline = time.monotonic() + 15
        while output.count(b"Workers ") < 3 and time.monotonic() < deadline:
            ready, _, _ = select.select([watcher.stdout], [], [], 0.2)
            if ready:
                chunk = watcher.stdout.read1(65536)
                if not chunk:
                    break
                output += chunk
    finally:
        watcher.kill()
        watcher.wait(10)
        watcher.stdout.close()
    assert output.count(b"Workers ") >= 3, output[-500:]
    assert b"\x1b[" in output  # it clears the screen between refreshes
