"""Operating workhorse behind nginx: trust, streaming, uploads, timeouts, reload, stop.

Each test starts its own workhorse (bound to a TCP port and a UNIX socket)
serving the Flask app, because it changes settings or sends signals.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from interop_apps import write_flask_app
from interop_stacks import KINDS, start_app_server

from nginx_support import Nginx
from support import Server, raw_request, wait_for

pytestmark = pytest.mark.nginx

APP = "flaskapp:app"
#: /unbuffered/... goes to the app with nginx streaming the request body
#: (chunked when the client's is) over HTTP/1.1, instead of buffering it first.
UNBUFFERED = ("location /unbuffered/ { proxy_request_buffering off; "
              'proxy_http_version 1.1; proxy_set_header Connection ""; '
              f"{Nginx.PROXY_HEADERS} proxy_pass http://app_server/; }}")


@pytest.fixture(scope="module")
def flask_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_flask_app(tmp_path_factory.mktemp("flask"))


@pytest.fixture
def app_server(tmp_path: Path, flask_dir: Path) -> Iterator[Any]:
    """``start(kind, workers=2, extra=())`` -> (server, unix socket path); stopped at teardown."""
    started: list[Server] = []

    def start(kind: str, *, workers: int = 2, extra: tuple[str, ...] = ()) -> tuple[Server, str]:
        server, sock = start_app_server([APP], tmp_path / f"server{len(started)}", kind=kind,
                                        cwd=flask_dir, workers=workers, extra=extra)
        started.append(server)
        return server, sock

    yield start
    for server in started:
        server.stop()


def upstreams(server: Server, sock: str) -> dict[str, str]:
    return {"tcp": f"127.0.0.1:{server.port}", "unix": f"unix:{sock}"}


# --- trust ------------------------------------------------------------------


def test_scheme_and_request_id_are_trusted_only_from_allowed_forwarders(app_server,
                                                                        nginx_factory):
    """With nginx (127.0.0.1) not in forwarded_allow_ips, its headers are ignored over
    TCP; a UNIX-socket peer is always trusted, as in Gunicorn."""
    server, sock = app_server("gthread", extra=("--forwarded-allow-ips", "10.9.9.9"))
    seen = {}
    for via, upstream in upstreams(server, sock).items():
        nginx = nginx_factory(upstream, tls=True, pass_request_id=True)
        response = requests.get(nginx.https_url + "/scheme", verify=str(nginx.cert_path),
                                timeout=10)
        assert response.status_code == 200
        nginx_rid = nginx.wait_access_entries(1)[0]["request_id"]
        seen[via] = (response.json()["scheme"], response.headers["X-Request-Id"] == nginx_rid)
    assert seen == {"tcp": ("http", False), "unix": ("https", True)}


# --- streaming and uploads ----------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_streamed_chunks_are_not_held_back(kind: str, app_server, nginx_factory,
                                           tmp_path: Path) -> None:
    """Each chunk a generator yields reaches the client while the generator still runs
    (nginx told by X-Accel-Buffering: no); nothing in workhorse buffers it."""
    server, sock = app_server(kind)
    nginx = nginx_factory(f"unix:{sock}")
    for name, url in (("direct", server.url), ("nginx", nginx.url)):
        marker = tmp_path / f"go-{name}"
        with requests.get(f"{url}/gated?marker={marker}", stream=True, timeout=5) as response:
            lines = response.iter_lines()
            # The app will not send (or finish) anything more until the marker exists.
            assert next(lines) == b"first"
            marker.touch()
            assert list(lines) == [b"second"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_unbuffered_chunked_upload_through_nginx(kind: str, app_server, nginx_factory) -> None:
    """proxy_request_buffering off + HTTP/1.1 upstream: nginx streams the chunked body on."""
    _, sock = app_server(kind)
    nginx = nginx_factory(f"unix:{sock}", extra_locations=UNBUFFERED, upstream_keepalive=2)
    parts = [b"a" * 10, b"b" * 200_000, b"c" * 70_001]
    for _ in range(3):  # the same upstream connection serves the next upload correctly
        data = requests.post(nginx.url + "/unbuffered/raw", data=iter(parts), timeout=10).json()
        assert (data["length"], data["chunked"]) == (270_011, "chunked")
    data = requests.post(nginx.url + "/unbuffered/raw", data=b"z" * 300_000, timeout=10).json()
    assert (data["length"], data["content_length"]) == (300_000, "300000")


@pytest.mark.parametrize("kind", list(KINDS))
def test_unread_request_bodies_do_not_desync_kept_alive_upstream_connections(
        kind: str, app_server, nginx_factory) -> None:
    """The app ignores a POST body (405); the next request on the same upstream
    connection (nginx keepalive, HTTP/1.1) is still parsed right. Bodies stay
    under the 256 KiB workhorse drains (larger ones: the lingering-close test below)."""
    _, sock = app_server(kind)
    nginx = nginx_factory(f"unix:{sock}", extra_locations=UNBUFFERED, upstream_keepalive=1)
    with requests.Session() as session:
        for size in (10, 70_000, 200_000):
            for prefix in ("", "/unbuffered"):
                url = nginx.url + prefix
                assert session.post(url + "/", data=b"q" * size, timeout=10).status_code == 405
                chunked = session.post(url + "/", data=iter([b"q" * size]), timeout=10)
                assert chunked.status_code == 405
                after = session.get(url + "/target?q=after", timeout=10)
                assert after.json() == {"arrived": True, "q": "after"}, (size, prefix)


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_ignored_large_body_can_be_sent_in_full(kind: str, app_server) -> None:
    """nginx sending such a body upstream fails with ``sendfile() failed (32: Broken
    pipe) while sending request to upstream`` and answers 502 whenever it tries to
    write before it reads the early 405. Seen here without nginx's race: the sender
    over the UNIX socket gets EPIPE long before the end of its body."""
    _, sock = app_server(kind)
    size = 8 * 1024 * 1024
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(10)
        client.connect(sock)
        client.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n"
                       "Connection: close\r\n\r\n".encode())
        sent = 0
        block = b"q" * 65536
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < size:
                sent += client.send(block[: size - sent])
        answer = client.recv(64)
    assert answer.startswith(b"HTTP/1.1 405 ")
    assert sent == size


@pytest.mark.parametrize("kind", list(KINDS))
def test_exception_mid_stream_reaches_the_client_over_http11_upstream(kind: str, app_server,
                                                                      nginx_factory) -> None:
    """A body cut by an app error is seen as cut: nginx (HTTP/1.1 to workhorse) does not
    end the client's chunked response, and says why in its error log."""
    server, sock = app_server(kind)
    nginx = nginx_factory(f"unix:{sock}", upstream_keepalive=2)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(nginx.url + "/breaks", timeout=10)
    wait_for(lambda: "upstream prematurely closed" in nginx.error_log(),
             message="nginx to log the cut response")
    wait_for(lambda: "the stream broke" in server.log(), message="the traceback in the log")
    assert requests.get(nginx.url + "/", timeout=10).status_code == 200


