"""Never lose control of a worker: deadlines, stack dumps, 504s, boot safety.

The stuck models (tests/apps/stuckapp.py) are real: a C loop holding the GIL
that no Python signal handler interrupts, and a C recv() on a dead peer that
retries on EINTR. Each test measures from the moment the stuck request was
sent, polls with deadlines, and checks what the client got.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
import requests

from support import alive, wait_for

TIMEOUT = 2.0
KINDS = {"sync": ["-k", "sync"], "gthread": ["-k", "gthread", "--threads", "2"],
         "gthread1": ["-k", "gthread", "--threads", "1"]}
FRAMES = {"spin": "spin_in_c_library", "block": "query_dead_database", "sleep": "app"}


class Traffic:
    """Steady requests to a fast endpoint in the background; records failures."""

    def __init__(self, url: str, rate: float = 40.0) -> None:
        self.url = url
        self.interval = 1.0 / rate
        self.failures: list[str] = []
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                response = session.get(self.url, timeout=10)
                if response.status_code != 200:
                    self.failures.append(f"status {response.status_code}")
            except requests.RequestException as exc:
                self.failures.append(repr(exc))
            self.count += 1
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)


def stuck_request(port: int, path: str, timeout: float = 20.0) -> tuple[bytes, float]:
    """Send one request and return (everything received, seconds until the answer)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
    return data, time.monotonic() - started


def marks(env: dict[str, str], kind: str) -> list[int]:
    return [int(p.read_text() or 0) for p in Path(env["STUCK_MARK_DIR"]).glob(f"{kind}-*")]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("model", ["spin", "block"])
def test_stuck_worker_is_killed_answered_504_and_its_stack_logged(server_factory, stuck_env,
                                                                 kind, model):
    server = server_factory([*KINDS[kind], "-w", "2", "-t", str(TIMEOUT), "stuckapp:app"],
                            env=stuck_env)
    with Traffic(server.url + "/ok") as traffic:
        wait_for(lambda: traffic.count > 5, message="traffic flowing")
        answer, elapsed = stuck_request(server.port, f"/{model}?s=60")
        stuck_pid = marks(stuck_env, model)[0]
        wait_for(lambda: not alive(stuck_pid), 5, message="the stuck worker gone")
        wait_for(lambda: len(server.workers()) == 2, 10, message="a replacement worker")
        mark = traffic.count
        wait_for(lambda: traffic.count > mark + 5, message="traffic after the kill")
    assert answer.startswith(b"HTTP/1.1 504 Gateway Timeout\r\n")
    assert b"Connection: close" in answer
    assert b"X-Request-ID:" in answer
    assert TIMEOUT <= elapsed < TIMEOUT + 1.0, elapsed
    assert traffic.failures == []
    log = wait_for(lambda: "WORKER TIMEOUT" in server.log() and server.log())
    assert f"'GET /{model}?s=60 HTTP/1.1'" in log
    assert FRAMES[model] in log  # the Python frame that called into C
    assert "its client was answered 504" in log
    gone = float(re.search(r"worker gone (\d+\.\d+)s after the deadline", log).group(1))
    assert gone < 1.0


@pytest.mark.parametrize("kind", KINDS)
def test_stopped_worker_is_killed(server_factory, stuck_env, kind):
    server = server_factory([*KINDS[kind], "-w", "1", "-t", str(TIMEOUT), "stuckapp:app"],
                            env=stuck_env)
    result: dict[str, tuple[bytes, float]] = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("r", stuck_request(server.port, "/sleep?s=1.5")))
    thread.start()
    pid = wait_for(lambda: marks(stuck_env, "sleep"), message="the request in the app")[0]
    os.kill(pid, signal.SIGSTOP)
    thread.join(20)
    answer, elapsed = result["r"]
    assert answer.startswith(b"HTTP/1.1 504")
    assert elapsed < TIMEOUT + 1.0
    wait_for(lambda: not alive(pid), message="the stopped worker gone")


def test_all_workers_stuck_service_comes_back(server_factory, stuck_env):
    server = server_factory(["-w", "2", "-t", str(TIMEOUT), "stuckapp:app"], env=stuck_env)
    results: list[tuple[bytes, float]] = []
    threads = [threading.Thread(target=lambda: results.append(
        stuck_request(server.port, "/spin?s=60"))) for _ in range(2)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(marks(stuck_env, "spin")) == 2, message="both workers stuck")
    all_stuck_at = time.monotonic()
    # While both are stuck, a fast request waits in the backlog and is served
    # by a replacement worker.
    fast = requests.get(server.url + "/ok", timeout=20)
    back_after = time.monotonic() - all_stuck_at
    for thread in threads:
        thread.join(20)
    assert fast.status_code == 200
    assert back_after < TIMEOUT + 2.0
    assert [r[0][:30] for r in results] == [b"HTTP/1.1 504 Gateway Timeout\r\n"] * 2


