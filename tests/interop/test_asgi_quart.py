"""A real Quart app (tests/apps/quart_app.py) under ``workhorse -k asgi``.

Every ``asgi_stack`` test runs against the asgi worker directly, behind nginx
over TCP and behind nginx over a UNIX socket (WebSocket through nginx's
upgrade location). Quart runs its own lifespan (``before_serving`` /
``after_serving``) and runs sync views in a thread.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from interop_apps import big_file_bytes, sha256
from interop_stacks import Stack, StackPool, stack_pool, start_app_server

from nginx_support import websocket_location
from support import APPS, wait_for
from ws_client import Closed, connect

pytestmark = pytest.mark.nginx

APP = "quart_app:app"


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackPool]:
    with stack_pool(tmp_path_factory.mktemp("quart-stacks"), [APP], APPS,
                    nginx_options={"extra_locations": websocket_location("/ws")}) as pool:
        yield pool


def test_before_serving_ran_in_the_worker(asgi_stack: Stack) -> None:
    data = requests.get(asgi_stack.url + "/", timeout=10).json()
    assert data["framework"] == "quart"
    assert data["started_by"] == data["pid"]  # the lifespan startup, in this worker
    assert data["pid"] in asgi_stack.server.workers()


def test_a_sync_view_runs_off_the_loop(asgi_stack: Stack) -> None:
    data = requests.get(asgi_stack.url + "/sync", timeout=10).json()
    assert data["thread"] != "MainThread"


def test_json_body(asgi_stack: Stack) -> None:
    payload = {"items": list(range(1000)), "name": "caf\u00e9 \u2603"}
    response = requests.post(asgi_stack.url + "/json", json=payload, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"received": payload, "total": 499500}


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_raw_body(asgi_stack: Stack, framing: str) -> None:
    body = big_file_bytes(2 * 1024 * 1024 + 1)
    data: object = body if framing == "length" else iter([body[:10], body[10:]])
    response = requests.post(asgi_stack.url + "/raw", data=data, timeout=30)
    assert response.status_code == 200
    seen = response.json()
    assert (seen["length"], seen["sha256"]) == (len(body), sha256(body))
    if framing == "chunked" and not asgi_stack.proxied:
        assert (seen["content_length"], seen["chunked"]) == (None, "chunked")
    else:  # nginx buffers a chunked body and sends it with a length
        assert (seen["content_length"], seen["chunked"]) == (str(len(body)), None)


def test_streaming_response(asgi_stack: Stack) -> None:
    response = requests.get(asgi_stack.url + "/stream?n=250", timeout=10)
    assert response.status_code == 200
    assert response.text == "".join(f"quart {i}\n" for i in range(250))


def test_an_unhandled_exception_is_a_500_and_the_worker_serves_on(asgi_stack: Stack) -> None:
    response = requests.get(asgi_stack.url + "/boom", timeout=10)
    assert response.status_code == 500
    assert "Internal Server Error" in response.text
    wait_for(lambda: "boom from a Quart view" in asgi_stack.server.log(),
             message="Quart's error in the server's log")
    assert requests.get(asgi_stack.url + "/", timeout=10).status_code == 200


def test_websocket_echo_and_the_handlers_end(asgi_stack: Stack) -> None:
    client = connect("127.0.0.1", asgi_stack.port, "/ws/echo")
    for text in ("one", "caf\u00e9"):
        client.send_text(text)
        assert client.receive() == f"echo: {text}"
    client.send_text("bye")  # the handler returns: Quart closes normally
    assert client.receive() == Closed(1000, "")
    client.sock.close()


def test_after_serving_runs_when_the_server_stops(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    server, _ = start_app_server([APP], tmp_path / "app", kind="asgi", cwd=APPS, workers=1,
                                 env={"FRAMEWORK_MARK_DIR": str(marks)})
    try:
        pid = requests.get(server.url + "/", timeout=10).json()["pid"]
        server.signal(signal.SIGTERM)
        assert server.wait_exit(15) == 0
    finally:
        server.stop()
    assert (marks / f"quart-shutdown-{pid}").exists()
