"""A real Django project through Django's ASGI handler (tests/apps/djasgi) under ``-k asgi``.

Every ``asgi_stack`` test runs against the asgi worker directly, behind nginx
over TCP and behind nginx over a UNIX socket (see conftest.py). Django's
handler does not speak the lifespan protocol: the worker serves without it.
"""

from __future__ import annotations

import http.client
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from interop_apps import big_file_bytes, sha256
from interop_stacks import Stack, StackPool, stack_pool, start_app_server

from support import APPS, requests_in_flight, status_json, wait_for

pytestmark = pytest.mark.nginx

APP = "djasgi.asgi:application"


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackPool]:
    with stack_pool(tmp_path_factory.mktemp("djasgi-stacks"), [APP], APPS) as pool:
        yield pool


def get(stack: Stack, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", 10)
    return requests.get(stack.url + path, **kwargs)


def test_an_async_view_runs_on_the_workers_loop(asgi_stack: Stack) -> None:
    response = get(asgi_stack, "/async/")
    assert response.status_code == 200
    assert response.json() == {"view": "async", "thread": "MainThread", "in_loop": True,
                               "pid": response.json()["pid"]}
    assert response.json()["pid"] in asgi_stack.server.workers()


def test_a_sync_view_runs_in_djangos_thread(asgi_stack: Stack) -> None:
    data = get(asgi_stack, "/sync/").json()
    assert data["view"] == "sync"
    assert data["thread"] != "MainThread" and data["in_loop"] is False


def test_hello_and_djangos_404(asgi_stack: Stack) -> None:
    hello = get(asgi_stack, "/")
    assert hello.status_code == 200
    assert hello.text == "Hello from Django over ASGI\n"
    assert hello.headers["Content-Type"] == "text/plain"
    missing = get(asgi_stack, "/no/such/page/")
    assert missing.status_code == 404
    assert "<h1>Not Found</h1>" in missing.text


def test_post_bodies_small_and_large(asgi_stack: Stack) -> None:
    small = b"name=value&other=%C3%A9"
    response = requests.post(asgi_stack.url + "/echo/", data=small, timeout=10)
    assert response.status_code == 200 and response.content == small
    large = big_file_bytes(5 * 1024 * 1024 + 3)
    response = requests.post(asgi_stack.url + "/echo/", data=large, timeout=30)
    assert response.status_code == 200
    assert response.headers["X-Body-Length"] == str(len(large))
    assert response.headers["X-Body-Sha256"] == sha256(large)
    assert response.content == large


def test_chunked_post(asgi_stack: Stack) -> None:
    parts = [b"first-", b"x" * 300_000, b"-last"]
    response = requests.post(asgi_stack.url + "/echo/", data=iter(parts), timeout=20)
    assert response.status_code == 200
    assert response.content == b"".join(parts)


def test_async_streaming_response(asgi_stack: Stack) -> None:
    response = get(asgi_stack, "/stream/?n=200")
    assert response.status_code == 200
    assert response.text == "".join(f"part {i}\n" for i in range(200))


def test_head_then_get_on_one_connection(asgi_stack: Stack) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", asgi_stack.port, timeout=10)
    try:
        conn.request("HEAD", "/")
        head = conn.getresponse()
        assert head.status == 200
        assert head.read() == b""
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200
        assert response.read() == b"Hello from Django over ASGI\n"
    finally:
        conn.close()


def test_djangos_500_page_and_the_worker_serves_on(asgi_stack: Stack) -> None:
    response = get(asgi_stack, "/boom/")
    assert response.status_code == 500
    assert "<h1>Server Error (500)</h1>" in response.text
    assert "boom" not in response.text  # DEBUG = False: no traceback to the client
    wait_for(lambda: "boom from an async Django view" in asgi_stack.server.log(),
             message="Django's error log in the server's log")
    assert get(asgi_stack, "/async/").status_code == 200


def test_what_django_sees_of_the_client(asgi_stack: Stack) -> None:
    data = get(asgi_stack, "/whoami/").json()
    assert data["scheme"] == "http" and data["is_secure"] is False
    assert data["host"] == f"127.0.0.1:{asgi_stack.port}"
    assert data["absolute"] == f"http://127.0.0.1:{asgi_stack.port}/somewhere/"
    if asgi_stack.via == "nginx-unix":
        assert data["remote_addr"] is None  # no address on a UNIX socket: scope client None
    else:
        assert data["remote_addr"] == "127.0.0.1"
    assert data["x_forwarded_for"] == ("127.0.0.1" if asgi_stack.proxied else None)


def test_nginx_upstream_keepalive_reuses_the_connection(pool: StackPool,
                                                       nginx_factory: Any) -> None:
    server, _ = pool.server("asgi")
    nginx = nginx_factory(f"127.0.0.1:{server.port}", upstream_keepalive=4)
    with requests.Session() as session:
        answers = [session.get(nginx.url + "/whoami/", timeout=10) for _ in range(6)]
    assert [r.status_code for r in answers] == [200] * 6
    # One upstream connection (one client port) served all six, one after another.
    assert len({r.json()["remote_port"] for r in answers}) == 1
    assert "upstream prematurely closed" not in nginx.error_log()


def test_async_views_share_one_workers_loop(tmp_path: Path) -> None:
    """With one worker, a view waiting on the loop does not hold the next request:
    /open/ is served while /wait/ is in flight, and opens its gate."""
    server, _ = start_app_server([APP], tmp_path / "app", kind="asgi", cwd=APPS, workers=1)
    try:
        name = uuid.uuid4().hex[:8]
        result: dict[str, Any] = {}
        waiting = threading.Thread(target=lambda: result.update(
            answer=requests.get(f"{server.url}/wait/?name={name}", timeout=20).json()))
        waiting.start()
        opened = wait_for(lambda: requests.get(f"{server.url}/open/?name={name}",
                                               timeout=5).json()["waiting"],
                          message="/open/ served while /wait/ is in flight")
        waiting.join(20)
    finally:
        server.stop()
    assert opened is True
    assert result["answer"]["opened"] is True


# --- a client that leaves -----------------------------------------------------------------


def test_a_client_that_leaves_a_waiting_view_is_not_an_error_in_the_log(tmp_path: Path) -> None:
    server, _ = start_app_server([APP], tmp_path / "app", kind="asgi", cwd=APPS, workers=1)
    try:
        name = uuid.uuid4().hex[:8]
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(f"GET /wait/?name={name} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                         .encode())
            wait_for(lambda: requests.get(f"{server.url}/waiting/?name={name}",
                                          timeout=5).json()["waiting"],
                     message="the view waiting")
        # The slot is freed after the worker's verdict on the request is logged.
        wait_for(lambda: status_json(server) and not requests_in_flight(server),
                 message="the request's end (the scoreboard)")
        log = server.log()
    finally:
        server.stop()
    assert [line for line in log.splitlines() if "[ERROR]" in line] == []
