"""The gevent worker, as a client and an operator see it: real processes, sockets, signals.

The app is tests/apps/geventapp.py, a Flask app (the process is patched before
it is imported), with the supervision tests' stuck models. What is checked is
what the worker promises: hundreds of slow requests at once on one worker,
each with its scoreboard slot; a request past its deadline ended inside the
worker while the others carry on; a hub that stops turning (C code, a Python
loop that never yields, a C recv) named while it blocks and ended by the master
at the deadline, its clients answered; the lifecycle of the other kinds.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from keepalive_load import RECYCLE_ARGS, recycle_under_load
from support import wait_for

TIMEOUT = 2.0
GEVENT = ["-k", "gevent", "-w", "1"]


@pytest.fixture
def app_env(stuck_env: dict[str, str]) -> dict[str, str]:
    return dict(stuck_env)


def marks(env: dict[str, str], kind: str) -> list[Path]:
    return list(Path(env["STUCK_MARK_DIR"]).glob(f"{kind}-*"))


def status(server: Any) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "workhorse", "status", "--json", "--pid",
                          str(server.pid)], capture_output=True, text=True, timeout=10,
                         cwd=server.cwd, env=server.env)
    return json.loads(out.stdout) if out.returncode == 0 else {"workers": [], "summary": {}}


def in_flight(server: Any, path: str) -> int:
    return sum(path in t["request"] for w in status(server)["workers"] for t in w["threads"])


class Pinned:
    """A keep-alive connection: every request on it goes to the same worker."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.buffer = b""

    def send(self, path: str) -> None:
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())

    def get(self, path: str) -> tuple[int, bytes]:
        self.send(path)
        return self.response()

    def response(self) -> tuple[int, bytes]:
        """(status, body) of the next response; (0, b"") if the connection closed first."""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return 0, b""
            self.buffer += chunk
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.buffer = rest[length:]
        return int(head.split()[1]), rest[:length]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def connect() -> Any:
    """``connect(port, pid=None)``: a Pinned connection (to worker ``pid``), closed after."""
    opened: list[Pinned] = []

    def make(port: int, pid: int | None = None) -> Pinned:
        for _ in range(200):
            conn = Pinned(port)
            opened.append(conn)
            if pid is None or conn.get("/pid")[1] == str(pid).encode():
                return conn
        raise AssertionError(f"no connection reached worker {pid}")

    yield make
    for conn in opened:
        conn.close()


# --- many slow requests at once ----------------------------------------------------------


