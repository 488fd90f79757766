"""A real Django project (startproject + an app) served by workhorse, directly and behind nginx.

Every ``stack`` test runs under sync and gthread workers, directly, behind
nginx over TCP and behind nginx over a UNIX socket (see conftest.py).
"""

from __future__ import annotations

import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from interop_apps import big_file_bytes, make_django_project, sha256
from interop_stacks import Stack, StackPool, stack_pool

from support import free_port, wait_for

pytestmark = pytest.mark.nginx

APP = "myproject.wsgi:application"


@pytest.fixture(scope="module")
def django_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_django_project(tmp_path_factory.mktemp("django"))


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory, django_project: Path):
    with stack_pool(tmp_path_factory.mktemp("django-stacks"), [APP], django_project) as pool:
        yield pool


def get(stack: Stack, path: str, **kwargs) -> requests.Response:
    kwargs.setdefault("timeout", 10)
    return requests.get(stack.url + path, **kwargs)


# --- responses, bodies, headers ---------------------------------------------


def test_hello(stack: Stack) -> None:
    response = get(stack, "/hello/")
    assert response.status_code == 200
    assert response.text == "Hello from Django\n"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Content-Length"] == str(len(response.content))
    assert int(response.headers["X-Worker-Pid"]) in stack.server.workers()
    expected_server = "nginx" if stack.proxied else "workhorse"
    assert response.headers["Server"].startswith(expected_server)
    assert len(response.headers["X-Request-Id"]) >= 16


