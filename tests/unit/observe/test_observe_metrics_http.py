"""The metrics and health endpoint over real TCP and UNIX sockets, read by http.client."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)

from workhorse.observe.metrics_http import MAX_HEAD, MetricsServer, wants_openmetrics
from workhorse.observe.prometheus import render

Serve = Callable[..., Any]
#: What Prometheus 2.x sends when it scrapes.
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                     "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


@contextmanager
def endpoint(serve: Serve, master: Any, **kwargs: Any) -> Iterator[MetricsServer]:
    server = MetricsServer("127.0.0.1:0", **kwargs)
    with serve(master, server):
        yield server


def get(server: MetricsServer, path: str, method: str = "GET",
        headers: dict[str, str] | None = None) -> tuple[http.client.HTTPResponse, bytes]:
    host, port = server.address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=3)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


def raw(address: tuple[str, int] | str, data: bytes) -> bytes:
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family) as sock:
        sock.settimeout(3)
        sock.connect(address)
        try:
            sock.sendall(data)
        except BrokenPipeError:
            pass
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_metrics_in_the_text_format_by_default(master: Any, serve: Serve) -> None:
    with endpoint(serve, master) as server:
        response, body = get(server, "/metrics")
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    assert response.getheader("Connection") == "close"
    assert int(response.getheader("Content-Length", "-1")) == len(body)
    assert body == render(master.current)


@pytest.mark.parametrize("accept", [PROMETHEUS_ACCEPT, "application/openmetrics-text"])
def test_metrics_in_openmetrics_when_asked(master: Any, serve: Serve, accept: str) -> None:
    with endpoint(serve, master) as server:
        response, body = get(server, "/metrics", headers={"Accept": accept})
    assert response.getheader("Content-Type", "").startswith("application/openmetrics-text;")
    assert body.endswith(b"# EOF\n")
    assert list(parse_openmetrics(body.decode()))


@pytest.mark.parametrize(("accept", "openmetrics"), [
    ("", False),
    ("*/*", False),
    ("text/plain", False),
    ("application/openmetrics-text;q=0.2, text/plain;q=0.9", False),
    ("application/openmetrics-text;q=0", False),
    ("text/plain;q=0.5, application/openmetrics-text", True),
    ("APPLICATION/OPENMETRICS-TEXT; version=1.0.0", True),
    (PROMETHEUS_ACCEPT, True),
])
def test_content_negotiation(accept: str, openmetrics: bool) -> None:
    assert wants_openmetrics(accept) is openmetrics


def test_head_has_the_headers_of_get_and_no_body(master: Any, serve: Serve) -> None:
    with endpoint(serve, master) as server:
        response, body = get(server, "/metrics", method="HEAD")
    assert response.status == 200 and body == b""
    assert int(response.getheader("Content-Length", "0")) == len(render(master.current))


def test_healthz(master: Any, serve: Serve) -> None:
    with endpoint(serve, master) as server:
        response, body = get(server, "/healthz")
    assert (response.status, body) == (200, b"ok\n")


def test_readyz_follows_idle_slots_of_ready_workers(master: Any, serve: Serve) -> None:
    with endpoint(serve, master) as server:
        response, body = get(server, "/readyz")
        assert (response.status, body) == (200, b"ready: 3 idle request slot(s)\n")
        master.current["summary"].update(idle=0, busy=6)
        response, body = get(server, "/readyz")
        assert (response.status, body) == (503, b"all 6 request slots are busy\n")
        master.current["summary"].update(workers_ready=0, slots_total=0, busy=0)
        response, body = get(server, "/readyz")
        assert (response.status, body) == (503, b"no worker is ready (1 booting, target 4)\n")


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/", 404),
    ("GET", "/metrics/extra", 404),
    ("POST", "/metrics", 405),
    ("DELETE", "/healthz", 405),
    ("GET", "/metrics?name[]=x", 200),
])
def test_other_paths_and_methods(master: Any, serve: Serve, method: str, path: str,
                                 status: int) -> None:
    with endpoint(serve, master) as server:
        response, _ = get(server, path, method=method)
    assert response.status == status
    if status == 405:
        assert response.getheader("Allow") == "GET, HEAD"


def test_malformed_and_oversized_heads(master: Any, serve: Serve) -> None:
    with endpoint(serve, master) as server:
        host, port = server.address.rsplit(":", 1)
        address = (host, int(port))
        assert raw(address, b"hello\r\n\r\n").startswith(b"HTTP/1.1 400 ")
        assert raw(address, b"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n").startswith(
            b"HTTP/1.1 400 ")
        huge = b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * MAX_HEAD + b"\r\n\r\n"
        assert raw(address, huge).startswith(b"HTTP/1.1 431 ")
        # The workers' parser, so the workers' strictness: a bare LF ends no line.
        assert raw(address, b"GET /healthz HTTP/1.0\n\n").startswith(b"HTTP/1.1 400 ")
        smuggled = raw(address, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        assert smuggled.startswith(b"HTTP/1.1 400 ")


def test_app_metrics_are_appended(master: Any, serve: Serve) -> None:
    app = b"# HELP shop_orders_total Orders.\n# TYPE shop_orders_total counter\n" \
          b"shop_orders_total 3.0\n"
    with endpoint(serve, master, app_metrics=lambda: app) as server:
        _, body = get(server, "/metrics")
        response, _ = get(server, "/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
    assert body == render(master.current) + app
    # the app's text cannot be written in OpenMetrics, so the scraper gets text
    assert response.getheader("Content-Type", "").startswith("text/plain; version=0.0.4")


def test_failing_app_metrics_still_serve_ours(master: Any, serve: Serve) -> None:
    def broken() -> bytes:
        raise RuntimeError("multiprocess dir is gone")

    with endpoint(serve, master, app_metrics=broken) as server:
        response, body = get(server, "/metrics")
    assert response.status == 200 and body == render(master.current)
    assert "application's metrics failed" in master.log.text("exception")


def test_a_failing_snapshot_is_a_500_and_a_log_line(master: Any, serve: Serve) -> None:
    def broken() -> Any:
        raise RuntimeError("scoreboard gone")

    master.snapshot = broken
    with endpoint(serve, master) as server:
        response, _ = get(server, "/metrics")
        health, _ = get(server, "/healthz")
    assert response.status == 500 and health.status == 200
    assert "error while answering" in master.log.text("exception")


def test_over_a_unix_socket(master: Any, serve: Serve, tmp_path: Path) -> None:
    path = str(tmp_path / "metrics.sock")
    with serve(master, MetricsServer(f"unix:{path}")):
        answer = raw(path, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"ok\n")
    assert not Path(path).exists()


def test_a_slow_client_is_dropped_and_others_are_served(master: Any, serve: Serve) -> None:
    with endpoint(serve, master, client_timeout=0.3) as server:
        host, port = server.address.rsplit(":", 1)
        with socket.create_connection((host, int(port))) as slow:
            slow.sendall(b"GET /metrics HTTP/1.1\r\n")  # and never the end of the head
            started = time.monotonic()
            response, _ = get(server, "/healthz")
            assert response.status == 200 and time.monotonic() - started < 0.25
            slow.settimeout(3)
            assert slow.recv(100) == b""


def test_a_busy_port_is_reported_and_retried(master: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        server = MetricsServer(f"127.0.0.1:{port}")
        server.start(master)
        assert server.listener is None
        assert f"metrics endpoint not available: cannot listen on 127.0.0.1:{port}" in (
            master.log.text("error"))
        server.stop(master)