class SlowUpstream:
    """A local HTTP server that answers every request after ``delay`` seconds, counting
    how many it holds at once (what an app's slow outbound API looks like)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.port = 0
        self.served = 0
        self.concurrent = 0
        self.most_concurrent = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlowUpstream:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._answer, "127.0.0.1", 0, backlog=1024))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readline() not in (b"\r\n", b""):
                pass
            self.concurrent += 1
            self.most_concurrent = max(self.most_concurrent, self.concurrent)
            await asyncio.sleep(self.delay)
            self.concurrent -= 1
            self.served += 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n"
                         b"upstream-ok")
            await writer.drain()
        finally:
            writer.close()


async def _get_many(port: int, path: str, count: int) -> list[tuple[int, bytes]]:
    async def one() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(-1), 30)
        writer.close()
        return (int(data.split()[1]) if data else 0), data.partition(b"\r\n\r\n")[2]

    return await asyncio.gather(*(one() for _ in range(count)))


def test_hundreds_of_slow_outbound_calls_run_at_once_on_one_worker(server_factory, app_env):
    """A Flask app calling a slow API (requests, patched sockets): 300 requests of 1.5 s
    each on one worker finish together, each visible in the status with its slot."""
    count, delay = 300, 1.5
    server = server_factory([*GEVENT, "--backlog", "1024", "geventapp:app"], env=app_env)
    with SlowUpstream(delay) as upstream:
        path = f"/outbound?port={upstream.port}"
        seen: list[int] = []
        watcher = threading.Thread(target=lambda: seen.append(
            wait_for(lambda: in_flight(server, "/outbound") >= 100 and
                     in_flight(server, "/outbound"), 10, message="requests in the status")))
        started = time.monotonic()
        watcher.start()
        answers = asyncio.run(_get_many(server.port, path, count))
        elapsed = time.monotonic() - started
        watcher.join(15)
    assert answers == [(200, b"upstream-ok")] * count
    print(f"{count} requests of {delay}s on one gevent worker: {elapsed:.2f}s; at most "
          f"{upstream.most_concurrent} at once upstream; {seen} in the status at once")
    assert elapsed < delay * 4, elapsed  # one after the other would take 450 s
    assert upstream.most_concurrent >= count // 2
    assert seen and seen[0] >= 100


def test_each_greenlet_sees_its_own_request_context(server_factory, app_env):
    server = server_factory([*GEVENT, "geventapp:app"], env=app_env)
    results: dict[int, str] = {}

    def ask(value: int) -> None:
        results[value] = requests.get(f"{server.url}/context?value={value}&s=0.3",
                                      timeout=10).text

    threads = [threading.Thread(target=ask, args=(v,)) for v in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert results == {v: str(v) for v in range(40)}
    assert requests.get(server.url + "/patched", timeout=5).text == "yes"
    assert "Using worker: gevent" in server.log()


def test_keep_alive_pipelining_and_worker_connections(server_factory, app_env, connect):
    server = server_factory([*GEVENT, "--worker-connections", "5", "geventapp:app"],
                            env=app_env)
    conn = connect(server.port)
    conn.sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
    assert conn.response() == (200, b"ok")  # pipelined, in order
    pid = conn.response()[1]
    assert conn.get("/pid") == (200, pid)  # the same connection, kept alive
    # Five connections at most: the others wait in the listen queue, none is refused.
    held = []
    for _ in range(5):
        slow = connect(server.port)
        slow.send("/sleep?s=1")
        held.append(slow)
    wait_for(lambda: len(marks(app_env, "sleep")) == 5, message="5 requests in the app")
    started = time.monotonic()
    answer = requests.get(server.url + "/", timeout=10, headers={"Connection": "close"})
    waited = time.monotonic() - started
    assert answer.text == "ok" and waited > 0.5, waited  # accepted once one was free
    assert [c.response()[0] for c in held] == [200] * 5


# --- deadlines inside the worker ---------------------------------------------------------


@pytest.mark.parametrize("path,frame", [("/dead-socket?s=30", "read_from_dead_peer"),
                                        ("/sleep?s=30", "app")])
def test_an_overdue_request_gets_504_from_the_worker_and_the_others_carry_on(
        server_factory, app_env, path, frame):
    server = server_factory([*GEVENT, "-t", str(TIMEOUT), "--access-logfile", "-",
                             "geventapp:app"], env=app_env)
    pid = requests.get(server.url + "/pid", timeout=5).text
    result: dict[str, Any] = {}

    def stuck() -> None:
        started = time.monotonic()
        result["answer"] = requests.get(server.url + path, timeout=30)
        result["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=stuck)
    thread.start()
    quick = []
    while thread.is_alive():
        started = time.monotonic()
        assert requests.get(server.url + "/", timeout=5).text == "ok"
        quick.append(time.monotonic() - started)
        time.sleep(0.05)
    thread.join()
    print(f"{path}: 504 after {result['elapsed']:.2f}s (timeout {TIMEOUT}s); "
          f"{len(quick)} other requests meanwhile, slowest {max(quick):.3f}s")
    assert result["answer"].status_code == 504
    assert result["answer"].headers["X-Request-ID"]
    assert TIMEOUT <= result["elapsed"] < TIMEOUT + 0.75, result["elapsed"]
    assert max(quick) < 0.5  # the hub kept turning
    assert requests.get(server.url + "/pid", timeout=5).text == pid  # no restart
    log = wait_for(lambda: "REQUEST TIMEOUT" in server.log() and server.log(), 5,
                   message="the worker's record of the timeout")
    record = log[log.index("REQUEST TIMEOUT"):]
    assert f"in {frame}" in record and "answered 504" in record, record[:2000]
    assert f'"GET {path} HTTP/1.1" 504' in log  # the access log line
    assert "WORKER TIMEOUT" not in log
    assert status(server)["summary"]["timeouts"] == 1


def test_streams_and_uploads_that_flow_outlive_the_timeout(server_factory, app_env):
    timeout = 1.0
    server = server_factory([*GEVENT, "-t", str(timeout), "geventapp:app"], env=app_env)
    # Each lasts twice the timeout, with a chunk every 0.4 timeouts: progress.
    flowing = requests.get(f"{server.url}/trickle?n=5&every={timeout * 0.4}", timeout=30)
    assert flowing.status_code == 200 and flowing.text.endswith("done\n")

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(5):
            time.sleep(timeout * 0.4)
            yield b"x" * 1000

    upload = requests.post(server.url + "/upload", data=chunks(), timeout=30)
    assert upload.text == "5000"
    assert "REQUEST TIMEOUT" not in server.log()
    # A stream that stops is cut at the timeout: no last chunk.
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(b"GET /trickle?n=5&every=0.1&stall_after=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    elapsed = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 200") and b"chunk 1" in received
    assert not received.endswith(b"0\r\n\r\n")
    assert timeout <= elapsed < timeout + 1.0, elapsed
    log = wait_for(lambda: "REQUEST TIMEOUT" in server.log() and server.log(), 5,
                   message="the cut logged")
    assert "its connection was closed" in log


# --- a hub that stops turning ------------------------------------------------------------


@pytest.mark.parametrize("model,frame", [("spin", "spin_in_c_library"),
                                         ("c-recv", "c_recv"),
                                         ("python-spin", "python_spin")])
def test_a_blocked_hub_is_named_then_ended_at_the_deadline(server_factory, app_env, connect,
                                                           model, frame):
    """One worker's hub blocked: LOOP BLOCKED names the call while it blocks; at the
    deadline the master ends that worker: 504 to the stuck request, 503 to the other in
    flight on it, and the other worker's clients see nothing of it."""
    server = server_factory(["-k", "gevent", "-w", "1", "-t", str(TIMEOUT),
                             "--blocked-loop-timeout", "0.5", "geventapp:app"], env=app_env)
    # Both connections on the one worker, then a second worker for everyone else.
    bystander, culprit = connect(server.port), connect(server.port)
    stuck_pid = int(culprit.get("/pid")[1])
    bystander.send("/sleep?s=30&extend=60")  # not overdue itself: it asked for more time
    wait_for(lambda: marks(app_env, "sleep"), message="the bystander in the app")
    server.signal(signal.SIGTTIN)
    wait_for(lambda: len(server.workers()) == 2, message="2 workers")
    server.wait_booted(2)
    answers: dict[str, Any] = {}

    def wait_for_answers() -> None:
        answers["culprit"] = culprit.response()[0]
        answers["at"] = time.monotonic() - sent
        answers["bystander"] = bystander.response()[0]

    sent = time.monotonic()
    culprit.send(f"/{model}?s=30")
    reader = threading.Thread(target=wait_for_answers)
    reader.start()
    blocked = wait_for(lambda: "LOOP BLOCKED" in server.log() and time.monotonic() - sent,
                       5, message="the blocked-hub report")
    failures: list[str] = []
    served = 0
    while reader.is_alive() and served < 2000:
        try:
            answer = requests.get(server.url + "/pid", timeout=10)
            if answer.status_code != 200 or int(answer.text) == stuck_pid:
                failures.append(f"{answer.status_code} {answer.text}")
        except requests.RequestException as exc:
            failures.append(repr(exc))
        served += 1
    reader.join(10)
    culprit_status, answered, bystander_status = (answers["culprit"], answers["at"],
                                                  answers["bystander"])
    print(f"{model}: LOOP BLOCKED {blocked:.2f}s after the request, its 504 at "
          f"{answered:.2f}s (timeout {TIMEOUT}s); {served} other requests, failures: {failures}")
    log = wait_for(lambda: "WORKER TIMEOUT" in server.log() and server.log(), 5,
                   message="the master's record of the timeout")
    report = log[log.index("LOOP BLOCKED"):].split("WORKER TIMEOUT")[0]
    assert frame in report and f"/{model}?s=30" in report, report[:2000]
    assert blocked < 1.2, blocked  # 0.5 s after the last beat (beats every 0.25 s)
    assert culprit_status == 504 and bystander_status == 503
    assert answered < TIMEOUT + 1.0, answered
    assert failures == [], failures[:5]
    wait_for(lambda: len(server.workers()) == 2 and stuck_pid not in server.workers(),
             message="a replacement worker")
    assert status(server)["summary"]["loops_blocked"] >= 1


