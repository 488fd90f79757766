"""Stopping, failing and overload without losing or stranding requests (one instance).

- TERM with ``shutdown_delay``: /readyz says 503 at once, requests keep being
  served for the delay, then the graceful stop;
- TERM: connections already waiting in the listen queue are served, not reset;
- no worker able to boot: waiting clients get a quick 503 with Retry-After
  from the master, /readyz is 503, /healthz turns 503 after
  ``boot_failure_unhealthy_after``, ``max_boot_failures`` exits with code 3;
- ``max_queue_time``: a request that waited too long is answered 503 unrun,
  and under overload the requests that are served stay fast.
"""

from __future__ import annotations

import select
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
import requests

from support import free_port, wait_for

KINDS = {"sync": ["-k", "sync"], "gthread": ["-k", "gthread", "--threads", "2"],
         "gthread1": ["-k", "gthread", "--threads", "1"], "asgi": ["-k", "asgi"]}
APPS = {"sync": "testapp:app", "gthread": "testapp:app", "gthread1": "testapp:app",
        "asgi": "asgiapp:app"}


def get_status(url: str, timeout: float = 5) -> int:
    try:
        return requests.get(url, timeout=timeout).status_code
    except requests.RequestException:
        return 0


# --- shutdown_delay -------------------------------------------------------------------


def test_term_with_a_shutdown_delay_keeps_serving_but_says_not_ready(server_factory):
    metrics = free_port()
    server = server_factory(["-w", "1", "--shutdown-delay", "2", "--metrics-bind",
                             f"127.0.0.1:{metrics}", "testapp:app"])
    ready = f"http://127.0.0.1:{metrics}/readyz"
    wait_for(lambda: get_status(ready) == 200, message="/readyz 200")
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    wait_for(lambda: get_status(ready) == 503, 2, message="/readyz 503 at once")
    assert time.monotonic() - started < 1.0
    served = 0
    while time.monotonic() - started < 1.5:  # well within the delay
        assert requests.get(server.url + "/", timeout=5).status_code == 200
        served += 1
    assert server.wait_exit(15) == 0
    elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 6.0, elapsed
    assert served > 5 and "Stopping in 2s (shutdown_delay)" in server.log()


# --- the listen queue on TERM ---------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_term_serves_the_connections_waiting_in_the_listen_queue(server_factory, kind,
                                                                 stuck_env, tmp_path: Path):
    """One worker busy with a slow request; more requests wait in the kernel's
    accept queue; TERM: every one of them is answered, none reset."""
    marks = tmp_path / "asgi-marks"
    marks.mkdir()
    env = {**stuck_env, "TESTAPP_MARK_DIR": str(tmp_path), "ASGIAPP_MARK_DIR": str(marks)}
    threads = ["--threads", "1"] if kind == "gthread" else []
    server = server_factory([*KINDS[kind], "-w", "1", *threads, APPS[kind]], env=env)
    results: list[bytes] = []
    lock = threading.Lock()

    def ask(path: str) -> None:
        data = b""
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                             .encode())
                while chunk := sock.recv(65536):
                    data += chunk
        except OSError as exc:
            data = f"error {exc!r}".encode()
        with lock:
            results.append(data)

    slow = threading.Thread(target=ask, args=("/sleep?s=1.5",))
    slow.start()
    wait_for(lambda: any(tmp_path.glob("sleep-*")) or any(marks.glob("sleep-*")),
             message="the slow request in the app")
    waiting = [threading.Thread(target=ask, args=("/",)) for _ in range(6)]
    for thread in waiting:
        thread.start()
    time.sleep(0.3)  # pacing: let the six connect (they queue behind the slow one)
    server.signal(signal.SIGTERM)
    for thread in [slow, *waiting]:
        thread.join(20)
    assert server.wait_exit(20) == 0
    statuses = [r.split(b" ", 2)[1] if r.startswith(b"HTTP/1.1") else r[:60] for r in results]
    assert statuses == [b"200"] * 7, statuses


# --- when no worker can boot -----------------------------------------------------------


