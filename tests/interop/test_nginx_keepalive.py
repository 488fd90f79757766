"""nginx with upstream keep-alive in front: replacing workers fails no request.

nginx keeps idle connections to the upstream (``keepalive`` in the upstream
block, HTTP/1.1) and sends the next request on one of them; a server that
closes such a connection as the request arrives makes nginx answer 502, and
for a POST nginx does not retry elsewhere. wrk drives POSTs through nginx
while the workers are replaced by HUP or recycled by max_requests; every
answer must be a 200 from workhorse, and nginx must log no upstream error.
The gthread worker serves a WSGI echo (tests/apps/testapp.py), the asgi
worker an ASGI one (tests/apps/asgiapp.py): both hand their idle
connections to the master when they stop.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from interop_stacks import start_app_server

from support import wait_for
from wrk_support import Wrk

pytestmark = [pytest.mark.nginx, pytest.mark.slow]

#: nginx names the upstream in every error about it ("... while reading
#: response header from upstream", "upstream prematurely closed ...").
UPSTREAM_ERROR = "upstream"
BODY = b"x" * 512


#: The app each worker kind serves: all answer POST /echo with the body.
APPS = {"gthread": "testapp:app", "gevent": "testapp:app", "asgi": "asgiapp:app"}


@pytest.mark.parametrize("kind,upstream,how", [("gthread", "unix", "hup"),
                                               ("gthread", "tcp", "max_requests"),
                                               ("gevent", "unix", "hup"),
                                               ("gevent", "tcp", "max_requests"),
                                               ("asgi", "tcp", "hup"),
                                               ("asgi", "unix", "max_requests")])
def test_worker_replacement_fails_no_request_behind_nginx_keepalive(
        kind: str, upstream: str, how: str, tmp_path: Path, nginx_factory) -> None:
    extra = ("--max-requests", "400", "--max-requests-jitter", "100") if how == "max_requests" \
        else ()
    server, sock = start_app_server([APPS[kind]], tmp_path / "app", kind=kind,
                                    cwd=tmp_path, extra=extra)
    try:
        target = f"unix:{sock}" if upstream == "unix" else f"127.0.0.1:{server.port}"
        nginx = nginx_factory(target, upstream_keepalive=16)
        with Wrk(nginx.url + "/echo", seconds=6, post_body=BODY, workdir=tmp_path) as wrk:
            if how == "hup":
                for _ in range(2):
                    before = set(wait_for(lambda: len(server.workers()) == 2
                                          and server.workers(), 10, message="2 workers"))
                    server.signal(signal.SIGHUP)
                    wait_for(lambda b=before: not set(server.workers()) & b  # type: ignore[misc]
                             and len(server.workers()) == 2, 20, message="a new generation")
            result = wrk.result()
        recycled = server.log().count("Autorestarting worker")
    finally:
        server.stop()
    print(f"nginx upstream keep-alive, {kind}, {upstream}, {how}: {result.summary()}; "
          f"max_requests recycles: {recycled}")
    assert result.requests > 200, result.output
    assert result.failed == 0, result.summary()
    if how == "max_requests":
        assert recycled >= 5, recycled
    # 499: wrk closed its connections with requests in flight when its time was up.
    entries = [e for e in nginx.access_entries() if e["status"] != "499"]
    bad = [e for e in entries if e["status"] != "200" or e["upstream_status"] != "200"]
    errors = [line for line in nginx.error_log().splitlines()
              if UPSTREAM_ERROR in line and "[info]" not in line]
    # What nginx and the server said, to tell a reset from a timeout from a close.
    assert not bad, (bad[:5], errors[:5], server.log()[-3000:])
    assert not errors, errors[:5]