# --- lifecycle -------------------------------------------------------------------------


def test_term_finishes_requests_in_flight_and_closes_idle_connections(server_factory,
                                                                       app_env, connect):
    server = server_factory([*GEVENT, "--graceful-timeout", "10", "geventapp:app"],
                            env=app_env)
    idle = connect(server.port)
    assert idle.get("/")[0] == 200
    busy = connect(server.port)
    busy.send("/sleep?s=1")
    wait_for(lambda: marks(app_env, "sleep"), message="the request in the app")
    server.signal(signal.SIGTERM)
    assert busy.response()[0] == 200
    assert idle.response() == (0, b"")  # closed cleanly, nothing lost
    assert server.wait_exit(15) == 0


@pytest.mark.parametrize("how", ["hup", "max_requests"])
def test_replacing_workers_fails_no_keepalive_request(server_factory, app_env, how):
    server = server_factory(["-k", "gevent", "-w", "2", *RECYCLE_ARGS[how], "testapp:app"],
                            env=app_env)
    load = recycle_under_load(server, how)
    print(f"gevent {how}:", load.summary())
    assert load.failures == [], load.summary()


def test_idle_keepalive_connections_outlive_their_worker(server_factory, app_env, connect):
    """On HUP the old worker gives its idle connections to the master, which passes
    them to the new one: the next request on each is served there, same socket."""
    server = server_factory([*GEVENT, "--log-level", "debug", "testapp:app"], env=app_env)
    conns = [connect(server.port) for _ in range(5)]
    old = {conn.get("/pid")[1] for conn in conns}
    before = set(server.workers())
    server.signal(signal.SIGHUP)
    wait_for(lambda: len(w := set(server.workers())) == 1 and not w & before, 30,
             message="the new worker alone")
    new = {conn.get("/pid")[1] for conn in conns}
    assert len(old) == len(new) == 1 and old != new
    handed = re.findall(r"Stopping: (\d+) idle connection\(s\) handed to the master",
                        server.log())
    assert sum(map(int, handed)) == 5


