"""The asgi worker, as a client and an operator see it: real processes, sockets, signals.

The app is tests/apps/asgiapp.py. The stuck models are the supervision
tests' (a C loop holding the GIL, a blocking recv) called from async views,
where they freeze every request of the worker: the worker must name the
call while it blocks, and the master end the worker at the deadline.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
import requests

from keepalive_load import RECYCLE_ARGS, recycle_under_load
from support import wait_for
from ws_client import Closed, Refused, connect

TIMEOUT = 2.0
ASGI = ["-k", "asgi", "-w", "1"]
LOOPS = ["asyncio", "uvloop"]


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    directory = tmp_path / "asgi-marks"
    directory.mkdir()
    return directory


@pytest.fixture
def asgi_env(stuck_env: dict[str, str], marks: Path) -> dict[str, str]:
    return {**stuck_env, "ASGIAPP_MARK_DIR": str(marks)}


def count_marks(marks: Path, kind: str) -> int:
    return len(list(marks.glob(f"{kind}-*")))


def raw_exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


# --- serving --------------------------------------------------------------------------


@pytest.mark.parametrize("loop", LOOPS)
def test_serves_with_keep_alive_lifespan_state_and_request_ids(server_factory, asgi_env, loop):
    server = server_factory([*ASGI, "--asgi-loop", loop, "asgiapp:app"], env=asgi_env)
    with requests.Session() as session:
        first = session.get(server.url + "/state", timeout=5)
        pid = session.get(server.url + "/pid", timeout=5)
        head = session.head(server.url + "/", timeout=5)
    assert first.status_code == 200 and first.json()["started"] == int(pid.text)
    assert first.headers["X-Request-ID"]
    assert head.status_code == 200 and head.headers["Content-Length"] == "2"
    assert "Using worker: asgi" in server.log()
    raw = raw_exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /pid HTTP/1.1\r\n"
                       b"Host: x\r\nConnection: close\r\n\r\n")
    assert raw.count(b"HTTP/1.1 200 OK") == 2  # pipelined, in order
    assert raw.rstrip().endswith(pid.text.encode())


def test_the_scope_follows_the_trust_rules(server_factory, asgi_env):
    server = server_factory([*ASGI, "--root-path", "/app", "asgiapp:app"], env=asgi_env)
    scope = requests.get(server.url + "/app/scope?x=%C3%A9", timeout=5,
                         headers={"X-Forwarded-Proto": "https"}).json()
    assert scope["path"] == "/app/scope" and scope["root_path"] == "/app"
    assert scope["scheme"] == "https"  # 127.0.0.1 is in forwarded_allow_ips by default
    assert scope["query_string"] == "x=%C3%A9" and scope["client"][0] == "127.0.0.1"
    untrusted = server_factory([*ASGI, "--forwarded-allow-ips", "10.9.9.9", "asgiapp:app"],
                               env=asgi_env)
    assert requests.get(untrusted.url + "/scope", timeout=5,
                        headers={"X-Forwarded-Proto": "https"}).json()["scheme"] == "http"


def test_request_and_response_bodies_stream(server_factory, asgi_env):
    server = server_factory([*ASGI, "-t", str(TIMEOUT), "asgiapp:app"], env=asgi_env)
    big = bytes(range(256)) * 4096  # 1 MiB
    assert requests.post(server.url + "/echo", data=big, timeout=20).content == big

    def chunks():
        for _ in range(64):
            yield b"x" * 16384

    counted = requests.post(server.url + "/upload-count", data=chunks(), timeout=20)
    assert counted.text == str(64 * 16384)
    # A stream that keeps flowing outlives the timeout: each chunk is progress.
    flowing = requests.get(server.url + f"/stream?n=12&every={TIMEOUT / 4}", timeout=30)
    assert flowing.status_code == 200 and flowing.text.endswith("done\n")
    assert "REQUEST TIMEOUT" not in server.log()


def test_a_stream_that_stops_is_cut_at_the_timeout(server_factory, asgi_env):
    server = server_factory([*ASGI, "-t", str(TIMEOUT), "asgiapp:app"], env=asgi_env)
    started = time.monotonic()
    received = raw_exchange(server.port, b"GET /stall?after=2 HTTP/1.1\r\nHost: x\r\n\r\n")
    elapsed = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 200") and b"chunk 1" in received
    assert not received.endswith(b"0\r\n\r\n")  # cut: no last chunk
    assert TIMEOUT <= elapsed < TIMEOUT + 2, elapsed
    wait_for(lambda: "REQUEST TIMEOUT" in server.log(), message="the timeout logged")


# --- broken apps and clients -----------------------------------------------------------


def test_broken_apps_get_a_500_or_a_cut_and_a_logged_reason(server_factory, asgi_env):
    server = server_factory([*ASGI, "asgiapp:app"], env=asgi_env)
    for path in ("/raise", "/no-response", "/bad-message"):
        answer = requests.get(server.url + path, timeout=5)
        assert answer.status_code == 500, path
    cut = raw_exchange(server.port, b"GET /raise-after-start HTTP/1.1\r\nHost: x\r\n\r\n")
    assert cut.startswith(b"HTTP/1.1 200") and not cut.endswith(b"0\r\n\r\n")
    log = server.log()
    assert "RuntimeError: the view failed (asgiapp)" in log
    assert "the view failed half way" in log
    assert "returned without sending a response" in log
    assert "broke the ASGI contract" in log
    assert requests.get(server.url + "/", timeout=5).text == "ok"  # the worker serves on


def test_malformed_requests_get_their_4xx(server_factory, asgi_env):
    server = server_factory([*ASGI, "asgiapp:app"], env=asgi_env)
    for data, status in ((b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b"400"),
                         (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", b"505"),
                         (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", b"414")):
        answer = raw_exchange(server.port, data)
        assert answer.startswith(b"HTTP/1.1 " + status), (data[:40], answer[:60])
    assert "Invalid request from" in server.log()


def test_a_client_that_leaves_is_told_to_the_app_and_no_task_is_left(server_factory,
                                                                      asgi_env, marks):
    server = server_factory([*ASGI, "--asgi-disconnect-grace-period", "1", "asgiapp:app"],
                            env=asgi_env)
    for path in ("/wait-disconnect", "/ignore-disconnect"):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        wait_for(lambda p=path: _in_flight(server, p), message=f"{path} in the app")  # type: ignore[misc]
        sock.close()
    wait_for(lambda: count_marks(marks, "disconnected") == 1, message="http.disconnect")
    wait_for(lambda: count_marks(marks, "cancelled") == 1, 5,
             message="the task ignoring the disconnect cancelled after the grace")


def _in_flight(server, path: str) -> bool:  # type: ignore[no-untyped-def]
    status = _status(server)
    return any(path in t["request"] for w in status["workers"] for t in w["threads"])


def _status(server) -> dict:  # type: ignore[no-untyped-def,type-arg]
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "workhorse", "status", "--json",
                          "--pid", str(server.pid)], capture_output=True, text=True, timeout=10,
                         cwd=server.cwd, env=server.env)
    return json.loads(out.stdout) if out.returncode == 0 else {"workers": []}


# --- deadlines and the blocked loop ----------------------------------------------------


def test_an_overdue_request_is_answered_504_and_the_worker_serves_on(server_factory, asgi_env):
    server = server_factory([*ASGI, "-t", str(TIMEOUT), "asgiapp:app"], env=asgi_env)
    pid = requests.get(server.url + "/pid", timeout=5).text
    result: dict[str, object] = {}

    def slow() -> None:
        started = time.monotonic()
        result["response"] = requests.get(server.url + "/sleep?s=30", timeout=30)
        result["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=slow)
    thread.start()
    # Meanwhile the same worker answers others.
    for _ in range(5):
        assert requests.get(server.url + "/", timeout=5).text == "ok"
    thread.join(30)
    answer = result["response"]
    assert answer.status_code == 504  # type: ignore[attr-defined]
    assert TIMEOUT <= result["elapsed"] < TIMEOUT + 1.5  # type: ignore[operator]
    assert requests.get(server.url + "/pid", timeout=5).text == pid  # no restart
    log = server.log()
    assert "REQUEST TIMEOUT" in log and "asgiapp.py" in log and "in http" in log
    assert "WORKER TIMEOUT" not in log


@pytest.mark.parametrize("model,frame", [("block", "in http"), ("spin", "spin_in_c_library"),
                                         ("recv", "read_from_dead_peer")])
def test_a_blocking_call_is_named_then_ended_at_the_deadline(server_factory, asgi_env, marks,
                                                             model, frame):
    """One worker's loop blocked: LOOP BLOCKED names the call within about a second;
    at the deadline the master ends that worker (504), and the other worker's
    clients see nothing of it."""
    server = server_factory(["-k", "asgi", "-w", "2", "-t", str(TIMEOUT),
                             "--blocked-loop-timeout", "0.5", "asgiapp:app"], env=asgi_env)
    wait_for(lambda: len(server.workers()) == 2, message="2 workers")
    sent = time.monotonic()
    result: dict[str, object] = {}

    def stuck() -> None:
        result["raw"] = raw_exchange(server.port, f"GET /{model}?s=30 HTTP/1.1\r\n"
                                     "Host: x\r\n\r\n".encode(), timeout=20)
        result["elapsed"] = time.monotonic() - sent

    thread = threading.Thread(target=stuck)
    thread.start()
    wait_for(lambda: count_marks(marks, model) == 1, message="the stuck request in the app")
    stuck_pid = int(next(marks.glob(f"{model}-*")).read_text())
    blocked = wait_for(lambda: "LOOP BLOCKED" in server.log() and time.monotonic() - sent,
                       5, message="the blocked-loop report")
    failures: list[str] = []
    served = 0
    while thread.is_alive() and served < 400:
        try:
            answer = requests.get(server.url + "/pid", timeout=10)
            if answer.status_code != 200:
                failures.append(f"status {answer.status_code}")
            elif int(answer.text) == stuck_pid:
                failures.append("served by the blocked worker")
        except requests.RequestException as exc:
            failures.append(repr(exc))
        served += 1
    thread.join(20)
    log = wait_for(lambda: "WORKER TIMEOUT" in server.log() and server.log(), 5,
                   message="the master's record of the timeout")
    report = log[log.index("LOOP BLOCKED"):]
    assert frame in report.split("WORKER TIMEOUT")[0], report[:2000]
    assert f"/{model}?s=30" in report
    assert blocked < 1.5, blocked  # named while it blocks, well before the deadline
    assert result["raw"].startswith(b"HTTP/1.1 504"), result["raw"][:80]  # type: ignore[union-attr]
    assert result["elapsed"] < TIMEOUT + 1.5, result["elapsed"]  # type: ignore[operator]
    assert failures == [], failures[:5]
    wait_for(lambda: len(server.workers()) == 2 and stuck_pid not in server.workers(),
             message="a replacement worker")


# --- lifespan -------------------------------------------------------------------------


@pytest.mark.parametrize("mode,detail", [("fail", "cannot reach the cache (asgiapp)"),
                                         ("raise", "the database is down (asgiapp)")])
def test_a_failing_startup_is_a_failed_boot_with_the_apps_reason(server_factory, asgi_env,
                                                                  mode, detail):
    server = server_factory([*ASGI, "--asgi-lifespan", "on", "asgiapp:app"],
                            env={**asgi_env, "ASGIAPP_LIFESPAN": mode}, wait=False)
    wait_for(lambda: "next attempt in" in server.log(), 15, message="a failed boot, backed off")
    log = server.log()
    assert "lifespan startup failed" in log and detail in log
    assert server.proc is not None and server.proc.poll() is None  # the master stays up


def test_lifespan_shutdown_runs_on_a_graceful_stop(server_factory, asgi_env, marks):
    server = server_factory([*ASGI, "asgiapp:app"], env=asgi_env)
    assert requests.get(server.url + "/", timeout=5).text == "ok"
    server.signal(signal.SIGTERM)
    assert server.wait_exit(15) == 0
    assert count_marks(marks, "shutdown") == 1


# --- WebSocket --------------------------------------------------------------------------


def test_websocket_messages_subprotocols_closes_and_denial(server_factory, asgi_env, marks):
    server = server_factory([*ASGI, "asgiapp:app"], env=asgi_env)
    client = connect("127.0.0.1", server.port, "/ws")
    client.send_text("héllo")
    assert client.receive() == "echo: héllo"
    client.send_bytes(b"\x01\x02\x03")
    assert client.receive() == b"\x03\x02\x01"
    client.close(1000)
    wait_for(lambda: count_marks(marks, "ws-closed-1000") == 1, message="the app saw the close")
    chosen = connect("127.0.0.1", server.port, "/ws-subprotocol", subprotocols=["v2", "v1"])
    assert chosen.subprotocol == "v2"
    chosen.close()
    closing = connect("127.0.0.1", server.port, "/ws-close")
    assert closing.receive() == Closed(4001, "bye")
    closing.sock.close()
    with pytest.raises(Refused) as refused:
        connect("127.0.0.1", server.port, "/ws-deny")
    assert refused.value.status == 403
    # A bad handshake is refused by the server itself.
    bad = raw_exchange(server.port, b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                       b"Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
                       b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    assert bad.startswith(b"HTTP/1.1 426") and b"Sec-WebSocket-Version: 13" in bad


def test_an_open_websocket_is_not_timed_out(server_factory, asgi_env):
    server = server_factory([*ASGI, "-t", "1", "asgiapp:app"], env=asgi_env)
    client = connect("127.0.0.1", server.port, "/ws")
    time.sleep(2.5)  # idle for longer than the timeout: a conversation, not a request
    client.send_text("still there?")
    assert client.receive() == "echo: still there?"
    client.close()
    assert "REQUEST TIMEOUT" not in server.log() and "WORKER TIMEOUT" not in server.log()


# --- lifecycle --------------------------------------------------------------------------


def test_term_finishes_requests_in_flight(server_factory, asgi_env, marks):
    server = server_factory([*ASGI, "--graceful-timeout", "10", "asgiapp:app"], env=asgi_env)
    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.update(
        answer=requests.get(server.url + "/sleep?s=1", timeout=10)))
    thread.start()
    wait_for(lambda: count_marks(marks, "sleep") == 1, message="the request in the app")
    server.signal(signal.SIGTERM)
    thread.join(10)
    assert result["answer"].status_code == 200  # type: ignore[attr-defined]
    assert server.wait_exit(15) == 0


@pytest.mark.parametrize("how", ["hup", "max_requests"])
def test_replacing_workers_fails_no_keepalive_request(server_factory, asgi_env, how):
    server = server_factory(["-k", "asgi", "-w", "2", *RECYCLE_ARGS[how], "asgiapp:app"],
                            env=asgi_env)
    load = recycle_under_load(server, how)
    print(f"asgi {how}:", load.summary())
    assert load.failures == [], load.summary()


@pytest.mark.parametrize("name", ["uvicorn.workers.UvicornWorker",
                                  "uvicorn_worker.UvicornWorker",
                                  "uvicorn_worker.UvicornH11Worker"])
def test_uvicorn_worker_names_start_the_asgi_worker(server_factory, asgi_env, name):
    pytest.importorskip(name.split(".")[0])
    server = server_factory(["-k", name, "-w", "1", "asgiapp:app"], env=asgi_env)
    assert requests.get(server.url + "/", timeout=5).text == "ok"
    assert re.search(rf"worker_class {re.escape(name)} is served by workhorse's asgi worker",
                     server.log())
