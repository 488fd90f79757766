"""Starlette's WebSocket routes (tests/apps/starlette_ws_app.py) under ``workhorse -k asgi``.

Every ``asgi_stack`` test runs against the asgi worker directly, behind nginx
over TCP and behind nginx over a UNIX socket, where nginx passes the upgrade
on (``websocket_location``: HTTP/1.1 upstream, ``Upgrade`` and ``Connection``
set again). The client is tests/ws_client.py (wsproto's client).
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from interop_stacks import Stack, StackPool, stack_pool, start_app_server

from nginx_support import websocket_location
from support import APPS, wait_for
from ws_client import Client, Closed, Refused, connect

pytestmark = pytest.mark.nginx

APP = "starlette_ws_app:app"


@pytest.fixture(scope="module")
def marks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("starlette-marks")


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory, marks: Path) -> Iterator[StackPool]:
    with stack_pool(tmp_path_factory.mktemp("starlette-stacks"), [APP], APPS,
                    nginx_options={"extra_locations": websocket_location("/ws")},
                    env={"FRAMEWORK_MARK_DIR": str(marks)}) as pool:
        yield pool


def ws(stack: Stack, path: str, **kwargs: object) -> Client:
    return connect("127.0.0.1", stack.port, path, **kwargs)  # type: ignore[arg-type]


def test_echo_text_bytes_and_json_then_the_client_closes(asgi_stack: Stack,
                                                         marks: Path) -> None:
    client_id = uuid.uuid4().hex[:8]
    client = ws(asgi_stack, f"/ws/echo?id={client_id}", subprotocols=["v2", "v1"])
    assert client.subprotocol == "v2"
    client.send_text("h\u00e9llo \u2603")
    assert client.receive() == "echo: h\u00e9llo \u2603"
    client.send_bytes(b"\x00\x01\x02\xff")
    assert client.receive() == b"\xff\x02\x01\x00"
    client.send_text('{"n": 41}')
    assert client.receive() == '{"n":42}'
    assert client.close(1000) == Closed(1000, "")  # the server answers the close
    wait_for(lambda: (marks / f"ws-closed-{client_id}-1000").exists(),
             message="the app told of the client's close code")


def test_many_messages_in_a_row_keep_their_order(asgi_stack: Stack) -> None:
    client = ws(asgi_stack, "/ws/echo")
    for index in range(200):
        client.send_text(f"m{index}")
    assert [client.receive() for _ in range(200)] == [f"echo: m{i}" for i in range(200)]
    client.close()


def test_a_megabyte_each_way(asgi_stack: Stack) -> None:
    big = ws(asgi_stack, "/ws/big")
    assert big.receive() == bytes(range(256)) * 4096
    big.close()
    client = ws(asgi_stack, "/ws/echo")
    payload = bytes(range(256)) * 4096
    client.send_bytes(payload)
    assert client.receive() == payload[::-1]
    client.close()


@pytest.mark.parametrize("code,reason", [(1001, ""), (4000, "custom"), (4999, "last app code")])
def test_close_codes_both_ways(asgi_stack: Stack, marks: Path, code: int, reason: str) -> None:
    # The server closes with the app's code and reason...
    client = ws(asgi_stack, "/ws/echo")
    client.send_text(f"close {code} {reason}")
    assert client.receive() == Closed(code, reason)
    client.sock.close()
    # ... and the app hears the client's.
    client_id = uuid.uuid4().hex[:8]
    client = ws(asgi_stack, f"/ws/echo?id={client_id}")
    client.close(code)
    wait_for(lambda: (marks / f"ws-closed-{client_id}-{code}").exists(),
             message=f"the app told of close code {code}")


def test_a_message_then_the_apps_close(asgi_stack: Stack) -> None:
    client = ws(asgi_stack, "/ws/bye")
    assert client.receive() == "goodbye"
    assert client.receive() == Closed(4001, "bye")
    client.sock.close()


def test_a_handler_that_raises_closes_with_1011(asgi_stack: Stack) -> None:
    client = ws(asgi_stack, "/ws/crash")
    assert client.receive() == Closed(1011, "")
    client.sock.close()
    wait_for(lambda: "the WebSocket handler failed (starlette_ws_app)" in
             asgi_stack.server.log(), message="the handler's error logged")


@pytest.mark.parametrize("path,status", [("/ws/deny", 403), ("/ws/denial", 401),
                                         ("/ws/nowhere", 403)])
def test_refused_handshakes(asgi_stack: Stack, path: str, status: int) -> None:
    with pytest.raises(Refused) as refused:
        ws(asgi_stack, path)
    assert refused.value.status == status


def test_http_and_websocket_on_one_server(asgi_stack: Stack) -> None:
    assert requests.get(asgi_stack.url + "/", timeout=10).text == "starlette"
    client = ws(asgi_stack, "/ws/echo")
    client.send_text("still here")
    assert requests.get(asgi_stack.url + "/", timeout=10).text == "starlette"
    assert client.receive() == "echo: still here"
    client.close()


# --- a stopping worker --------------------------------------------------------------------


def test_an_open_websocket_is_closed_with_a_close_frame_when_the_worker_stops(
        tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    server, _ = start_app_server([APP], tmp_path / "app", kind="asgi", cwd=APPS, workers=1,
                                 extra=["--graceful-timeout", "3"],
                                 env={"FRAMEWORK_MARK_DIR": str(marks)})
    try:
        client_id = uuid.uuid4().hex[:8]
        client = connect("127.0.0.1", server.port, f"/ws/echo?id={client_id}")
        client.send_text("before the stop")
        assert client.receive() == "echo: before the stop"
        started = time.monotonic()
        server.signal(signal.SIGTERM)
        closed = client.receive()
        elapsed = time.monotonic() - started
        client.sock.close()
        assert isinstance(closed, Closed) and closed.code in (1001, 1012), closed
        assert elapsed < 1.5, elapsed  # not held until graceful_timeout
        wait_for(lambda: any(marks.glob(f"ws-closed-{client_id}-*")),
                 message="the app told of the close")
    finally:
        server.stop()
