"""workhorse's access log and nginx's agree on every request nginx passes upstream.

nginx sends its ``$request_id`` as ``X-Request-ID``; workhorse trusts it from
a forwarder (127.0.0.1, UNIX socket) and logs it as ``%(rid)s``, so each
nginx access-log entry is matched with the workhorse line of the same request.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from interop_apps import BIG_FILE_SIZE, write_flask_app
from interop_stacks import ACCESS_FORMAT, start_app_server

from support import APPS, wait_for

pytestmark = pytest.mark.nginx

APP = "flaskapp:app"
#: ACCESS_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s rid=%(rid)s queue_ms=%(queue_ms)s'
LINE = re.compile(r'^(?P<h>\S+) "(?P<r>[^"]*)" (?P<s>\d{3}) (?P<b>\S+) '
                  r"rid=(?P<rid>\S+) queue_ms=(?P<queue_ms>\S+)$")
assert ACCESS_FORMAT.startswith("%(h)s"), "LINE must follow ACCESS_FORMAT"

#: (method, path, request headers, expected status)
REQUESTS = [
    ("GET", "/", {}, 200),
    ("GET", "/file", {}, 200),
    ("GET", "/file", {"Range": "bytes=0-99"}, 206),
    ("HEAD", "/file", {}, 200),
    ("POST", "/json", {"Content-Type": "application/json"}, 200),
    ("GET", "/redirect", {}, 302),
    ("GET", "/redirect-relative", {}, 301),
    ("GET", "/missing", {}, 404),
    ("GET", "/teapot", {}, 418),
    ("GET", "/boom", {}, 500),
]


def workhorse_lines(path: Path) -> dict[str, dict[str, str]]:
    """The access log lines by request id."""
    if not path.exists():
        return {}
    found = {}
    for line in path.read_text().splitlines():
        match = LINE.match(line)
        assert match, f"unexpected access log line: {line!r}"
        found[match["rid"]] = match.groupdict()
    return found


@pytest.mark.parametrize("kind", ["sync", "gthread", "gevent"])
def test_access_logs_of_nginx_and_workhorse_agree(kind: str, tmp_path: Path,
                                                  nginx_factory) -> None:
    app_dir = write_flask_app(tmp_path / "app")
    server, sock = start_app_server([APP], tmp_path / "server", kind=kind, cwd=app_dir)
    try:
        static = tmp_path / "static"
        static.mkdir()
        (static / "style.css").write_text("body { color: black }\n")
        served_by_nginx = f"location /static/ {{ alias {static}/; }}"
        tcp = nginx_factory(f"127.0.0.1:{server.port}", pass_request_id=True,
                            extra_locations=served_by_nginx)
        unix = nginx_factory(f"unix:{sock}", pass_request_id=True,
                             extra_locations=served_by_nginx)
        sent: list[tuple[str, str, str, int, str]] = []  # via, method, path, status, rid
        for via, nginx in (("tcp", tcp), ("unix", unix)):
            for method, path, headers, status in REQUESTS:
                response = requests.request(method, nginx.url + path, headers=headers,
                                            data=b'{"items": [1]}' if method == "POST" else None,
                                            allow_redirects=False, timeout=10)
                assert response.status_code == status, (via, method, path)
                sent.append((via, method, path, status, response.headers["X-Request-Id"]))
            static_answer = requests.get(nginx.url + "/static/style.css", timeout=10)
            assert static_answer.text == "body { color: black }\n"

        log_path = tmp_path / "server" / f"{kind}-access.log"
        rids = [rid for *_, rid in sent]
        ours = wait_for(lambda: all(r in (lines := workhorse_lines(log_path)) for r in rids)
                        and lines, message="every request in workhorse's access log")
        entries = {"tcp": tcp.wait_access_entries(len(REQUESTS) + 1),
                   "unix": unix.wait_access_entries(len(REQUESTS) + 1)}

        # Nothing else reached workhorse (nginx served /static/ itself) but the
        # readiness probe of the test harness, which came directly.
        others = [line for rid, line in ours.items() if rid not in rids]
        assert others, "the readiness probe is missing from the access log"
        for line in others:
            assert (line["h"], line["r"], line["queue_ms"]) == ("127.0.0.1", "GET / HTTP/1.0", "-")
        for via, method, path, status, rid in sent:
            entry = next(e for e in entries[via] if e["request_id"] == rid)
            line = ours[rid]
            assert entry["status"] == entry["upstream_status"] == line["s"] == str(status), \
                (via, path, entry, line)
            assert entry["upstream_request_id"] == rid
            # nginx talks HTTP/1.0 to its upstream (proxy_http_version's default).
            assert line["r"] == f"{method} {path} HTTP/1.0"
            assert entry["request"] == f"{method} {path} HTTP/1.1"
            assert line["h"] == ("127.0.0.1" if via == "tcp" else "-")
            # X-Request-Start from a trusted proxy gives a queue time.
            assert float(line["queue_ms"]) >= 0
            if method != "HEAD":
                assert line["b"] == entry["body_bytes_sent"], (via, path, entry, line)
            else:
                assert line["b"] == entry["body_bytes_sent"] == "0"
            if (method, path, status) == ("GET", "/file", 200):
                assert line["b"] == str(BIG_FILE_SIZE)
        for via in ("tcp", "unix"):
            static_entries = [e for e in entries[via] if e["request"].startswith("GET /static/")]
            assert len(static_entries) == 1
            assert static_entries[0]["upstream_status"] == ""
            assert static_entries[0]["status"] == "200"
    finally:
        server.stop()


#: The FastAPI app's requests for the asgi worker: (method, path, headers, body, status).
ASGI_REQUESTS = [
    ("GET", "/items/7?q=x", {}, None, 200),
    ("GET", "/stream?n=40", {}, None, 200),
    ("GET", "/big?size=3000017", {}, None, 200),
    ("HEAD", "/page", {}, None, 200),
    ("POST", "/items", {"Content-Type": "application/json"},
     b'{"name": "log", "price": 1}', 200),
    ("POST", "/upload", {}, b"u" * 200_000, 200),
    ("GET", "/missing", {}, None, 404),
    ("GET", "/items/nan", {}, None, 422),
    ("GET", "/boom", {}, None, 500),
]


def test_the_asgi_workers_access_log_agrees_with_nginx(tmp_path: Path, nginx_factory) -> None:
    """The asgi worker's access log, request by request, against nginx's (TCP and UNIX)."""
    marks = tmp_path / "marks"
    marks.mkdir()
    server, sock = start_app_server(["fastapi_app:app"], tmp_path / "server", kind="asgi",
                                    cwd=APPS, env={"FRAMEWORK_MARK_DIR": str(marks)})
    log_path = tmp_path / "server" / "asgi-access.log"
    try:
        (marks / "release-log").touch()  # the background task of POST /items ends at once
        for via, upstream in (("tcp", f"127.0.0.1:{server.port}"), ("unix", f"unix:{sock}")):
            nginx = nginx_factory(upstream, pass_request_id=True)
            sent: list[tuple[str, str, requests.Response]] = []  # method, path, response
            for method, path, headers, body, status in ASGI_REQUESTS:
                response = requests.request(method, nginx.url + path, headers=headers,
                                            data=body, timeout=20)
                assert response.status_code == status, (via, method, path)
                sent.append((method, path, response))
            entries = nginx.wait_access_entries(len(ASGI_REQUESTS))
            rids = [response.headers["X-Request-Id"] for *_, response in sent]
            ours = wait_for(lambda r=rids: all(i in (lines := workhorse_lines(log_path))  # type: ignore[misc]
                                               for i in r) and lines,
                            message="every request in workhorse's access log")
            for method, path, response in sent:
                rid = response.headers["X-Request-Id"]
                entry = next(e for e in entries if e["request_id"] == rid)
                line = ours[rid]
                assert entry["status"] == entry["upstream_status"] == line["s"] \
                    == str(response.status_code), (via, path, entry, line)
                assert line["r"] == f"{method} {path} HTTP/1.0"
                assert line["h"] == ("127.0.0.1" if via == "tcp" else "-")
                assert float(line["queue_ms"]) >= 0  # X-Request-Start from a trusted proxy
                if method != "HEAD":  # HEAD: the app's body length, as for WSGI apps
                    # (nginx's body_bytes_sent counts its chunked framing too)
                    assert line["b"] == str(len(response.content)), (via, path, line)
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["sync", "gthread", "gevent"])
def test_access_log_agrees_with_nginx_when_the_app_overruns_content_length(
        kind: str, tmp_path: Path, nginx_factory) -> None:
    app_dir = write_flask_app(tmp_path / "app")
    server, sock = start_app_server([APP], tmp_path / "server", kind=kind, cwd=app_dir)
    try:
        nginx = nginx_factory(f"unix:{sock}", pass_request_id=True)
        status = requests.get(nginx.url + "/stale-length", timeout=10).status_code
        entry = nginx.wait_access_entries(1)[0]
        log_path = tmp_path / "server" / f"{kind}-access.log"
        line = wait_for(lambda: workhorse_lines(log_path).get(entry["request_id"]),
                        message="the request in workhorse's access log")
        # nginx got no response at all (its own 502) while workhorse logged a 200.
        assert line["s"] == entry["upstream_status"], (status, entry, line)
    finally:
        server.stop()


@pytest.mark.parametrize("kind,app", [("sync", "djasgi.wsgi:application"),
                                      ("gthread", "djasgi.wsgi:application"),
                                      ("gevent", "djasgi.wsgi:application"),
                                      ("asgi", "djasgi.asgi:application")])
def test_a_django_app_keeps_the_access_log_file(kind: str, app: str, tmp_path: Path) -> None:
    """Django's setup calls logging.config.dictConfig (DEFAULT_LOGGING, whatever LOGGING
    says), which closes every handler it finds, our access log file's included."""
    server, _ = start_app_server([app], tmp_path / "server", kind=kind, cwd=APPS, workers=1)
    try:
        for index in range(3):
            assert requests.get(f"{server.url}/?probe={index}", timeout=10).status_code == 200
        log_path = tmp_path / "server" / f"{kind}-access.log"
        wait_for(lambda: sum("/?probe=" in line for line in
                             log_path.read_text().splitlines()) == 3,
                 5, message="the three requests in the access log")
        assert "Logging error" not in server.log()
    finally:
        server.stop()
