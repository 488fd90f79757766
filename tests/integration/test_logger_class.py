"""``logger_class`` and the request hooks' objects, as Gunicorn configurations use them.

The loggers people write for Gunicorn subclass ``gunicorn.glogging.Logger``
to leave health checks out of the access log or to add a filter in
``setup``; request hooks time requests with an attribute set in
``pre_request`` and read in ``post_request``. Each runs unchanged here, on a
real server, on every worker kind.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import requests

from support import wait_for

#: A logger class as found in Gunicorn deployments; BASE is the import line.
LOGGER_MODULE = '''\
import logging
from {base} import Logger

class NoHealthChecks(Logger):
    """Leaves the load balancer's probes out of the access log."""

    def access(self, resp, req, environ, request_time):
        if req.path in ("/health", "/healthz"):
            return
        super().access(resp, req, environ, request_time)

class TagErrors(logging.Filter):
    def filter(self, record):
        record.msg = "[tagged] " + str(record.msg)
        return True

class TaggedLogger(NoHealthChecks):
    def setup(self, cfg):
        super().setup(cfg)
        self.error_log.addFilter(TagErrors())
'''

KINDS = {
    "sync": ["-k", "sync", "testapp:app"],
    "gthread": ["-k", "gthread", "--threads", "2", "testapp:app"],
    "asgi": ["-k", "asgi", "asgiapp:app"],
}
BASES = {"workhorse": "workhorse.glogging", "gunicorn": "gunicorn.glogging"}


def lines_with(path: Path, text: str) -> int:
    return path.read_text().count(text) if path.exists() else 0


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("base", list(BASES))
def test_a_gunicorn_logger_subclass_runs_unchanged(server_factory, tmp_path: Path, base: str,
                                                   kind: str):
    (tmp_path / "mylogging.py").write_text(LOGGER_MODULE.format(base=BASES[base]))
    access, errors = tmp_path / "access.log", tmp_path / "error.log"
    server = server_factory(["-w", "1", "--logger-class", "mylogging.TaggedLogger",
                             "--access-logfile", str(access), "--error-logfile", str(errors),
                             *KINDS[kind]], cwd=tmp_path)
    for path in ("/health", "/hello", "/healthz", "/hello?x=1"):
        requests.get(server.url + path, timeout=5)
    wait_for(lambda: lines_with(access, "GET /hello?x=1 HTTP/1.1") == 1, 10,
             message="the access line of the last request")
    text = access.read_text()
    assert lines_with(access, '"GET /hello HTTP/1.1" ') == 1, text
    assert "/health" not in text  # the override decided
    assert '"python-requests/' in text  # Gunicorn's default format, user agent atom
    assert "[tagged] " in errors.read_text()  # setup()'s filter is on the error log


def test_a_logger_class_that_cannot_be_imported_names_the_setting(server_factory):
    server = server_factory(["--logger-class", "nowhere.Logger", "testapp:app"], wait=False)
    assert server.wait_exit() != 0
    log = server.log()
    assert "logger_class" in log and "nowhere.Logger" in log, log
    assert "Traceback" not in log


HOOKS = '''\
import json, time

def pre_request(worker, req):
    req.start_time = time.monotonic()

def post_request(worker, req, environ, resp):
    with open({out!r}, "a") as out:
        out.write(json.dumps({{
            "took": time.monotonic() - req.start_time,
            "method": req.method, "path": req.path, "query": req.query,
            "uri": req.uri, "number": req.req_number,
            "agent": dict(req.headers).get("USER-AGENT", ""),
            "status": str(resp.status), "peer": list(req.remote_addr or ["?"])[:1],
            "sent": resp.sent is not None,
        }}) + "\\n")
'''


@pytest.mark.parametrize("kind", list(KINDS))
def test_request_hooks_keep_their_own_attributes_on_req(server_factory, tmp_path: Path,
                                                        kind: str):
    out = tmp_path / "hooks.jsonl"
    (tmp_path / "gunicorn.conf.py").write_text(textwrap.dedent(HOOKS.format(out=str(out))))
    server = server_factory(["-w", "1", *KINDS[kind]], cwd=tmp_path)
    with requests.Session() as session:  # one keep-alive connection: req_number counts
        for index in range(3):
            assert session.get(server.url + f"/pid?n={index}", timeout=5).status_code == 200
    wait_for(lambda: lines_with(out, '"/pid"') == 3, message="three post_request records")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    records = [record for record in records if record["path"] == "/pid"]
    # The sync worker closes after each response, as Gunicorn's does.
    assert [r["number"] for r in records] == ([1, 1, 1] if kind == "sync" else [1, 2, 3])
    first = records[0]
    assert first["method"] == "GET" and first["path"] == "/pid" and first["query"] == "n=0"
    assert first["uri"] == "/pid?n=0"
    assert first["agent"].startswith("python-requests/")
    assert first["status"].startswith("200")
    assert first["took"] >= 0 and first["peer"] == ["127.0.0.1"] and first["sent"]
