"""A real FastAPI app (tests/apps/fastapi_app.py) under ``workhorse -k asgi``.

Every ``asgi_stack`` test runs against the asgi worker directly, behind nginx
over TCP and behind nginx over a UNIX socket (see conftest.py).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from interop_apps import big_file_bytes, sha256
from interop_stacks import Stack, StackPool, stack_pool, start_app_server

from support import APPS, wait_for

pytestmark = pytest.mark.nginx

APP = "fastapi_app:app"


@pytest.fixture(scope="module")
def marks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fastapi-marks")


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory, marks: Path) -> Iterator[StackPool]:
    with stack_pool(tmp_path_factory.mktemp("fastapi-stacks"), [APP], APPS,
                    env={"FRAMEWORK_MARK_DIR": str(marks)}) as pool:
        yield pool


def test_json_route(asgi_stack: Stack) -> None:
    response = requests.get(asgi_stack.url + "/items/42?q=caf%C3%A9", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"item_id": 42, "q": "caf\u00e9"}
    assert response.headers["Content-Length"] == str(len(response.content))
    assert len(response.headers["X-Request-ID"]) >= 16  # the worker's, through nginx too
    expected_server = "nginx" if asgi_stack.proxied else "workhorse"
    assert response.headers["Server"].startswith(expected_server)
    invalid = requests.get(asgi_stack.url + "/items/not-a-number", timeout=10)
    assert invalid.status_code == 422


def test_lifespan_state_reaches_requests(asgi_stack: Stack) -> None:
    data = requests.get(asgi_stack.url + "/state", timeout=10).json()
    assert data["pool"] == f"pool-of-{data['pid']}"  # made by this worker's lifespan
    assert data["pid"] in asgi_stack.server.workers()


def test_post_body_and_a_background_task_that_runs_after_the_response(
        asgi_stack: Stack, marks: Path) -> None:
    name = f"lamp-{uuid.uuid4().hex[:8]}"
    item = {"name": name, "price": 12.5, "tags": ["caf\u00e9", "\u2603"]}
    response = requests.post(asgi_stack.url + "/items", json=item, timeout=10)
    assert response.status_code == 200
    assert response.json() == {**item, "pid": response.json()["pid"]}
    # The task waits for the release: the client had its answer first.
    assert not (marks / f"done-{name}").exists()
    (marks / f"release-{name}").touch()
    done = wait_for(lambda: (marks / f"done-{name}").exists()
                    and (marks / f"done-{name}").read_text(), message="the background task")
    assert done == "released"
    assert requests.post(asgi_stack.url + "/items", json={"name": "x"},
                         timeout=10).status_code == 422


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_request_body_streamed_to_the_app(asgi_stack: Stack, framing: str) -> None:
    body = big_file_bytes(5 * 1024 * 1024 + 3)
    data: object = body
    if framing == "chunked":
        data = iter([body[:1000], body[1000:3_000_000], body[3_000_000:]])
    response = requests.post(asgi_stack.url + "/upload", data=data, timeout=30)
    assert response.status_code == 200
    seen = response.json()
    assert (seen["length"], seen["sha256"]) == (len(body), sha256(body))
    if framing == "chunked" and not asgi_stack.proxied:
        assert (seen["content_length"], seen["chunked"]) == (None, "chunked")
    else:  # nginx buffers a chunked body and sends it with a length
        assert (seen["content_length"], seen["chunked"]) == (str(len(body)), None)


def test_streaming_response(asgi_stack: Stack) -> None:
    response = requests.get(asgi_stack.url + "/stream?n=300", timeout=10)
    assert response.status_code == 200
    assert "Content-Length" not in response.headers
    assert response.text == "".join(f"line {i}\n" for i in range(300))


def test_a_large_streamed_download(asgi_stack: Stack) -> None:
    size = 20 * 1024 * 1024 + 5
    response = requests.get(asgi_stack.url + f"/big?size={size}", timeout=60, stream=True)
    assert response.status_code == 200
    digest, length = hashlib.sha256(), 0
    for chunk in response.iter_content(256 * 1024):
        digest.update(chunk)
        length += len(chunk)
    block = bytes(range(256)) * 256
    expected = block * (size // len(block)) + block[:size % len(block)]
    assert (length, digest.hexdigest()) == (size, sha256(expected))


def test_expect_100_continue(pool: StackPool) -> None:
    """curl sends ``Expect: 100-continue`` for large bodies and waits: the worker
    says 100 Continue when the app first asks for the body."""
    server, _ = pool.server("asgi")
    body = b"z" * 100_000
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        answer = raw_read(sock)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["length"] == len(body)


def raw_read(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_streaming_response_reaches_the_client_as_it_is_made(asgi_stack: Stack,
                                                               marks: Path) -> None:
    name = uuid.uuid4().hex[:8]
    conn = http.client.HTTPConnection("127.0.0.1", asgi_stack.port, timeout=10)
    try:
        conn.request("GET", f"/gated?name={name}")
        response = conn.getresponse()
        assert response.status == 200
        assert response.readline() == b"first\n"  # while the app waits for the test
        (marks / f"open-{name}").touch()
        assert response.read() == b"second\n"
    finally:
        conn.close()


def test_head_then_get_on_one_connection(asgi_stack: Stack) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", asgi_stack.port, timeout=10)
    try:
        conn.request("HEAD", "/page")
        head = conn.getresponse()
        assert head.status == 200
        assert head.getheader("Content-Length") == "50"
        assert head.read() == b""
        # A body leaked after the HEAD response would be read as this response.
        conn.request("GET", "/items/7")
        response = conn.getresponse()
        assert response.status == 200
        assert json.loads(response.read()) == {"item_id": 7, "q": None}
    finally:
        conn.close()


def test_an_unhandled_exception_is_a_500_and_the_worker_serves_on(asgi_stack: Stack) -> None:
    response = requests.get(asgi_stack.url + "/boom", timeout=10)
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    # Starlette answers, then raises again for the server to log: after the response.
    wait_for(lambda: "RuntimeError: boom from a FastAPI route" in asgi_stack.server.log(),
             message="the traceback in the server's log")
    assert requests.get(asgi_stack.url + "/items/1", timeout=10).status_code == 200


def test_lifespan_shutdown_runs_when_the_server_stops(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    server, _ = start_app_server([APP], tmp_path / "app", kind="asgi", cwd=APPS, workers=1,
                                 env={"FRAMEWORK_MARK_DIR": str(marks)})
    try:
        pid = requests.get(server.url + "/state", timeout=10).json()["pid"]
        server.signal(signal.SIGTERM)
        assert server.wait_exit(15) == 0
    finally:
        server.stop()
    assert (marks / f"shutdown-{pid}").exists()


# --- as uvicorn does: background tasks, clients that leave --------------------------------


def test_the_next_request_on_a_connection_does_not_wait_for_a_background_task(
        pool: StackPool, marks: Path) -> None:
    server, _ = pool.server("asgi")
    name = f"slow-task-{uuid.uuid4().hex[:8]}"
    try:
        with requests.Session() as session:
            first = session.post(server.url + "/items", json={"name": name, "price": 1},
                                 timeout=10)
            assert first.status_code == 200
            started = time.monotonic()
            second = session.get(server.url + "/items/1", timeout=3)  # the same connection
            elapsed = time.monotonic() - started
        assert second.status_code == 200
        assert elapsed < 1.0, elapsed
        assert not (marks / f"done-{name}").exists()  # the task was still waiting
    finally:
        (marks / f"release-{name}").touch()


def test_a_client_that_leaves_a_stream_is_not_an_error_in_the_log(pool: StackPool) -> None:
    server, _ = pool.server("asgi")
    access_log = pool.dir / "asgi" / "asgi-access.log"
    tag = uuid.uuid4().hex[:8]
    before = len(server.log())
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"GET /big?size=1000000000&tag={tag} HTTP/1.1\r\nHost: x\r\n\r\n"
                     .encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
    wait_for(lambda: tag in access_log.read_text(), message="the request's end (access log)")
    added = server.log()[before:]
    assert "[ERROR]" not in added and "Traceback" not in added, added[-3000:]
