"""The real server serves WSGI apps correctly under both worker kinds."""

from __future__ import annotations

import http.client
import json
import socket

import pytest
import requests

from support import raw_request, wait_for

KINDS = [["-k", "sync"], ["-k", "gthread", "--threads", "4"], ["-k", "gthread", "--threads", "1"]]
KIND_IDS = ["sync", "gthread", "gthread1"]


@pytest.fixture(params=KINDS, ids=KIND_IDS)
def server(request, server_factory):
    return server_factory([*request.param, "testapp:app"])


@pytest.fixture(params=KINDS, ids=KIND_IDS)
def validated(request, server_factory):
    return server_factory([*request.param, "testapp:validated_app"])


def test_get_and_headers(server):
    response = requests.get(server.url + "/", timeout=5)
    assert response.status_code == 200
    assert response.text == "ok"
    assert response.headers["Server"].startswith("workhorse")
    assert "Date" in response.headers
    assert response.headers["Content-Length"] == "2"
    assert len(response.headers["X-Request-ID"]) >= 16


def test_post_body_content_length_and_chunked(server):
    body = b"x" * 100_000
    assert requests.post(server.url + "/echo", data=body, timeout=5).content == body
    chunks = (part for part in [b"abc", b"def" * 1000, b"g"])
    response = requests.post(server.url + "/echo", data=chunks, timeout=5)
    assert response.content == b"abc" + b"def" * 1000 + b"g"


