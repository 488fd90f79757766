"""The deployment files of contrib/ (shown in docs/deploy.md) are real, not written blind.

- contrib/nginx/workhorse.conf runs as it is (ports filled in) in front of
  three instances, under a keep-alive load across a HUP of each: 0 failed;
- contrib/prometheus/alerts.yml passes ``promtool check rules``, and every
  expression in it and in the adapter rule is evaluated by a real Prometheus
  scraping real instances;
- contrib/kubernetes/deployment.yaml and contrib/systemd/workhorse.service
  name only settings workhorse has, with values it accepts, and the
  Kubernetes timings fit together (the grace period covers shutdown_delay
  plus graceful_timeout; the probes hit the metrics listener's paths).
"""

from __future__ import annotations

import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from keepalive_load import KeepAliveLoad
from nginx_support import READY_PATH, Nginx
from support import REPO, wait_for
from workhorse.config import load_config

pytestmark = [pytest.mark.nginx]

CONTRIB = REPO / "contrib"
PROMTOOL = shutil.which("promtool")


class ContribNginx(Nginx):
    """nginx running contrib/nginx/workhorse.conf, inside the helper's scaffolding."""

    def __init__(self, ports: list[int], directory: Path) -> None:
        super().__init__(f"127.0.0.1:{ports[0]}", directory)
        text = (CONTRIB / "nginx" / "workhorse.conf").read_text()
        for index, port in enumerate(ports, 1):
            text = text.replace(f"@PORT_{index}@", str(port))
        text = text.replace("@LISTEN@", str(self.port))
        # The helper's readiness probe, inside our server block.
        text = text.replace("    location / {",
                            f"    location = {READY_PATH} {{ return 204; }}\n    location / {{", 1)
        self.contrib_text = text

    def config_text(self) -> str:
        scaffold = super().config_text()
        head = scaffold[: scaffold.index("upstream app_server")]
        return head + self.contrib_text + "\n}\n"


def test_the_nginx_config_serves_a_fleet_through_its_reloads(fleet, tmp_path: Path):
    fleet = fleet()
    nginx = ContribNginx([i.port for i in fleet.instances], tmp_path / "contrib-nginx")
    nginx.start()
    try:
        with KeepAliveLoad(nginx.port, connections=12, path="/echo", body=b"y" * 256) as load:
            load.wait_requests(300)
            for instance in fleet.instances:
                before = set(instance.server.workers())
                instance.server.signal(signal.SIGHUP)
                wait_for(lambda s=instance.server, b=before: not set(s.workers()) & b,  # type: ignore[misc]
                         30, message="a new generation")
                load.wait_requests(300)
        print(f"contrib nginx config, HUP of each instance: {load.summary()}")
        assert load.failures == [], load.summary()
        started = requests.get(f"http://127.0.0.1:{nginx.port}/", timeout=5)
        assert started.status_code == 200 and started.headers["X-Request-ID"]
    finally:
        nginx.stop()


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) missing")
def test_the_alerts_are_valid_rules():
    rules = CONTRIB / "prometheus" / "alerts.yml"
    result = subprocess.run([PROMTOOL, "check", "rules", str(rules)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def expressions() -> list[str]:
    alerts = (CONTRIB / "prometheus" / "alerts.yml").read_text()
    found = [m.group(1).strip() for m in re.finditer(r"expr: >\n((?:          .*\n)+)", alerts)]
    found += [m.group(1).strip() for m in re.finditer(r"expr: (?!>)(.+)\n", alerts)]
    adapter = (CONTRIB / "prometheus" / "adapter-rule.yaml").read_text()
    query = re.search(r"metricsQuery: '(.+)'", adapter)
    assert query is not None
    found.append(query.group(1).replace("<<.LabelMatchers>>", 'job="workhorse"'))
    return found


def test_every_alert_and_adapter_query_runs_on_a_real_prometheus(fleet):
    fleet = fleet(prometheus=True)
    prom = fleet.prometheus
    queries = expressions()
    assert len(queries) == 9, queries
    for expression in queries:
        answer = requests.get(f"http://127.0.0.1:{prom.port}/api/v1/query",
                              params={"query": expression}, timeout=5).json()
        assert answer["status"] == "success", (expression, answer)
    # The series they read exist, with the labels they group by.
    for name in ("workhorse_busy_ratio", "workhorse_listen_queue", "workhorse_timeouts_total",
                 "workhorse_loop_blocked_total", "workhorse_worker_restarts_total",
                 "workhorse_boot_failures_in_a_row", "workhorse_shed_total",
                 "workhorse_request_queue_seconds_bucket"):
        wait_for(lambda n=name: prom.query(n), 15, interval=0.5,  # type: ignore[misc]
                 message=f"{name} scraped")


def workhorse_args(command: list[str]) -> list[str]:
    return [arg for arg in command if arg != "workhorse" and not arg.endswith("/workhorse")]


def test_the_kubernetes_deployment_uses_real_settings_that_fit_together():
    yaml = pytest.importorskip("yaml")
    documents = list(yaml.safe_load_all((CONTRIB / "kubernetes" / "deployment.yaml").read_text()))
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    cfg = load_config(workhorse_args(container["command"]), {}, cwd=str(REPO)).config
    assert cfg.shutdown_delay > 0 and cfg.metrics_bind
    assert pod["terminationGracePeriodSeconds"] > cfg.shutdown_delay + cfg.graceful_timeout
    metrics_port = int(cfg.metrics_bind.rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == metrics_port
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    hpa = next(d for d in documents if d["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "workhorse_busy_ratio"


def test_the_systemd_unit_uses_real_settings():
    unit = (CONTRIB / "systemd" / "workhorse.service").read_text()
    exec_start = re.search(r"ExecStart=(.+?)\n(?!\s)", unit.replace("\\\n", " "), re.S)
    assert exec_start is not None
    args: list[Any] = shlex.split(exec_start.group(1))
    cfg = load_config(workhorse_args(args), {}, cwd=str(REPO)).config
    assert cfg.metrics_bind == "127.0.0.1:9100" and cfg.worker_class_name == "gthread"
    assert "ExecReload=/bin/kill -s HUP $MAINPID" in unit
    assert "Type=notify" in unit


def test_socket_activation_hands_the_listener_over(server_factory, tmp_path: Path):
    """As systemd does with contrib/systemd/workhorse.socket: LISTEN_FDS=1, fd 3."""
    import os
    import socket

    path = str(tmp_path / "activated.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    fd = listener.fileno()
    os.set_inheritable(fd, True)
    wrapper = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.environ['LISTEN_FDS'] = '1'; "
               "os.environ['LISTEN_PID'] = str(os.getpid()); "
               "os.execv(sys.executable, [sys.executable, '-m', 'workhorse', *sys.argv[2:]])")
    import sys

    server = server_factory(["testapp:app"], command=[
        sys.executable, "-c", wrapper, str(fd), "--control-socket",
        str(tmp_path / "ctl"), "-w", "1", "testapp:app"], pass_fds=[fd], wait=False)
    listener.close()

    def answered() -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as client:
                client.settimeout(2)
                client.connect(path)
                client.sendall(b"GET / HTTP/1.0\r\n\r\n")
                return client.recv(12).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    wait_for(answered, 15, message="the activated socket served")
    assert "Inherited 1 listener(s)" in server.log()
