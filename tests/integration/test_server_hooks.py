"""Gunicorn's server hooks and gunicorn.conf.py work unchanged."""

from __future__ import annotations

import json
import re
import signal
import textwrap
import threading

import requests

from support import wait_for

SEED_CONFIG = '''\
from multiprocessing import Semaphore
accesslog = "-"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" rt=%(L)s busy=%({x-busy}i)s'
busy = Semaphore(0)
def pre_request(worker, req):
    busy.release()
    req.headers.append(("x-busy", str(busy.get_value())))
def post_request(worker, req, environ, resp):
    busy.acquire()
'''  # noqa: E501


def test_seed_config_unchanged_shows_busy_count(server_factory, tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text(SEED_CONFIG)
    server = server_factory(["-w", "2", "testapp:app"], cwd=tmp_path)
    server.wait_booted(2)
    # Two requests that overlap: the second to start sees both workers busy.
    threads = [threading.Thread(target=requests.get, args=(server.url + "/sleep?s=1",),
                                kwargs={"timeout": 10}) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    pattern = (r'"GET /sleep\?s=1 HTTP/1.1" 200 \d+ "-" "python-requests/\S+" '
               r"rt=\d+\.\d{6} busy=(\d+)")
    busy = wait_for(lambda: len(re.findall(pattern, server.log())) == 2
                    and sorted(re.findall(pattern, server.log())), message="the seed lines")
    assert busy == ["1", "2"]


HOOKS_CONFIG = '''\
import json, os
LOG = os.environ["HOOK_LOG"]
def _mark(name, **extra):
    with open(LOG, "a") as f:
        f.write(json.dumps({"hook": name, "pid": os.getpid(), **extra}) + "\\n")
def on_starting(server):
    _mark("on_starting", num_workers=server.num_workers, master=server.pid,
          cfg_workers=server.cfg.workers)
def when_ready(server):
    _mark("when_ready", master=server.pid)
def on_reload(server):
    _mark("on_reload")
def pre_fork(server, worker):
    _mark("pre_fork", age=worker.age)
def post_fork(server, worker):
    _mark("post_fork", worker_pid=worker.pid, ppid=worker.ppid, age=worker.age)
def post_worker_init(worker):
    _mark("post_worker_init", alive=worker.alive, has_log=hasattr(worker.log, "info"))
    worker.log.info("hello from post_worker_init")
def worker_int(worker):
    _mark("worker_int")
def pre_request(worker, req):
    _mark("pre_request", method=req.method, path=req.path, query=req.query, uri=req.uri,
          version=list(req.version), headers=[list(h) for h in req.headers][:2])
def post_request(worker, req, environ, resp):
    _mark("post_request", status=resp.status, path=environ["PATH_INFO"])
def child_exit(server, worker):
    _mark("child_exit", worker_pid=worker.pid)
def worker_exit(server, worker):
    _mark("worker_exit", worker_pid=worker.pid)
def nworkers_changed(server, new_value, old_value):
    _mark("nworkers_changed", new=new_value, old=old_value)
def on_exit(server):
    _mark("on_exit")
def pre_exec(server):
    _mark("pre_exec")
'''


def read_marks(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_hook_runs_with_gunicorn_signature_and_timing(server_factory, tmp_path):
    log = tmp_path / "hooks.jsonl"
    config = tmp_path / "hooks.conf.py"
    config.write_text(HOOKS_CONFIG)
    server = server_factory(["-c", str(config), "-w", "1", "testapp:app"],
                            env={"HOOK_LOG": str(log)})
    requests.get(server.url + "/?x=1", headers={"X-Test": "1"}, timeout=5)
    server.signal(signal.SIGTTIN)
    wait_for(lambda: any(m["hook"] == "nworkers_changed" and m["new"] == 2
                         for m in read_marks(log)))
    server.signal(signal.SIGHUP)
    wait_for(lambda: any(m["hook"] == "on_reload" for m in read_marks(log)))
    server.signal(signal.SIGTERM)
    assert server.wait_exit(15) == 0
    marks = read_marks(log)
    names = [m["hook"] for m in marks]
    for hook in ["on_starting", "when_ready", "pre_fork", "post_fork", "post_worker_init",
                 "pre_request", "post_request", "child_exit", "worker_exit",
                 "nworkers_changed", "on_reload", "on_exit"]:
        assert hook in names, hook
    assert names.index("on_starting") < names.index("when_ready") < names.index("post_fork")
    assert names[-1] == "on_exit"
    by_name: dict[str, dict[str, object]] = {}
    for mark in marks:
        by_name.setdefault(mark["hook"], mark)  # the first call of each hook
    master = by_name["on_starting"]["master"]
    assert by_name["on_starting"]["pid"] == master
    assert by_name["pre_fork"]["pid"] == master
    assert by_name["post_fork"]["pid"] != master  # runs in the worker
    assert by_name["post_fork"]["ppid"] == master
    assert by_name["post_worker_init"]["alive"] is True
    req = next(m for m in marks if m["hook"] == "pre_request" and m["query"] == "x=1")
    assert (req["method"], req["path"], req["query"], req["uri"], req["version"]) == \
        ("GET", "/", "x=1", "/?x=1", [1, 1])
    assert req["headers"][0][0] == req["headers"][0][0].upper()
    assert by_name["post_request"]["status"] == "200 OK"
    # As in Gunicorn: at start (old None, before on_starting), on TTIN, and on every HUP
    # (which goes back to the configured number).
    assert [(m["new"], m["old"]) for m in marks if m["hook"] == "nworkers_changed"] == \
        [(1, None), (2, 1), (1, 2)]
    assert names.index("nworkers_changed") < names.index("on_starting")
    assert by_name["worker_exit"]["pid"] != master  # runs in the worker, as in Gunicorn
    assert by_name["child_exit"]["pid"] == master
    assert "hello from post_worker_init" in server.log()


def test_raising_hook_is_logged_and_never_kills_the_master(server_factory, tmp_path):
    config = tmp_path / "bad.conf.py"
    config.write_text(textwrap.dedent('''\
        def when_ready(server):
            raise RuntimeError("when_ready exploded")
        def pre_request(worker, req):
            raise RuntimeError("pre_request exploded")
        def child_exit(server, worker):
            raise RuntimeError("child_exit exploded")
    '''))
    server = server_factory(["-c", str(config), "-w", "1", "testapp:app"])
    assert requests.get(server.url + "/", timeout=5).text == "ok"
    workers = wait_for(server.workers)
    server.signal(signal.SIGHUP)
    wait_for(lambda: not set(server.workers()) & set(workers) and server.workers(), 15)
    assert requests.get(server.url + "/", timeout=5).text == "ok"
    log = server.log()
    assert "Exception in when_ready hook" in log
    assert "Exception in pre_request hook" in log
    wait_for(lambda: "Exception in child_exit hook" in server.log())