def test_gthread_a_stuck_request_costs_only_itself(server_factory, stuck_env):
    """The stuck call let go of the GIL (a hung database): its client gets the 504 at
    the deadline, the request beside it finishes normally, new ones go elsewhere."""
    server = server_factory(["-k", "gthread", "--threads", "2", "-w", "1", "-t", str(TIMEOUT),
                             "stuckapp:app"], env=stuck_env)
    results: dict[str, tuple[bytes, float]] = {}
    stuck = threading.Thread(
        target=lambda: results.setdefault("stuck", stuck_request(server.port, "/block?s=60")))
    stuck.start()
    wait_for(lambda: marks(stuck_env, "block"), message="the stuck request")
    bystander = threading.Thread(target=lambda: results.setdefault(
        "slow", stuck_request(server.port, f"/sleep?s={TIMEOUT + 1}")))
    bystander.start()
    wait_for(lambda: marks(stuck_env, "sleep"), message="the bystander request")
    stuck.join(20)
    assert results["stuck"][0].startswith(b"HTTP/1.1 504")
    assert results["stuck"][1] < TIMEOUT + 1.0, results["stuck"][1]  # at the deadline
    # Meanwhile new requests are served (by the replacement).
    assert requests.get(server.url + "/ok", timeout=10).status_code == 200
    bystander.join(20)
    assert results["slow"][0].startswith(b"HTTP/1.1 200"), results["slow"][0][:60]
    wait_for(lambda: "its other requests finished before it was replaced" in server.log(),
             message="the partial termination logged")
    assert "query_dead_database" in server.log()  # the stack still logged


def test_gthread_bystanders_of_a_frozen_worker_get_503(server_factory, stuck_env):
    """The stuck call holds the GIL: the whole worker is frozen, so the request
    beside it cannot finish: it gets a 503 (retry) when the worker is ended."""
    # Both requests must be in the worker when the first deadline passes: a
    # longer timeout than the other tests' leaves room for a loaded machine.
    timeout = 2 * TIMEOUT
    server = server_factory(["-k", "gthread", "--threads", "2", "-w", "1", "-t", str(timeout),
                             "stuckapp:app"], env=stuck_env)
    results: dict[str, tuple[bytes, float]] = {}
    bystander = threading.Thread(
        target=lambda: results.setdefault("slow", stuck_request(server.port, "/sleep?s=30")))
    bystander.start()
    wait_for(lambda: marks(stuck_env, "sleep"), message="the bystander request")
    # Its deadline well after the bystander's: even a master that looks late
    # finds the bystander the one past its deadline.
    stuck = threading.Thread(
        target=lambda: results.setdefault("stuck",
                                          stuck_request(server.port, "/spin?s=60&extend=30")))
    stuck.start()
    wait_for(lambda: marks(stuck_env, "spin"), timeout, message="the stuck request in the app")
    stuck.join(30)
    bystander.join(30)
    assert results["slow"][0].startswith(b"HTTP/1.1 504")  # the first past its deadline
    assert results["stuck"][0].startswith(b"HTTP/1.1 503 Service Unavailable")
    assert b"Retry-After: 1" in results["stuck"][0]
    wait_for(lambda: "1 other request(s) in flight answered 503" in server.log())


def test_python_stuck_worker_runs_worker_abort_hook(server_factory, stuck_env, tmp_path):
    config = tmp_path / "abort.conf.py"
    marker = tmp_path / "aborted"
    config.write_text(f"def worker_abort(worker):\n    open({str(marker)!r}, 'w').write('x')\n")
    server = server_factory(["-c", str(config), "-w", "1", "-t", str(TIMEOUT), "stuckapp:app"],
                            env=stuck_env)
    answer, _ = stuck_request(server.port, "/sleep?s=30")
    assert answer.startswith(b"HTTP/1.1 504")
    wait_for(marker.exists, message="worker_abort ran")