def test_a_large_response_read_slowly_arrives_whole(server):
    """Head and a large body go out in one gathered write that the kernel
    takes in parts when the client reads slowly; nothing is lost or reordered."""
    body = bytes(range(256)) * (4 * 1024 * 1024 // 256)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", server.port))
        head = (f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n").encode()
        sock.sendall(head + body)
        chunks = []
        while chunk := sock.recv(1024):
            chunks.append(chunk)
    raw = b"".join(chunks)
    response_head, _, received = raw.partition(b"\r\n\r\n")
    assert response_head.startswith(b"HTTP/1.1 200")
    assert f"Content-Length: {len(body)}".encode() in response_head
    assert received == body


def test_readline_iteration_of_input(server):
    response = requests.post(server.url + "/echo-lines", data=b"a\nbb\nccc", timeout=5)
    assert response.json() == ["a\n", "bb\n", "ccc"]


def test_streaming_response_is_chunked_on_http11(server):
    raw = raw_request(server.port,
                      b"GET /stream?n=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert body == b"7\r\nchunk0\n\r\n7\r\nchunk1\n\r\n7\r\nchunk2\n\r\n0\r\n\r\n"


def test_streaming_response_on_http10_is_close_delimited(server):
    raw = raw_request(server.port, b"GET /stream?n=2 HTTP/1.0\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head
    assert body == b"chunk0\nchunk1\n"


def test_write_callable(server):
    assert requests.get(server.url + "/write", timeout=5).text == "written-returned"


def test_head_has_no_body(server):
    raw = raw_request(server.port, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200")
    assert raw.endswith(b"\r\n\r\n")


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses(server, code):
    raw = raw_request(server.port,
                      f"GET /status?code={code} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                      .encode())
    assert raw.startswith(f"HTTP/1.1 {code}".encode())
    assert raw.endswith(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in raw


def test_app_exception_gives_500_and_is_logged(server):
    response = requests.get(server.url + "/raise", timeout=5)
    assert response.status_code == 500
    wait_for(lambda: "boom from the app" in server.log(), message="traceback in the log")
    assert "Traceback" in server.log()
    # The worker survives.
    assert requests.get(server.url + "/", timeout=5).status_code == 200


def test_exception_after_headers_closes_connection(server):
    raw = raw_request(server.port,
                      b"GET /raise-after-headers HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200")
    # The chunked body never terminates: the client sees an incomplete response.
    assert not raw.endswith(b"0\r\n\r\n")
    wait_for(lambda: "boom after headers" in server.log(), message="traceback in the log")


@pytest.mark.parametrize("path", ["/bad-status", "/bad-header",
                                  "/no-start-response", "/not-iterable"])
def test_broken_apps_get_500(server, path):
    response = requests.get(server.url + path, timeout=5)
    assert response.status_code == 500
    assert "Injected" not in response.headers


def test_hop_by_hop_headers_from_the_app_are_dropped(server):
    raw = raw_request(server.port, b"GET /hop-by-hop HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200")
    assert b"keep-alive" not in raw.lower().split(b"\r\n\r\n")[0]


def test_close_raising_is_logged_but_response_is_sent(server):
    response = requests.get(server.url + "/close-raises", timeout=5)
    assert response.status_code == 200
    assert response.text == "body"
    wait_for(lambda: "close failed" in server.log(), message="close error logged")


def test_exc_info_before_headers_replaces_the_response(server):
    response = requests.get(server.url + "/exc-info", timeout=5)
    assert response.status_code == 500
    assert response.text == "recovered"


def test_file_wrapper(server):
    response = requests.get(server.url + "/file?size=300001", timeout=5)
    assert response.status_code == 200
    assert len(response.content) == 300001
    assert response.content[:256] == bytes(range(256))
    assert response.headers["Content-Length"] == "300001"


def test_malformed_request_gets_400_and_is_logged(server):
    raw = raw_request(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400")
    assert b"Connection: close" in raw
    wait_for(lambda: "Invalid request" in server.log(), message="the 400 in the log")


def test_request_line_too_long_gets_414(server):
    raw = raw_request(server.port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 414")


def test_too_many_headers_gets_431(server):
    headers = b"".join(b"X-%d: y\r\n" % i for i in range(150))
    raw = raw_request(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert raw.startswith(b"HTTP/1.1 431")


def test_wsgi_validator_runs_clean(validated):
    for path in ["/", "/echo", "/stream", "/write", "/environ", "/file?size=5000"]:
        response = requests.post(validated.url + path, data=b"payload", timeout=5)
        assert response.status_code == 200, (path, response.text)
    assert "AssertionError" not in validated.log()
    assert "WSGIWarning" not in validated.log()


def test_environ_contents(server):
    env = requests.get(server.url + "/environ?a=1&b=%20", headers={"X-Custom": "v"},
                       timeout=5).json()
    assert env["REQUEST_METHOD"] == "GET"
    assert env["QUERY_STRING"] == "a=1&b=%20"
    assert env["PATH_INFO"] == "/environ"
    assert env["SCRIPT_NAME"] == ""
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_PORT"] == str(server.port)
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["HTTP_X_CUSTOM"] == "v"
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.input_terminated"] is True
    assert env["wsgi.version"] == [1, 0]


def test_percent_decoded_path_info(server):
    env = requests.get(server.url + "/environ/caf%C3%A9%2Fx", timeout=5)
    assert env.status_code == 404  # routed by PATH_INFO: decoded, not /environ


def test_scheme_from_trusted_proxy_only(server):
    env = requests.get(server.url + "/environ", headers={"X-Forwarded-Proto": "https"},
                       timeout=5).json()
    assert env["wsgi.url_scheme"] == "https"  # 127.0.0.1 is in forwarded_allow_ips


def test_underscore_headers_are_dropped(server):
    env = requests.get(server.url + "/environ",
                       headers={"X_Forwarded_For": "6.6.6.6", "X-Forwarded-For": "1.2.3.4"},
                       timeout=5).json()
    assert env["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"


def test_expect_100_continue(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"hello")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    assert data.endswith(b"hello")


def test_many_sequential_clients(server):
    with requests.Session() as session:
        for i in range(200):
            assert session.get(server.url + "/", timeout=5).text == "ok", i


def test_http_client_keepalive(server_factory):
    # A long keep-alive: on a loaded 2-core machine the client itself can stall
    # for longer than the 2 s default between two requests.
    server = server_factory(["-k", "gthread", "--threads", "2", "--keep-alive", "30",
                             "testapp:app"])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    pids = set()
    for _ in range(5):
        conn.request("GET", "/pid")
        response = conn.getresponse()
        pids.add(response.read())
        assert response.getheader("Connection") is None
    conn.close()
    assert len(pids) == 1


def test_pipelined_requests_gthread(server_factory):
    server = server_factory(["-k", "gthread", "--threads", "2", "testapp:app"])
    raw = raw_request(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.count(b"HTTP/1.1 200 OK") == 3


def test_sync_closes_after_each_response(server_factory):
    server = server_factory(["-k", "sync", "testapp:app"])
    raw = raw_request(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"Connection: close" in raw


def test_factory_call_syntax(server_factory):
    server = server_factory(["testapp:factory('hi', punctuation='?')"])
    assert requests.get(server.url + "/", timeout=5).text == "hi?"


def test_demo_app(server_factory):
    server = server_factory(["workhorse.demo:app"])
    assert requests.get(server.url + "/hello", timeout=5).text == "Hello, World!"
    assert json.loads(requests.get(server.url + "/json", timeout=5).text)["server"] == "workhorse"


def test_unix_socket_listener(server_factory, tmp_path):
    path = tmp_path / "wh.sock"
    server = server_factory(["-b", f"unix:{path}", "testapp:app"], wait=False)
    wait_for(path.exists, message="the unix socket")

    def get() -> bytes:
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(5)
                sock.connect(str(path))
                sock.sendall(b"GET /environ HTTP/1.1\r\nHost: example.org:81\r\n"
                             b"Connection: close\r\n\r\n")
                out = b""
                while chunk := sock.recv(65536):
                    out += chunk
                return out
        except OSError:
            return b""

    raw = wait_for(get, message="an answer on the unix socket")
    env = json.loads(raw.partition(b"\r\n\r\n")[2])
    assert env["SERVER_NAME"] == "example.org"
    assert env["SERVER_PORT"] == "81"
    assert env["REMOTE_ADDR"] == ""
    server.stop()
    assert not path.exists()