def test_post_bodies_small_and_large(stack: Stack) -> None:
    small = b"name=value&other=%C3%A9"
    response = requests.post(stack.url + "/echo/", data=small, timeout=10,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    assert response.content == small
    large = big_file_bytes(5 * 1024 * 1024 + 3)
    response = requests.post(stack.url + "/echo/", data=large, timeout=20)
    assert response.status_code == 200
    assert response.headers["X-Body-Length"] == str(len(large))
    assert response.headers["X-Body-Sha256"] == sha256(large)
    assert response.content == large


def test_chunked_post_through_nginx(proxied: Stack) -> None:
    """nginx buffers a chunked request body and hands Django a Content-Length."""
    parts = [b"first-", b"x" * 300_000, b"-middle-", bytes(range(256)) * 1000, b"-last"]
    body = b"".join(parts)
    response = requests.post(proxied.url + "/echo/", data=iter(parts), timeout=20)
    assert response.status_code == 200
    assert response.headers["X-Seen-Content-Length"] == str(len(body))
    assert response.headers["X-Body-Sha256"] == sha256(body)
    assert response.content == body


def test_large_responses(stack: Stack) -> None:
    size = 2 * 1024 * 1024 + 3
    response = get(stack, f"/big/?size={size}")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(size)
    pattern = b"0123456789abcdef"
    assert response.content == pattern * (size // 16) + pattern[:3]
    # FileResponse goes through wsgi.file_wrapper (sendfile in workhorse).
    expected = big_file_bytes()
    response = get(stack, "/file/")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(expected))
    assert sha256(response.content) == sha256(expected)


def test_streaming_response(stack: Stack) -> None:
    response = get(stack, "/stream/?n=200")
    assert response.status_code == 200
    assert response.text == "".join(f"part {i}\n" for i in range(200))


def test_headers_both_ways(stack: Stack) -> None:
    response = get(stack, "/headers/", headers={"X-Custom": "from the client"})
    assert response.status_code == 200
    assert response.headers["X-Echo-Custom"] == "from the client"
    assert response.headers["X-Utf8-Safe"] == "caf\u00e9"  # latin-1 on the wire
    assert response.headers["Cache-Control"] == "no-store"
    assert response.cookies.get("first") == "1"
    assert response.cookies.get("second") == "2"
    set_cookies = [v for k, v in response.raw.headers.items() if k.lower() == "set-cookie"]
    assert len(set_cookies) == 2
    assert any("HttpOnly" in cookie for cookie in set_cookies)


def test_head_then_get_on_one_connection(stack: Stack) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
    try:
        conn.request("HEAD", "/hello/")
        head = conn.getresponse()
        assert head.status == 200
        assert head.read() == b""
        assert head.getheader("Content-Type") == "text/plain; charset=utf-8"
        # If a body leaked after the HEAD response, this would read garbage.
        conn.request("GET", "/hello/")
        response = conn.getresponse()
        assert response.status == 200
        assert response.read() == b"Hello from Django\n"
    finally:
        conn.close()


def test_django_404_page(stack: Stack) -> None:
    response = get(stack, "/no/such/page/")
    assert response.status_code == 404
    assert "<h1>Not Found</h1>" in response.text
    assert "The requested resource was not found on this server." in response.text


def test_django_500_page_and_worker_survives(stack: Stack) -> None:
    response = get(stack, "/boom/")
    assert response.status_code == 500
    assert "<h1>Server Error (500)</h1>" in response.text
    assert "boom" not in response.text  # DEBUG=False: no traceback to the client
    assert get(stack, "/hello/").status_code == 200


def test_stale_content_length_before_anything_was_sent_is_a_500(stack: Stack) -> None:
    """A footer middleware grows the body after CommonMiddleware set Content-Length."""
    response = get(stack, "/hello/?footer=1")
    assert response.status_code == 500
    assert get(stack, "/hello/").status_code == 200


def test_slow_view(stack: Stack) -> None:
    response = get(stack, "/slow/?s=0.1")
    assert response.status_code == 200
    assert response.text == "slept 0.1\n"


def test_app_is_imported_in_the_worker_without_preload(stack: Stack) -> None:
    data = get(stack, "/pid/").json()
    assert data["import_pid"] == data["pid"]
    assert data["pid"] in stack.server.workers()


# --- what the app sees of the client ----------------------------------------


def test_whoami_direct(pool: StackPool) -> None:
    stack = pool.get("sync", "direct")
    data = get(stack, "/whoami/").json()
    assert data["remote_addr"] == "127.0.0.1"
    assert data["url_scheme"] == "http"
    assert data["x_forwarded_for"] is None
    assert data["host"] == f"127.0.0.1:{stack.server.port}"
    # 127.0.0.1 is in forwarded_allow_ips by default: its scheme header is believed.
    data = get(stack, "/whoami/", headers={"X-Forwarded-Proto": "https"}).json()
    assert data["url_scheme"] == "https"
    assert data["is_secure"] is True


def test_whoami_through_nginx(proxied: Stack) -> None:
    data = get(proxied, "/whoami/").json()
    assert data["url_scheme"] == "http"
    assert data["is_secure"] is False
    assert data["x_forwarded_for"] == "127.0.0.1"
    assert data["x_forwarded_proto"] == "http"
    assert data["x_request_start"].startswith("t=")
    # Host is passed through ($http_host): Django builds URLs for nginx's address.
    assert data["host"] == f"127.0.0.1:{proxied.port}"
    assert data["absolute"] == f"http://127.0.0.1:{proxied.port}/somewhere/"
    if proxied.via == "nginx-unix":
        assert data["remote_addr"] == ""
        # No socket address on a UNIX socket: the server name comes from Host.
        assert (data["server_name"], data["server_port"]) == ("127.0.0.1", str(proxied.port))
    else:
        assert data["remote_addr"] == "127.0.0.1"
    # nginx overwrites a client's X-Forwarded-Proto with its own $scheme, so a
    # client cannot claim https; its X-Forwarded-For is kept and appended to.
    data = get(proxied, "/whoami/", headers={"X-Forwarded-Proto": "https",
                                            "X-Forwarded-For": "203.0.113.7"}).json()
    assert data["url_scheme"] == "http"
    assert data["x_forwarded_for"] == "203.0.113.7, 127.0.0.1"


@pytest.mark.parametrize("via", ["nginx-tcp", "nginx-unix"])
def test_https_at_nginx_is_https_in_django(pool: StackPool, nginx_factory, via: str) -> None:
    """TLS ends at nginx; X-Forwarded-Proto from the trusted proxy makes Django secure."""
    server, sock = pool.server("gthread")
    upstream = f"127.0.0.1:{server.port}" if via == "nginx-tcp" else f"unix:{sock}"
    nginx = nginx_factory(upstream, tls=True)
    response = requests.get(nginx.https_url + "/whoami/", verify=str(nginx.cert_path),
                            timeout=10)
    assert response.status_code == 200
    data = response.json()
    assert data["url_scheme"] == "https"
    assert data["is_secure"] is True
    assert data["x_forwarded_proto"] == "https"
    assert data["absolute"] == f"https://127.0.0.1:{nginx.tls_port}/somewhere/"


# --- connections and load ---------------------------------------------------


def test_keepalive_from_nginx_to_client(proxied: Stack) -> None:
    """nginx keeps the client's connection open while workhorse serves each request."""
    assert proxied.nginx is not None
    conn = http.client.HTTPConnection("127.0.0.1", proxied.port, timeout=10)
    ids = []
    try:
        for _ in range(5):
            conn.request("GET", "/hello/")
            response = conn.getresponse()
            assert response.status == 200
            assert response.read() == b"Hello from Django\n"
            assert response.getheader("Connection") == "keep-alive"
            ids.append(response.getheader("X-Request-Id"))
    finally:
        conn.close()

    def ours():
        found = {e["request_id"]: e for e in proxied.nginx.access_entries()}
        return all(i in found for i in ids) and [found[i] for i in ids]

    entries = wait_for(ours, message="the five requests in nginx's access log")
    assert len({e["connection"] for e in entries}) == 1
    assert [e["connection_requests"] for e in entries] == ["1", "2", "3", "4", "5"]
    assert all(e["upstream_status"] == "200" for e in entries)


@pytest.mark.parametrize("kind", ["sync", "gthread", "gevent"])
def test_upstream_keepalive(pool: StackPool, nginx_factory, kind: str) -> None:
    """With nginx's upstream keepalive, gthread and gevent reuse the connection; sync
    closes it."""
    server, _ = pool.server(kind)
    nginx = nginx_factory(f"127.0.0.1:{server.port}", upstream_keepalive=4)
    with requests.Session() as session:
        answers = [session.get(nginx.url + "/whoami/", timeout=10) for _ in range(6)]
    assert all(r.status_code == 200 for r in answers)
    ports = {r.json()["remote_port"] for r in answers}
    if kind != "sync":
        # (nginx itself ends an upstream connection only after keepalive_requests=1000.)
        assert len(ports) == 1, [(r.json()["remote_port"], r.json()["pid"]) for r in answers]
    else:
        assert len(ports) == 6, ports  # one request per connection, like Gunicorn's sync
    assert "upstream prematurely closed" not in nginx.error_log()


def test_many_concurrent_requests_through_nginx(proxied: Stack) -> None:
    """200 requests from 20 threads all succeed, spread over both workers."""
    workers = wait_for(lambda: len(w := proxied.server.workers()) == 2 and w,
                       message="two workers")
    local = threading.local()

    def one(i: int) -> tuple[int, str, bytes]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        if i % 10 == 0:
            body = str(i).encode() * 1000
            r = local.session.post(proxied.url + "/echo/", data=body, timeout=30)
            assert r.content == body
        else:
            r = local.session.get(proxied.url + "/hello/", timeout=30)
            assert r.text == "Hello from Django\n"
        return r.status_code, r.headers.get("X-Worker-Pid", ""), r.content

    with ThreadPoolExecutor(max_workers=20) as executor:
        results = list(executor.map(one, range(200)))
    assert [status for status, _, _ in results] == [200] * 200
    pids = {int(pid) for _, pid, _ in results if pid}
    assert pids == set(workers)


def test_nginx_proxy_read_timeout_leaves_workhorse_healthy(pool: StackPool,
                                                           nginx_factory) -> None:
    """nginx gives up on a slow request (504) and closes; the worker carries on."""
    server, _ = pool.server("sync")
    nginx = nginx_factory(f"127.0.0.1:{server.port}", proxy_read_timeout=0.3)
    response = requests.get(nginx.url + "/slow/?s=1", timeout=10)
    assert response.status_code == 504
    assert "upstream timed out" in nginx.error_log()
    # Both workers answer afterwards, one of them after finishing the slow view
    # and writing to the connection nginx closed.
    for _ in range(4):
        assert requests.get(nginx.url + "/hello/", timeout=10).status_code == 200
    assert set(server.workers()) == server.seen_pids


# --- preload ----------------------------------------------------------------


def test_preload_with_django(server_factory, nginx_factory, django_project: Path,
                             tmp_path: Path) -> None:
    sock = str(tmp_path / "pre.sock")
    port = free_port()
    server = server_factory(["--preload", "-k", "sync", "-w", "2", "--chdir",
                             str(django_project), "-b", f"127.0.0.1:{port}",
                             "-b", f"unix:{sock}", APP], cwd=django_project, port=port)
    nginx = nginx_factory(f"unix:{sock}")
    # Two slow requests at once: each sync worker takes one.
    with ThreadPoolExecutor(max_workers=2) as executor:
        slow = list(executor.map(
            lambda _: requests.get(nginx.url + "/slow/?s=0.4", timeout=10), range(2)))
    assert [r.status_code for r in slow] == [200, 200]
    assert len({r.headers["X-Worker-Pid"] for r in slow}) == 2
    for _ in range(4):
        data = requests.get(nginx.url + "/pid/", timeout=10).json()
        assert data["import_pid"] == server.pid  # imported once, in the master
        assert data["pid"] != server.pid
    direct = json.loads(requests.get(server.url + "/pid/", timeout=10).text)
    assert direct["import_pid"] == server.pid
