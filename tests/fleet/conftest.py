"""A fleet for tests: three workhorse instances behind a real nginx, a real Prometheus.

``fleet(...)`` starts the instances (each its own master, bound to its own
port, with its metrics listener), an nginx whose upstream block lists all
three (HTTP/1.1 upstream keep-alive), and a Prometheus that scrapes the
three metrics listeners every second. Everything is stopped by pid at
teardown. These are the configurations docs/deploy.md shows.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from nginx_support import Nginx, nginx_factory
from support import Server, free_port, wait_for

__all__ = ["nginx_factory"]

PROMETHEUS = shutil.which("prometheus")
#: What every instance runs with (docs/deploy.md's command line).
INSTANCE = ["-k", "gthread", "--threads", "4", "-w", "2", "--shutdown-delay", "1",
            "--graceful-timeout", "10"]


@dataclass
class Instance:
    port: int
    metrics: int
    args: list[str]
    directory: Path
    server: Server | None = None
    generation: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, app: str = "testapp:app", *, wait: bool = True, env: Any = None) -> Server:
        self.generation += 1
        self.server = Server([*INSTANCE, "--metrics-bind", f"127.0.0.1:{self.metrics}",
                              *self.args, app], port=self.port, env=env,
                             log_path=self.directory / f"{self.port}-{self.generation}.log")
        self.server.start(wait=wait)
        return self.server

    def ready(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.metrics}/readyz",
                                timeout=2).status_code == 200
        except requests.RequestException:
            return False


@dataclass
class Fleet:
    instances: list[Instance]
    nginx: Nginx
    prometheus: Prometheus | None
    extra_servers: list[Server] = field(default_factory=list)

    def stop(self) -> None:
        for instance in self.instances:
            if instance.server is not None:
                instance.server.stop()
        for server in self.extra_servers:
            server.stop()
        if self.prometheus is not None:
            self.prometheus.stop()


class Prometheus:
    """A real Prometheus scraping the instances' metrics listeners every second."""

    def __init__(self, targets: Sequence[str], directory: Path) -> None:
        assert PROMETHEUS is not None
        self.port = free_port()
        config = directory / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
            "scrape_configs:\n  - job_name: workhorse\n    static_configs:\n"
            f"      - targets: [{', '.join(repr(t) for t in targets)}]\n")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={directory / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def query(self, expression: str) -> list[dict[str, Any]]:
        try:
            data = requests.get(f"http://127.0.0.1:{self.port}/api/v1/query",
                                params={"query": expression}, timeout=3).json()
        except (requests.RequestException, ValueError):
            return []
        result: list[dict[str, Any]] = data.get("data", {}).get("result", [])
        return result

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def fleet(tmp_path: Path, nginx_factory: Any) -> Iterator[Any]:
    """``fleet(args=(), apps=None, prometheus=False, next_upstream="")`` -> Fleet."""
    made: list[Fleet] = []

    def start(args: Sequence[str] = (), apps: Sequence[str] | None = None, *,
              prometheus: bool = False, next_upstream: str = "") -> Fleet:
        instances = [Instance(free_port(), free_port(), list(args), tmp_path) for _ in range(3)]
        for instance, app in zip(instances, apps or ["testapp:app"] * 3, strict=True):
            instance.start(app, wait=app == "testapp:app")
        if prometheus and PROMETHEUS is None:
            pytest.skip("prometheus (Debian package) missing")
        prom = (Prometheus([f"127.0.0.1:{i.metrics}" for i in instances], tmp_path)
                if prometheus else None)
        nginx = nginx_factory(instances[0].address,
                              more_upstreams=tuple(i.address for i in instances[1:]),
                              upstream_keepalive=16, proxy_read_timeout=30,
                              proxy_next_upstream=next_upstream)
        fleet = Fleet(instances, nginx, prom)
        made.append(fleet)
        if prom is not None:
            wait_for(lambda: len([r for r in prom.query("up") if r["value"][1] == "1"])
                     == sum(1 for a in apps or ["testapp:app"] * 3 if a == "testapp:app"),
                     30, interval=0.5, message="Prometheus scraping the instances")
        return fleet

    yield start
    for fleet in made:
        fleet.stop()