HOOKS = '''
import os
def _mark(name):
    with open(os.path.join(os.environ["STUCK_MARK_DIR"], name + "-" + str(os.getpid())), "w"):
        pass
from gevent import events
def _patched(event):
    if isinstance(event, events.GeventDidPatchBuiltinModulesEvent):
        _mark("patched")
events.subscribers.append(_patched)
def post_fork(server, worker):
    import socket
    _mark("post_fork-" + ("patched" if socket.socket.__module__.startswith("gevent") else "plain"))
def post_worker_init(worker):
    _mark("post_worker_init-" + str(worker.worker_connections))
def pre_request(worker, req):
    req.started = req.path
def post_request(worker, req, environ, resp):
    _mark("post_request-" + str(resp.status_code))
def worker_exit(server, worker):
    _mark("worker_exit")
'''


def test_hooks_run_at_gunicorns_moments_around_the_patch(server_factory, app_env, tmp_path):
    config = tmp_path / "gunicorn.conf.py"
    config.write_text(HOOKS)
    server = server_factory(["-c", str(config), *GEVENT, "--worker-connections", "50",
                             "geventapp:app"], env=app_env)
    assert requests.get(server.url + "/", timeout=5).text == "ok"
    # As in Gunicorn: post_fork runs before the patch, post_worker_init after the app.
    for name in ("post_fork-plain", "patched", "post_worker_init-50", "post_request-200"):
        wait_for(lambda n=name: marks(app_env, n), message=name)  # type: ignore[misc]
    server.signal(signal.SIGTERM)
    assert server.wait_exit(15) == 0
    assert marks(app_env, "worker_exit")


