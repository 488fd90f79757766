"""The warmup setting: requests in the master before the fork, and what it refuses to share."""

from __future__ import annotations

import requests

from support import wait_for


def test_what_the_warmup_learns_is_built_in_the_master(server_factory):
    server = server_factory(["--preload", "-w", "2", "--warmup", "/learn", "warmapp:app"])
    server.wait_booted(2)
    pid, host = requests.get(server.url + "/learned", timeout=5).text.split()
    assert int(pid) == server.pid  # built before the fork, inherited by the workers
    assert host == f"127.0.0.1:{server.port}"  # the first listener's address
    assert "Warm-up GET /learn: 200" in server.log()


def test_without_warmup_each_worker_learns_for_itself(server_factory):
    server = server_factory(["--preload", "-w", "1", "warmapp:app"])
    requests.get(server.url + "/learn", timeout=5)
    pid, _ = requests.get(server.url + "/learned", timeout=5).text.split()
    assert int(pid) in server.workers()


def test_a_full_url_names_the_host(server_factory):
    server = server_factory(["--preload", "--warmup", "http://example.com/learn",
                             "warmapp:app"])
    assert requests.get(server.url + "/learned", timeout=5).text.split()[1] == "example.com"


def test_a_descriptor_left_open_stops_the_start(server_factory):
    server = server_factory(["--preload", "--warmup", "/keep-open", "warmapp:app"], wait=False)
    assert server.wait_exit(15) == 1
    log = server.log()
    assert "The warm-up (warmup) left file descriptor" in log
    assert "Booting worker" not in log


def test_a_thread_left_running_stops_the_start(server_factory):
    server = server_factory(["--preload", "--warmup", "/thread", "warmapp:app"], wait=False)
    assert server.wait_exit(15) == 1
    assert "thread 'warm-thread'" in server.log()


def test_a_descriptor_closed_in_when_ready_is_fine(server_factory, tmp_path):
    conf = tmp_path / "conf.py"
    conf.write_text("def when_ready(server):\n"
                    "    import warmapp\n"
                    "    for f in warmapp.KEPT:\n"
                    "        f.close()\n")
    server = server_factory(["-c", str(conf), "--preload", "--warmup", "/keep-open",
                             "warmapp:app"])
    assert requests.get(server.url + "/", timeout=5).status_code == 200


def test_a_failing_warmup_request_is_logged_and_the_server_starts(server_factory):
    server = server_factory(["--preload", "--warmup", "/boom", "--warmup", "/fail",
                             "warmapp:app"])
    assert requests.get(server.url + "/", timeout=5).status_code == 200
    log = server.log()
    assert "Warm-up GET /boom failed" in log and "RuntimeError: boom in the warm-up" in log
    assert "Warm-up GET /fail answered 500" in log


def test_without_preload_the_warmup_is_ignored_with_a_warning(server_factory):
    server = server_factory(["--warmup", "/learn", "warmapp:app"])
    wait_for(lambda: "warmup is ignored" in server.log(), 10, message="the warning")
    assert requests.get(server.url + "/", timeout=5).status_code == 200
