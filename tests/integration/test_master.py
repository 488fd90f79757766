"""The master's life: signals with Gunicorn's meanings, preload, recycling."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest
import requests

from support import alive, children_of, wait_for


def get(server, path: str = "/", timeout: float = 5) -> requests.Response:
    return requests.get(server.url + path, timeout=timeout)


def in_app(tmp_path, count: int = 1) -> bool:
    return len(list(tmp_path.glob("sleep-*"))) >= count


def test_term_lets_in_flight_request_finish(server_factory, tmp_path):
    server = server_factory(["-w", "1", "--graceful-timeout", "10", "testapp:app"],
                            env={"TESTAPP_MARK_DIR": str(tmp_path)})
    result: dict[str, object] = {}

    def slow() -> None:
        result["response"] = get(server, "/sleep?s=1.5", timeout=10)

    thread = threading.Thread(target=slow)
    thread.start()
    wait_for(lambda: in_app(tmp_path), 5, message="the slow request to reach the app")
    server.signal(signal.SIGTERM)
    thread.join(10)
    assert result["response"].status_code == 200  # type: ignore[union-attr]
    assert server.wait_exit(10) == 0


def test_int_stops_quickly(server_factory):
    server = server_factory(["-w", "2", "testapp:app"])
    workers = wait_for(lambda: len(server.workers()) == 2 and server.workers())
    server.signal(signal.SIGINT)
    assert server.wait_exit(10) == 0
    wait_for(lambda: not any(alive(p) for p in workers), message="workers gone")


def test_ttin_ttou(server_factory):
    server = server_factory(["-w", "2", "testapp:app"])
    wait_for(lambda: len(server.workers()) == 2, message="2 workers")
    server.signal(signal.SIGTTIN)
    wait_for(lambda: len(server.workers()) == 3, message="3 workers after TTIN")
    server.signal(signal.SIGTTOU)
    wait_for(lambda: len(server.workers()) == 2, message="2 workers after TTOU")


def test_hup_replaces_every_worker(server_factory):
    server = server_factory(["-w", "2", "testapp:app"])
    before = set(wait_for(lambda: len(server.workers()) == 2 and server.workers()))
    server.signal(signal.SIGHUP)
    wait_for(lambda: (set(server.workers()) & before) == set() and len(server.workers()) == 2,
             15, message="all workers replaced")
    assert get(server).status_code == 200


def test_hup_under_load_fails_no_request(server_factory):
    server = server_factory(["-w", "2", "testapp:app"])
    before = set(wait_for(lambda: len(server.workers()) == 2 and server.workers()))
    failures: list[str] = []
    done = threading.Event()
    count = [0]

    def load() -> None:
        session = requests.Session()
        while not done.is_set():
            try:
                if session.get(server.url + "/", timeout=5).status_code != 200:
                    failures.append("status")
            except requests.RequestException as exc:
                failures.append(repr(exc))
            count[0] += 1

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: count[0] > 20, message="load running")
        server.signal(signal.SIGHUP)
        wait_for(lambda: not (set(server.workers()) & before) and len(server.workers()) == 2,
                 15, message="rolling reload done")
        server.signal(signal.SIGHUP)
        mark = count[0]
        wait_for(lambda: count[0] > mark + 50, message="more requests after the second HUP")
    finally:
        done.set()
        for thread in threads:
            thread.join(10)
    assert failures == []


def test_worker_killed_from_outside_is_replaced(server_factory):
    server = server_factory(["-w", "2", "testapp:app"])
    workers = wait_for(lambda: len(server.workers()) == 2 and server.workers())
    os.kill(workers[0], signal.SIGKILL)
    wait_for(lambda: len(server.workers()) == 2 and workers[0] not in server.workers(),
             message="a replacement worker")
    wait_for(lambda: "SIGKILL" in server.log(), message="the kill reported")
    assert get(server).status_code == 200


def test_max_requests_recycles(server_factory):
    server = server_factory(["-w", "1", "--max-requests", "5", "testapp:app"])
    pids = set()
    for _ in range(12):
        pids.add(get(server, "/pid").text)
    assert len(pids) >= 2
    wait_for(lambda: "Autorestarting worker" in server.log(), message="restart logged")


def test_usr1_reopens_log_files(server_factory, tmp_path):
    access = tmp_path / "access.log"
    server = server_factory(["--access-logfile", str(access), "testapp:app"])
    get(server)
    wait_for(lambda: access.exists() and access.read_text().count("GET /") >= 1)
    rotated = tmp_path / "access.log.1"
    access.rename(rotated)
    server.signal(signal.SIGUSR1)
    # Requests keep going to the rotated file until each process reopens it;
    # poll until a new request lands in a new file.
    wait_for(lambda: get(server, "/?after") and access.exists()
             and "GET /?after" in access.read_text(), message="a new access.log")


def test_preload_loads_once_in_master(server_factory, tmp_path):
    marker = tmp_path / "imports"
    app = tmp_path / "countimport.py"
    app.write_text(
        "import os\n"
        f"with open({str(marker)!r}, 'a') as f: f.write(str(os.getpid()) + '\\n')\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [])\n"
        "    return [b'ok']\n")
    server = server_factory(["--preload", "-w", "2", "countimport:app"], cwd=tmp_path)
    assert get(server).text == "ok"
    assert marker.read_text().split() == [str(server.pid)]


def test_preload_import_error_exits_with_traceback(server_factory):
    server = server_factory(["--preload", "broken_import:app"], wait=False)
    assert server.wait_exit(20) == 4
    log = server.log()
    assert "simulated: cannot import name" in log
    assert "Traceback" in log


def test_workers_exit_when_master_dies(server_factory):
    server = server_factory(["-w", "2", "testapp:app"])
    workers = wait_for(lambda: len(server.workers()) == 2 and server.workers())
    server.signal(signal.SIGKILL)
    server.wait_exit(5)
    wait_for(lambda: not any(alive(p) for p in workers), 10, message="orphaned workers to exit")


def live_children(pid: int) -> list[int]:
    return [p for p in children_of(pid) if alive(p)]


def test_usr2_winch_term_upgrade_without_refusal(server_factory, tmp_path):
    pidfile = tmp_path / "wh.pid"
    server = server_factory(["-w", "2", "-p", str(pidfile), "testapp:app"])
    old_pid = server.pid
    failures: list[str] = []
    done = threading.Event()

    def load() -> None:
        while not done.is_set():
            try:
                with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                    sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    if not sock.recv(100).startswith(b"HTTP/1.1 200"):
                        failures.append("bad answer")
            except OSError as exc:
                failures.append(repr(exc))

    def new_master() -> int:
        pid = int(pidfile.read_text() or 0) if pidfile.exists() else 0
        return pid if pid not in (0, old_pid) else 0

    thread = threading.Thread(target=load)
    thread.start()
    new_pid = 0
    try:
        server.signal(signal.SIGUSR2)
        wait_for((tmp_path / "wh.pid.oldbin").exists, 15, message="the .oldbin pidfile")
        new_pid = wait_for(new_master, 15, message="the new pidfile")
        server.seen_pids.add(new_pid)
        wait_for(lambda: len(live_children(new_pid)) >= 2, 20, message="new workers")
        server.signal(signal.SIGWINCH)
        wait_for(lambda: live_children(old_pid) == [new_pid], 15, message="old workers gone")
        server.signal(signal.SIGTERM)
        server.wait_exit(15)
        wait_for(lambda: pidfile.exists() and int(pidfile.read_text() or 0) == new_pid, 10,
                 message="the new master owning the pidfile")
    finally:
        done.set()
        thread.join(10)
        if new_pid:
            server.seen_pids.update(children_of(new_pid))
            os.kill(new_pid, signal.SIGTERM)
            wait_for(lambda: not alive(new_pid), 15, message="new master stopped")
    assert failures == []


@pytest.mark.parametrize("kind", ["sync", "gthread"])
def test_start_and_stop_leave_no_process(server_factory, kind):
    server = server_factory(["-k", kind, "-w", "3", "testapp:app"])
    workers = wait_for(lambda: len(server.workers()) == 3 and server.workers())
    server.signal(signal.SIGTERM)
    assert server.wait_exit(15) == 0
    wait_for(lambda: not any(alive(p) for p in workers))


def test_graceful_timeout_kills_stragglers(server_factory, tmp_path):
    server = server_factory(["-w", "1", "--graceful-timeout", "1", "-t", "60",
                             "testapp:app"], env={"TESTAPP_MARK_DIR": str(tmp_path)})
    thread = threading.Thread(target=lambda: _ignore(lambda: get(server, "/sleep?s=30", 40)))
    thread.start()
    worker = wait_for(lambda: server.workers() and server.workers()[0])
    wait_for(lambda: in_app(tmp_path), message="the slow request to reach the app")
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    server.wait_exit(15)
    assert time.monotonic() - started < 10
    wait_for(lambda: not alive(worker))
    thread.join(45)


def _ignore(fn) -> None:
    try:
        fn()
    except Exception:
        pass
