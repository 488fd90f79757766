"""A real Flask app served by workhorse, directly and behind nginx (TCP and UNIX socket).

Every ``stack`` test runs under sync and gthread workers, directly, behind
nginx over TCP and behind nginx over a UNIX socket (see conftest.py).
"""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest
import requests
from interop_apps import BIG_FILE_SIZE, big_file_bytes, sha256, write_flask_app
from interop_stacks import Stack, stack_pool

pytestmark = pytest.mark.nginx

APP = "flaskapp:app"


@pytest.fixture(scope="module")
def flask_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_flask_app(tmp_path_factory.mktemp("flask"))


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory, flask_dir: Path):
    with stack_pool(tmp_path_factory.mktemp("flask-stacks"), [APP], flask_dir) as pool:
        yield pool


def get(stack: Stack, path: str, **kwargs) -> requests.Response:
    kwargs.setdefault("timeout", 10)
    return requests.get(stack.url + path, **kwargs)


def test_index(stack: Stack) -> None:
    response = get(stack, "/")
    assert response.status_code == 200
    assert response.text == "Hello from Flask\n"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


def test_streaming_with_stream_with_context(stack: Stack) -> None:
    response = get(stack, "/stream?n=300&tag=abc", stream=True)
    assert response.status_code == 200
    assert "Content-Length" not in response.headers  # a generator: no length known
    lines = list(response.iter_lines())
    assert lines == [f"abc-{i}".encode() for i in range(300)]


def test_send_file(stack: Stack) -> None:
    expected = big_file_bytes()
    response = get(stack, "/file")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(BIG_FILE_SIZE)
    assert response.headers["Accept-Ranges"] == "bytes"
    assert sha256(response.content) == sha256(expected)
    etag = response.headers["ETag"]
    # Conditional GET: Flask answers 304 with no body.
    again = get(stack, "/file", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    # A range: Werkzeug wraps the file wrapper and sends only the slice.
    part = get(stack, "/file", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{BIG_FILE_SIZE}"
    assert part.content == expected[1000:2000]


def test_head_of_a_file_then_get_on_one_connection(stack: Stack) -> None:
    """HEAD of a sendfile response sends no body: the next response on the connection is intact."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
    try:
        conn.request("HEAD", "/file")
        head = conn.getresponse()
        assert head.status == 200
        assert head.getheader("Content-Length") == str(BIG_FILE_SIZE)
        assert head.read() == b""
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200
        assert response.read() == b"Hello from Flask\n"
    finally:
        conn.close()


def test_json(stack: Stack) -> None:
    payload = {"items": list(range(1000)), "name": "caf\u00e9 \u2603"}
    response = requests.post(stack.url + "/json", json=payload, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"received": payload, "count": 1000, "total": 499500}


def test_multipart_form_with_file(stack: Stack) -> None:
    upload = big_file_bytes(1024 * 1024 + 5)
    response = requests.post(stack.url + "/form", timeout=20,
                             data={"name": "value", "multi": ["a", "b"]},
                             files={"upload": ("data.bin", upload, "application/octet-stream")})
    assert response.status_code == 200
    assert response.json() == {
        "fields": {"name": ["value"], "multi": ["a", "b"]},
        "files": {"upload": {"filename": "data.bin", "sha256": sha256(upload)}},
    }


def test_urlencoded_form(stack: Stack) -> None:
    response = requests.post(stack.url + "/form", data={"q": "a b&c", "e": "\u00e9"}, timeout=10)
    assert response.json() == {"fields": {"q": ["a b&c"], "e": ["\u00e9"]}, "files": {}}


def test_chunked_request_body(stack: Stack) -> None:
    parts = [b"a" * 10, b"b" * 100_000, b"c" * 70_000]
    body = b"".join(parts)
    response = requests.post(stack.url + "/raw", data=iter(parts), timeout=20)
    assert response.status_code == 200
    data = response.json()
    assert (data["length"], data["sha256"]) == (len(body), sha256(body))
    if stack.proxied:
        # nginx buffers the chunked body and sends it with a length.
        assert (data["content_length"], data["chunked"]) == (str(len(body)), None)
    else:
        # workhorse de-chunks it; Werkzeug reads to the end (wsgi.input_terminated).
        assert (data["content_length"], data["chunked"]) == (None, "chunked")


def test_session_and_cookies(stack: Stack) -> None:
    with requests.Session() as session:
        first = session.get(stack.url + "/session/set?name=ada", timeout=10)
        assert first.json() == {"count": 1}
        cookies = first.raw.headers.getlist("Set-Cookie")
        assert len(cookies) == 2
        assert all("HttpOnly" in cookie for cookie in cookies)
        assert session.get(stack.url + "/session/set?name=ada", timeout=10).json() == \
            {"count": 2}
        got = session.get(stack.url + "/session/get", timeout=10).json()
    assert got == {"name": "ada", "count": 2, "plain": "cookie-value"}
    # Without the cookies the session is empty.
    assert get(stack, "/session/get").json() == {"name": None, "count": None, "plain": None}


def test_redirects_use_the_host_through_nginx(stack: Stack) -> None:
    response = get(stack, "/redirect", allow_redirects=False)
    assert response.status_code == 302
    # url_for(_external=True) builds from Host, which nginx passes unchanged.
    assert response.headers["Location"] == f"http://127.0.0.1:{stack.port}/target?q=1"
    followed = get(stack, "/redirect")
    assert followed.json() == {"arrived": True, "q": "1"}
    assert followed.history[0].status_code == 302
    relative = get(stack, "/redirect-relative", allow_redirects=False)
    assert relative.status_code == 301
    assert relative.headers["Location"] == "/target"  # proxy_redirect off: untouched


def test_scheme_and_client(stack: Stack) -> None:
    data = get(stack, "/scheme").json()
    assert data["scheme"] == "http"
    assert data["url"] == f"http://127.0.0.1:{stack.port}/scheme"
    assert data["host"] == f"127.0.0.1:{stack.port}"
    if stack.via == "nginx-unix":
        assert data["remote_addr"] in ("", None)
    else:
        assert data["remote_addr"] == "127.0.0.1"
    assert data["forwarded_for"] == ("127.0.0.1" if stack.proxied else None)
    # Through nginx, a client's X-Forwarded-Proto is replaced by nginx's $scheme.
    spoof = get(stack, "/scheme", headers={"X-Forwarded-Proto": "https"}).json()
    if stack.proxied:
        assert spoof["scheme"] == "http"
    else:  # directly from 127.0.0.1, a default trusted forwarder
        assert spoof["scheme"] == "https"
        assert spoof["url"] == f"https://127.0.0.1:{stack.port}/scheme"


def test_error_pages(stack: Stack) -> None:
    teapot = get(stack, "/teapot")
    assert teapot.status_code == 418
    assert "<h1>I&#39;m a teapot</h1>" in teapot.text
    missing = get(stack, "/missing")
    assert missing.status_code == 404
    assert "<h1>Not Found</h1>" in missing.text
    boom = get(stack, "/boom")
    assert boom.status_code == 500
    assert "<h1>Internal Server Error</h1>" in boom.text
    assert get(stack, "/").status_code == 200