# --- timeouts ---------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_worker_timeout_is_a_504_through_nginx_not_a_502(kind: str, app_server,
                                                         nginx_factory) -> None:
    """README: a request past ``timeout`` gets a real 504, which nginx passes on."""
    _, sock = app_server(kind, workers=1, extra=("--timeout", "1"))
    nginx = nginx_factory(f"unix:{sock}", pass_request_id=True)
    started = time.monotonic()
    response = requests.get(nginx.url + "/sleep?s=30", timeout=20)
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert "longer than the server's timeout" in response.text
    assert elapsed < 5, elapsed  # deadline 1 s, enforced within about a second
    entry = nginx.wait_access_entries(1)[0]
    assert entry["upstream_status"] == "504"  # workhorse answered: not nginx's own 502/504
    assert response.headers["X-Request-Id"] == entry["request_id"]
    assert "upstream prematurely closed" not in nginx.error_log()
    # A replacement worker serves the next request.
    wait_for(lambda: requests.get(nginx.url + "/", timeout=10).status_code == 200,
             message="a replacement worker")


def test_worker_timeout_answer_to_head_has_no_body(app_server) -> None:
    server, _ = app_server("sync", workers=1, extra=("--timeout", "1"))
    raw = raw_request(server.port, b"HEAD /sleep?s=30 HTTP/1.1\r\nHost: x\r\n\r\n", timeout=10)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 504 ")
    assert b"Content-Length: 67" in head  # the length of the GET answer: fine for HEAD
    assert body == b""


# --- reload and stop under nginx ---------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_hup_under_load_loses_no_request_through_nginx(kind: str, app_server,
                                                       nginx_factory) -> None:
    """A HUP reload while 4 clients keep sending through nginx: every answer is 200."""
    server, sock = app_server(kind)
    nginx_tcp = nginx_factory(f"127.0.0.1:{server.port}")
    nginx_unix = nginx_factory(f"unix:{sock}")
    results: list[Any] = []
    stop = threading.Event()

    def client(url: str) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    results.append(session.get(url + "/", timeout=10).status_code)
                except requests.RequestException as exc:
                    results.append(repr(exc))

    threads = [threading.Thread(target=client, args=(nginx.url,))
               for nginx in (nginx_tcp, nginx_unix, nginx_tcp, nginx_unix)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(results) > 40, message="load to flow")
        before = set(server.workers())
        server.signal(signal.SIGHUP)
        wait_for(lambda: len(w := set(server.workers())) == 2 and not w & before,
                 timeout=20, message="a new generation of workers")
        count = len(results)
        wait_for(lambda: len(results) > count + 40, message="load on the new workers")
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    failures = [r for r in results if r != 200]
    assert not failures, f"{len(failures)} of {len(results)} failed: {failures[:5]}"
    for nginx in (nginx_tcp, nginx_unix):
        assert not [e for e in nginx.access_entries() if e["upstream_status"] != "200"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_term_finishes_requests_in_flight_then_nginx_sees_no_upstream(
        kind: str, app_server, nginx_factory, tmp_path: Path) -> None:
    server, sock = app_server(kind)
    nginx = nginx_factory(f"unix:{sock}")
    marks = tmp_path / "marks"
    marks.mkdir()
    answers: list[requests.Response] = []
    threads = [threading.Thread(target=lambda: answers.append(requests.get(
        f"{nginx.url}/sleep?s=0.5&mark={marks}", timeout=10))) for _ in range(2)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(list(marks.iterdir())) == 2, message="both requests in the app")
    server.signal(signal.SIGTERM)
    for thread in threads:
        thread.join(15)
    assert [(r.status_code, r.text) for r in answers] == [(200, "slept 0.5\n")] * 2
    assert server.wait_exit(15) == 0
    assert not Path(sock).exists()  # the UNIX socket is removed on exit
    assert requests.get(nginx.url + "/", timeout=10).status_code == 502