@pytest.mark.slow
def test_an_app_can_extend_its_request_deadline(server_factory, stuck_env):
    """environ["workhorse.extend_deadline"](seconds) moves this request's deadline
    (one live check: both worker kinds take it from the same handler)."""
    server = server_factory(["-w", "1", "-k", "gthread", "-t", str(TIMEOUT), "stuckapp:app"],
                            env=stuck_env)
    pid = requests.get(server.url + "/pid", timeout=5).text
    slept = requests.get(server.url + f"/sleep?s={TIMEOUT + 1.5}&extend=30", timeout=20)
    assert (slept.status_code, slept.text) == (200, "ok")
    assert requests.get(server.url + "/pid", timeout=5).text == pid
    assert "WORKER TIMEOUT" not in server.log()
    # Without it the same request is past its deadline: a 504.
    answer, _ = stuck_request(server.port, f"/sleep?s={TIMEOUT + 1.5}")
    assert answer.startswith(b"HTTP/1.1 504")


@pytest.mark.slow
def test_request_finishing_before_deadline_is_never_killed(server_factory, stuck_env):
    server = server_factory(["-w", "1", "-t", str(TIMEOUT), "stuckapp:app"], env=stuck_env)
    pid = requests.get(server.url + "/pid", timeout=5).text
    assert requests.get(server.url + "/sleep?s=1.2", timeout=10).status_code == 200
    # An idle worker is never killed for being idle either.
    deadline = time.monotonic() + TIMEOUT * 2
    while time.monotonic() < deadline:
        assert requests.get(server.url + "/pid", timeout=5).text == pid
        time.sleep(0.2)  # pacing the probe, not synchronizing
    assert "WORKER TIMEOUT" not in server.log()


def test_slow_import_is_not_killed_by_the_request_timeout(server_factory, tmp_path):
    app = tmp_path / "slowimport.py"
    app.write_text("import time\ntime.sleep(3)\n"
                   "def app(environ, start_response):\n"
                   "    start_response('200 OK', [])\n    return [b'booted']\n")
    server = server_factory(["-w", "1", "-t", "1", "slowimport:app"], cwd=tmp_path, wait=False)
    server.wait_ready(20)
    assert requests.get(server.url + "/", timeout=5).text == "booted"
    assert "TIMEOUT" not in server.log()


def test_hung_import_hits_boot_timeout_with_stack(server_factory, tmp_path):
    app = tmp_path / "hungimport.py"
    app.write_text("import time\n\ndef connect_to_database():\n    time.sleep(600)\n\n"
                   "connect_to_database()\n")
    server = server_factory(["-w", "1", "--boot-timeout", "1.5", "hungimport:app"],
                            cwd=tmp_path, wait=False)
    log = wait_for(lambda: "WORKER BOOT TIMEOUT" in server.log() and server.log(), 15)
    assert "connect_to_database" in log
    wait_for(lambda: "next attempt in" in server.log(), message="backoff after a boot timeout")


def count_spawns(log: str) -> int:
    return log.count("Booting worker with pid") + log.count("failed to load the application")


@pytest.mark.slow
def test_failing_boot_backs_off_instead_of_storming(server_factory):
    server = server_factory(["-w", "2", "broken_import:app"], wait=False)
    started = time.monotonic()
    wait_for(lambda: "next attempt in 8s" in server.log(), 20, message="the fourth failure")
    elapsed = time.monotonic() - started
    failures = server.log().count("failed to load the application")
    # Both workers fail at once (1 s, then 2 s), then one probe at a time
    # (4 s, 8 s): four attempts in about six seconds, where a storm would
    # have made dozens.
    assert failures == 4, failures
    assert elapsed >= 5.5, elapsed
    assert server.proc is not None and server.proc.poll() is None


def test_broken_deploy_on_hup_keeps_old_workers_serving(server_factory, tmp_path):
    app = tmp_path / "deployed.py"
    app.write_text("def app(environ, start_response):\n"
                   "    start_response('200 OK', [])\n    return [b'v1']\n")
    server = server_factory(["-w", "2", "deployed:app"], cwd=tmp_path)
    server.wait_booted(2)
    old = set(wait_for(lambda: len(server.workers()) == 2 and server.workers()))
    app.write_text("raise ImportError('v2 is broken')\n")
    with Traffic(server.url + "/") as traffic:
        server.signal(signal.SIGHUP)
        wait_for(lambda: server.log().count("v2 is broken") >= 2, 15, message="failed boots")
        mark = traffic.count
        wait_for(lambda: traffic.count > mark + 10, message="traffic during the broken deploy")
    assert traffic.failures == []
    assert old <= set(server.workers())  # the old generation is still serving
    app.write_text("def app(environ, start_response):\n"
                   "    start_response('200 OK', [])\n    return [b'v3']\n")
    wait_for(lambda: requests.get(server.url + "/", timeout=5).text == "v3"
             and not (old & set(server.workers())), 20, message="v3 rolled out")


