"""What Gunicorn configurations rely on beyond hooks' arguments, on a real server.

Process titles (``ps``, ``pgrep -f``, monitoring rules), ``nworkers_changed``
at Gunicorn's moments (authentik's worker ids), ``server``'s attributes and
methods, ``req.force_close()``, ``keepalive = 0``, and the gthread worker's
``nr_conns``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import textwrap
from pathlib import Path

import pytest

from support import alive, children_of, raw_request, wait_for


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@pytest.mark.parametrize("kind", [["-k", "sync", "testapp:app"],
                                  ["-k", "gthread", "--threads", "2", "testapp:app"],
                                  ["-k", "asgi", "asgiapp:app"]], ids=["sync", "gthread", "asgi"])
def test_process_titles_name_the_master_and_each_worker(server_factory, kind):
    server = server_factory(["-w", "2", "-n", "shop", *kind])
    workers = wait_for(lambda: len(server.workers()) == 2 and server.workers())
    assert cmdline(server.pid) == "workhorse: master [shop]"
    assert comm(server.pid) == "workhorse-m sho"  # the kernel keeps 15 bytes
    for pid in workers:
        wait_for(lambda pid=pid: cmdline(pid) == "workhorse: worker [shop]",
                 message=f"worker {pid}'s title")
        assert comm(pid) == "workhorse-w sho"


def test_without_proc_name_the_application_names_the_processes(server_factory):
    server = server_factory(["-w", "1", "testapp:app"])
    worker = wait_for(lambda: server.workers() and server.workers()[0])
    assert cmdline(server.pid) == "workhorse: master [testapp:app]"
    wait_for(lambda: cmdline(worker) == "workhorse: worker [testapp:app]")


def test_a_reload_renames_and_a_reexecuted_master_is_dot_two_until_promoted(server_factory,
                                                                            tmp_path: Path):
    config = tmp_path / "gunicorn.conf.py"
    config.write_text('proc_name = "before"\nworkers = 1\n')
    pidfile = tmp_path / "wh.pid"
    server = server_factory(["-c", str(config), "-p", str(pidfile), "testapp:app"])
    assert cmdline(server.pid) == "workhorse: master [before]"
    config.write_text('proc_name = "after"\nworkers = 1\n')
    server.signal(signal.SIGHUP)
    wait_for(lambda: cmdline(server.pid) == "workhorse: master [after]", message="renamed")
    wait_for(lambda: any(cmdline(p) == "workhorse: worker [after]" for p in server.workers()),
             15, message="a worker of the new generation")

    old_pid = server.pid
    new_pid = 0
    try:
        server.signal(signal.SIGUSR2)
        new_pid = wait_for(lambda: next((p for p in children_of(old_pid)
                                         if cmdline(p).startswith("workhorse: master")), 0),
                           15, message="the re-executed master")
        server.seen_pids.add(new_pid)
        wait_for(lambda: cmdline(new_pid) == "workhorse: master [after.2]", 15,
                 message="the new master's title while the old one lives")
        wait_for(lambda: any(cmdline(p) == "workhorse: worker [after.2]"
                             for p in children_of(new_pid)), 15, message="its workers")
        server.signal(signal.SIGTERM)
        server.wait_exit(15)
        wait_for(lambda: cmdline(new_pid) == "workhorse: master [after]", 15,
                 message="the promoted master's title")
    finally:
        if new_pid and alive(new_pid):
            server.seen_pids.update(children_of(new_pid))
            os.kill(new_pid, signal.SIGTERM)
            wait_for(lambda: not alive(new_pid), 15, message="the new master stopped")


AUTHENTIK_STYLE = '''\
import json, os

def _mark(**fields):
    with open(os.environ["MARKS"], "a") as out:
        out.write(json.dumps(fields) + "\\n")

def nworkers_changed(server, new_value, old_value):
    server._worker_ids_wanted = new_value  # read in pre_fork, as authentik's hooks do
    _mark(hook="nworkers_changed", new=new_value, old=old_value)

def pre_fork(server, worker):
    _mark(hook="pre_fork", wanted=server._worker_ids_wanted, name=server.proc_name,
          master=server.master_name, age=server.worker_age, timeout=server.timeout,
          kind=server.worker_class.__name__)

def post_fork(server, worker):
    worker._my_id = server._worker_ids_wanted  # a hook's own attribute on worker

def post_worker_init(worker):
    _mark(hook="post_worker_init", my_id=worker._my_id, timeout=worker.timeout)

def pre_request(worker, req):
    if req.path == "/close-me":
        req.force_close()

def post_request(worker, req, environ, resp):
    if hasattr(worker, "nr_conns"):
        _mark(hook="post_request", nr_conns=worker.nr_conns)
'''


def marks(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_hooks_see_gunicorns_server_and_worker(server_factory, tmp_path: Path):
    out = tmp_path / "marks.jsonl"
    (tmp_path / "gunicorn.conf.py").write_text(AUTHENTIK_STYLE)
    server = server_factory(["-w", "2", "-k", "gthread", "--threads", "2", "-t", "20",
                             "-n", "idp", "testapp:app"], cwd=tmp_path, env={"MARKS": str(out)})
    wait_for(lambda: len([m for m in marks(out) if m["hook"] == "post_worker_init"]) == 2,
             message="both workers booted")
    forks = [m for m in marks(out) if m["hook"] == "pre_fork"]
    assert forks[0] == {"hook": "pre_fork", "wanted": 2, "name": "idp", "master": "Master",
                        "age": forks[0]["age"], "timeout": 20, "kind": "ThreadWorker"}
    assert [m["my_id"] for m in marks(out) if m["hook"] == "post_worker_init"] == [2, 2]
    assert "Exception in" not in server.log()

    # keep-alive connection: nr_conns counts it; req.force_close() ends it.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(4096)
        assert b"200 OK" in first and b"Connection: close" not in first
        sock.sendall(b"GET /close-me HTTP/1.1\r\nHost: x\r\n\r\n")
        second = b""
        while chunk := sock.recv(4096):  # the server closes: recv returns b""
            second += chunk
    assert b"Connection: close" in second
    assert any(m.get("nr_conns", 0) >= 1 for m in marks(out) if m["hook"] == "post_request")


def test_a_hook_can_halt_the_server(server_factory, tmp_path: Path):
    (tmp_path / "gunicorn.conf.py").write_text(textwrap.dedent('''\
        def when_ready(server):
            server.halt("license check failed", 3)
    '''))
    server = server_factory(["-w", "1", "testapp:app"], cwd=tmp_path, wait=False)
    assert server.wait_exit() == 3
    assert "Shutting down: license check failed" in server.log()


@pytest.mark.parametrize("kind", [["-k", "gthread", "--threads", "2", "testapp:app"],
                                  ["-k", "asgi", "asgiapp:app"]], ids=["gthread", "asgi"])
def test_keepalive_zero_says_connection_close(server_factory, kind):
    server = server_factory(["-w", "1", "--keep-alive", "0", *kind])
    answer = raw_request(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    head = answer.split(b"\r\n\r\n", 1)[0]
    assert b" 200 " in head and b"Connection: close" in head, head