def test_no_worker_able_to_boot_gives_quick_503s_and_unhealthy_then_exit(server_factory):
    metrics = free_port()
    server = server_factory(["-w", "1", "--metrics-bind", f"127.0.0.1:{metrics}",
                             "--boot-failure-unhealthy-after", "2", "--max-boot-failures", "4",
                             "broken_import:app"], wait=False)
    base = f"http://127.0.0.1:{metrics}"
    wait_for(lambda: "failed to boot" in server.log(), 10, message="a failed boot")
    started = time.monotonic()
    answer = requests.get(server.url + "/", timeout=10)
    assert time.monotonic() - started < 2.0  # not left to a proxy's timeout
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) >= 1
    assert "fail to start" in answer.text
    assert get_status(base + "/readyz") == 503
    assert get_status(base + "/healthz") == 200  # not yet: only 2 s without any worker
    wait_for(lambda: get_status(base + "/healthz") == 503, 10,
             message="/healthz 503 after boot_failure_unhealthy_after")
    # 1 + 2 + 4 s of backoff: the fourth failure ends the master with Gunicorn's code.
    assert server.wait_exit(20) == 3
    assert "4 workers failed to boot in a row (max_boot_failures)" in server.log()


def test_the_masters_503_waits_for_the_request_it_answers(server_factory):
    """A proxy connects, then writes: answering (and closing) before the request
    arrived made the kernel reset the connection under the 503."""
    server = server_factory(["-w", "1", "broken_import:app"], wait=False)
    wait_for(lambda: "failed to boot" in server.log(), 10, message="a failed boot")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        # Nothing is said to a connection that has asked nothing yet.
        readable, _, _ = select.select([sock], [], [], 0.3)
        assert readable == []
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    assert answer.startswith(b"HTTP/1.1 503 ") and b"Retry-After: " in answer


# --- max_queue_time ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_request_that_waited_too_long_is_shed_unrun(server_factory, kind, stuck_env,
                                                      tmp_path: Path):
    metrics = free_port()
    marks = tmp_path / "asgi-marks"
    marks.mkdir()
    env = {**stuck_env, "TESTAPP_MARK_DIR": str(tmp_path), "ASGIAPP_MARK_DIR": str(marks)}
    server = server_factory([*KINDS[kind], "-w", "1", "--max-queue-time", "1",
                             "--metrics-bind", f"127.0.0.1:{metrics}",
                             "--access-logfile", "-", APPS[kind]], env=env)
    stale = f"t={int((time.time() - 3) * 1000)}"  # ms since the epoch: 3 s ago
    fresh = f"t={int(time.time() * 1000)}"
    shed = requests.get(server.url + "/sleep?s=0.01", headers={"X-Request-Start": stale},
                        timeout=5)
    assert shed.status_code == 503 and shed.headers["Retry-After"] == "1"
    assert "max_queue_time" in shed.text
    assert not any(tmp_path.glob("sleep-*")) and not any(marks.glob("sleep-*"))  # unrun
    ok = requests.get(server.url + "/sleep?s=0.01", headers={"X-Request-Start": fresh},
                      timeout=5)
    assert ok.status_code == 200
    metrics_text = requests.get(f"http://127.0.0.1:{metrics}/metrics", timeout=5).text
    assert "workhorse_shed_total 1" in metrics_text
    wait_for(lambda: '"GET /sleep?s=0.01 HTTP/1.1" 503' in server.log(),
             message="the shed request in the access log")


@pytest.mark.slow
def test_under_overload_shedding_keeps_the_served_requests_fast(server_factory):
    """Arrivals at twice the capacity for 8 s (open loop, each request stamped with
    its send time as a proxy would): served requests stay under max_queue_time
    plus their service time, the rest are shed at once."""
    limit, service = 0.5, 0.1
    server = server_factory(["-k", "sync", "-w", "1", "--max-queue-time", str(limit),
                             "--backlog", "512", "testapp:app"])
    rate, seconds = 2 / service, 8.0  # twice what one worker serves
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        sent = time.time()
        headers = {"X-Request-Start": f"t={int(sent * 1e6)}"}  # microseconds
        try:
            answer = requests.get(server.url + f"/sleep?s={service}", headers=headers,
                                  timeout=30)
            status = answer.status_code
        except requests.RequestException:
            status = 0
        with lock:
            statuses.append(status)
            if status == 200:
                latencies.append(time.time() - sent)

    threads = []
    start = time.monotonic()
    for index in range(int(rate * seconds)):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the arrivals (open loop), not a synchronisation
        thread = threading.Thread(target=one)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(40)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else 0.0
    served, shed = statuses.count(200), statuses.count(503)
    print(f"overload: {len(statuses)} sent, {served} served (p99 {p99:.3f}s), {shed} shed, "
          f"{len(statuses) - served - shed} other")
    assert served + shed == len(statuses)
    assert served >= seconds / service * 0.6  # the worker kept serving at capacity
    assert shed > 0
    assert p99 < limit + service + 0.3, p99