def test_memory_ceiling_replaces_worker_after_its_request(server_factory, stuck_env):
    server = server_factory(["-w", "1", "--max-worker-memory", "150M", "stuckapp:app"],
                            env=stuck_env)
    pid = requests.get(server.url + "/pid", timeout=5).text
    assert requests.get(server.url + "/grow?mb=200", timeout=10).status_code == 200
    wait_for(lambda: requests.get(server.url + "/pid", timeout=5).text != pid, 15,
             message="a new worker")
    log = server.log()
    assert re.search(r"uses \d+ MiB RSS, over max_worker_memory \(150 MiB\)", log)


@pytest.mark.parametrize("action", ["max_requests", "ttou"])
def test_recycling_under_load_fails_nothing(server_factory, stuck_env, action):
    args = ["-w", "2", "stuckapp:app"]
    if action == "max_requests":
        args = ["--max-requests", "20", *args]
    server = server_factory(args, env=stuck_env)
    with Traffic(server.url + "/ok", rate=80) as traffic:
        if action == "ttou":
            server.signal(signal.SIGTTIN)
            wait_for(lambda: len(server.workers()) == 3)
            server.signal(signal.SIGTTOU)
            wait_for(lambda: len(server.workers()) == 2)
        wait_for(lambda: traffic.count > 150, 20, message="enough traffic")
    assert traffic.failures == []


@pytest.mark.parametrize("hang", ["python", "c"])
def test_a_worker_hung_in_its_import_does_not_hold_up_a_stop(server_factory, stuck_env,
                                                            tmp_path, hang):
    """TERM while the only worker hangs importing the app: the master exits in
    seconds, not graceful_timeout (a Python hang leaves at once; a C one is
    killed after a short grace)."""
    marker = tmp_path / "importing"
    # The marker is written just before the hang, so TERM finds the worker in it.
    setup, call = (("", "time.sleep(600)") if hang == "python" else (
        "import ctypes, socket\n"
        "listener = socket.socket(); listener.bind(('127.0.0.1', 0)); listener.listen(1)\n"
        "peer = socket.create_connection(listener.getsockname())\n"
        "block_recv = ctypes.CDLL(os.environ['STUCK_LIB']).block_recv\n",
        "block_recv(peer.fileno())"))
    (tmp_path / "hangs.py").write_text(
        f"import os, time\n{setup}open({str(marker)!r}, 'w').close()\n{call}\n")
    server = server_factory(["-w", "1", "--graceful-timeout", "30", "hangs:app"],
                            cwd=tmp_path, env=stuck_env, wait=False)
    wait_for(marker.exists, 15, message="the worker importing the app")
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    assert server.wait_exit(15) == 0
    elapsed = time.monotonic() - started
    assert elapsed < 10, elapsed
    if hang == "c":
        assert "it was still booting" in server.log()


# --- a deadline that means stuck, not long ---------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_stream_that_flows_outlives_the_timeout_and_one_that_stops_does_not(
        server_factory, stuck_env, kind):
    server = server_factory([*KINDS[kind], "-w", "1", "-t", str(TIMEOUT), "stuckapp:app"],
                            env=stuck_env)
    every = TIMEOUT / 4
    flowing = requests.get(server.url + f"/trickle?n=12&every={every}", timeout=30)
    assert flowing.status_code == 200 and flowing.text.endswith("done\n")  # 3 s > timeout
    assert "WORKER TIMEOUT" not in server.log()
    started = time.monotonic()
    stalled, _ = stuck_request(server.port, "/trickle?n=12&every=0.1&stall_after=2")
    elapsed = time.monotonic() - started
    assert stalled.startswith(b"HTTP/1.1 200") and b"chunk 1" in stalled
    assert not stalled.endswith(b"0\r\n\r\n")  # cut: the client sees it is incomplete
    assert TIMEOUT < elapsed < TIMEOUT + 2.5, elapsed
    wait_for(lambda: "WORKER TIMEOUT" in server.log() and "in chunks" in server.log(),
             message="the stalled stream's stack logged")


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_upload_that_flows_outlives_the_timeout(server_factory, stuck_env, kind):
    server = server_factory([*KINDS[kind], "-w", "1", "-t", str(TIMEOUT), "stuckapp:app"],
                            env=stuck_env)

    def slow_body():
        for _ in range(10):
            yield b"u" * 1000
            time.sleep(TIMEOUT / 4)  # pacing the upload: 2.5 timeouts in all

    answer = requests.post(server.url + "/upload", data=slow_body(), timeout=30)
    assert (answer.status_code, answer.text) == (200, "10000")
    assert "WORKER TIMEOUT" not in server.log()