@pytest.mark.parametrize("kind", ["sync", "gevent"])
def test_a_config_that_patches_the_master_survives_a_reload(server_factory, app_env, tmp_path,
                                                            kind):
    """Configs written for Gunicorn's gevent worker often call patch_all at their top,
    which patches the master too; --preload with the gevent worker does the same."""
    config = tmp_path / "patched.conf.py"
    config.write_text("from gevent import monkey\nmonkey.patch_all()\n")
    server = server_factory(["-c", str(config), "-k", kind, "-w", "2", "geventapp:app"],
                            env=app_env)
    before = set(server.workers())
    server.signal(signal.SIGHUP)
    wait_for(lambda: len(w := set(server.workers())) == 2 and not w & before, 30,
             message="a new generation")
    for _ in range(10):
        assert requests.get(server.url + "/pid", timeout=5).status_code == 200
    assert "exited unexpectedly" not in server.log()
    _control_socket_and_term_work(server)


def _control_socket_and_term_work(server: Any) -> None:
    """In a patched master the control socket answers (gevent's socket class ignored
    SOCK_NONBLOCK: the first connection hung the master for good) and TERM stops it."""
    for _ in range(2):
        assert len(status(server)["workers"]) == 2
    server.signal(signal.SIGTERM)
    assert server.wait_exit(15) == 0


def test_preload_imports_the_app_patched(server_factory, app_env):
    server = server_factory(["--preload", "-k", "gevent", "-w", "2", "geventapp:app"],
                            env=app_env)
    assert requests.get(server.url + "/patched", timeout=5).text == "yes"
    assert "the master is monkey-patched before the application is imported" in server.log()
    victim = int(requests.get(server.url + "/pid", timeout=5).text)
    import os

    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(w := server.workers()) == 2 and victim not in w, 10,
             message="a replacement")
    assert requests.get(server.url + "/patched", timeout=5).text == "yes"
    _control_socket_and_term_work(server)


@pytest.mark.parametrize("name", ["gevent_pywsgi", "gunicorn.workers.ggevent.GeventWorker"])
def test_gunicorns_gevent_names_start_the_gevent_worker(server_factory, app_env, name):
    server = server_factory(["-k", name, "-w", "1", "geventapp:app"], env=app_env)
    assert requests.get(server.url + "/patched", timeout=5).text == "yes"
    assert ("is served by workhorse's gevent worker" in server.log()) == (name == "gevent_pywsgi")


def test_idle_and_stalled_connections_are_closed(server_factory, app_env, connect):
    server = server_factory([*GEVENT, "--keep-alive", "0.5", "--header-timeout", "1",
                             "geventapp:app"], env=app_env)
    idle = connect(server.port)
    assert idle.get("/")[0] == 200
    started = time.monotonic()
    assert idle.sock.recv(10) == b""  # closed after keepalive
    assert 0.4 < time.monotonic() - started < 1.5
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as stalled:
        stalled.sendall(b"GET / HTTP/1.1\r\nHost:")
        started = time.monotonic()
        answer = stalled.recv(100)
    assert answer.startswith(b"HTTP/1.1 408") and 0.9 < time.monotonic() - started < 2.0


def test_tls(server_factory, app_env, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = server_factory([*GEVENT, "--certfile", str(cert), "--keyfile", str(key),
                             "geventapp:app"], env=app_env, wait=False)
    import ssl

    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False

    def get(path: str, count: int = 1) -> list[bytes]:
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw, \
                    context.wrap_socket(raw, server_hostname="localhost") as sock:
                answers = []
                for _ in range(count):  # keep-alive over TLS
                    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                    data = sock.recv(65536)
                    answers.append(data)
                return answers
        except OSError:
            return []

    wait_for(lambda: get("/") and get("/")[0].startswith(b"HTTP/1.1 200"), 15,
             message="a TLS answer")
    assert [a.rpartition(b"\r\n")[2] for a in get("/patched", 3)] == [b"yes"] * 3
