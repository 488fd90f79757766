"""Response framing and validation: send_response / send_data / send_end."""

from __future__ import annotations

import pytest

from workhorse.http import (
    NEED_DATA,
    PAUSED,
    EndOfMessage,
    LocalProtocolError,
    Request,
    ServerConnection,
    error_response,
    http_date,
)
from workhorse.http.dates import format_http_date


def connection_with(request: bytes, server_name: str = "workhorse") -> ServerConnection:
    """A connection that has read ``request`` completely (it is PAUSED)."""
    conn = ServerConnection(server_name=server_name)
    conn.receive_data(request)
    assert isinstance(conn.next_event(), Request)
    while not isinstance(conn.next_event(), EndOfMessage):
        pass
    assert conn.next_event() is PAUSED
    return conn


GET11 = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
GET10 = b"GET / HTTP/1.0\r\n\r\n"
GET10_KEEP = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
HEAD11 = b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"


def head_lines(head: bytes) -> list[str]:
    assert head.endswith(b"\r\n\r\n")
    return head[:-4].decode("latin-1").split("\r\n")


def fields(head: bytes) -> dict[str, str]:
    out = {}
    for line in head_lines(head)[1:]:
        name, _, value = line.partition(": ")
        assert name.lower() not in out, f"duplicate {name}"
        out[name.lower()] = value
    return out


# -- framing -------------------------------------------------------------


def test_chunked_when_http11_and_no_length() -> None:
    conn = connection_with(GET11)
    head = conn.send_response(200, [("Content-Type", "text/plain")])
    assert head_lines(head)[0] == "HTTP/1.1 200 OK"
    assert fields(head)["transfer-encoding"] == "chunked"
    assert "connection" not in fields(head)
    assert conn.send_data(b"hello") == b"5\r\nhello\r\n"
    assert conn.send_data(b"") == b""  # never a premature last chunk
    assert conn.send_data(b"x" * 300) == b"12c\r\n" + b"x" * 300 + b"\r\n"
    assert conn.send_end() == b"0\r\n\r\n"
    assert conn.keep_alive
    assert conn.response_complete


def test_content_length_from_the_application() -> None:
    conn = connection_with(GET11)
    head = conn.send_response(200, [("Content-Length", "10")])
    assert fields(head)["content-length"] == "10"
    assert "transfer-encoding" not in fields(head)
    assert conn.send_data(b"hello") == b"hello"
    assert conn.send_data(bytearray(b"world")) == b"world"
    assert conn.send_end() == b""
    assert conn.keep_alive


def test_content_length_overrun_is_refused() -> None:
    conn = connection_with(GET11)
    conn.send_response(200, [("Content-Length", "3")])
    assert conn.send_data(b"ab") == b"ab"
    with pytest.raises(LocalProtocolError, match="longer than its Content-Length"):
        conn.send_data(b"cd")
    assert not conn.keep_alive


def test_content_length_underrun_closes_the_connection() -> None:
    conn = connection_with(GET11)
    conn.send_response(200, [("Content-Length", "3")])
    conn.send_data(b"ab")
    assert conn.keep_alive  # so far
    assert conn.send_end() == b""
    assert not conn.keep_alive
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()


@pytest.mark.parametrize("value", ["-1", "1.0", " 5", "0x5", "", "5, 5", "\xb2"])
def test_invalid_content_length_from_the_application(value: str) -> None:
    conn = connection_with(GET11)
    with pytest.raises(LocalProtocolError, match="Content-Length"):
        conn.send_response(200, [("Content-Length", value)])


def test_duplicate_content_length_from_the_application() -> None:
    conn = connection_with(GET11)
    with pytest.raises(LocalProtocolError, match="more than one"):
        conn.send_response(200, [("Content-Length", "1"), ("content-length", "1")])


def test_head_response_has_no_body_and_keeps_the_length() -> None:
    conn = connection_with(HEAD11)
    head = conn.send_response(200, [("Content-Length", "1234")])
    assert fields(head)["content-length"] == "1234"
    assert "transfer-encoding" not in fields(head)
    assert conn.send_data(b"x" * 1234) == b""
    assert conn.send_end() == b""
    assert conn.keep_alive


def test_head_response_without_length_adds_no_framing() -> None:
    conn = connection_with(HEAD11)
    head = conn.send_response(200, [("Content-Type", "text/html")])
    assert "transfer-encoding" not in fields(head)
    assert "content-length" not in fields(head)
    assert conn.send_data(b"<html>") == b""
    assert conn.send_end() == b""
    assert conn.keep_alive


def test_204_drops_content_length_and_body() -> None:
    # RFC 9110 8.6: no Content-Length in a 204 (Django's CommonMiddleware adds one).
    conn = connection_with(GET11)
    head = conn.send_response(204, [("Content-Length", "0"), ("X-A", "b")])
    assert fields(head).keys() >= {"x-a", "date", "server"}
    assert "content-length" not in fields(head)
    assert "transfer-encoding" not in fields(head)
    assert conn.send_data(b"ignored") == b""
    assert conn.send_end() == b""
    assert conn.keep_alive


def test_304_keeps_content_length_and_drops_body() -> None:
    conn = connection_with(GET11)
    head = conn.send_response(304, [("Content-Length", "99"), ("ETag", '"x"')])
    assert fields(head)["content-length"] == "99"
    assert "transfer-encoding" not in fields(head)
    assert conn.send_data(b"ignored") == b""
    assert conn.send_end() == b""
    assert conn.keep_alive


def test_http10_without_length_is_delimited_by_close() -> None:
    conn = connection_with(GET10_KEEP)
    head = conn.send_response(200, [])
    assert head_lines(head)[0] == "HTTP/1.1 200 OK"
    assert fields(head)["connection"] == "close"
    assert "transfer-encoding" not in fields(head)
    assert conn.send_data(b"raw") == b"raw"
    assert conn.send_end() == b""
    assert not conn.keep_alive


def test_http10_keep_alive_with_length() -> None:
    conn = connection_with(GET10_KEEP)
    head = conn.send_response(200, [("Content-Length", "2")])
    assert fields(head)["connection"] == "keep-alive"
    conn.send_data(b"ok")
    conn.send_end()
    assert conn.keep_alive
    conn.start_next_cycle()


def test_http10_default_closes() -> None:
    conn = connection_with(GET10)
    head = conn.send_response(200, [("Content-Length", "2")])
    assert fields(head)["connection"] == "close"
    conn.send_data(b"ok")
    conn.send_end()
    assert not conn.keep_alive


def test_client_connection_close_is_echoed() -> None:
    conn = connection_with(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    head = conn.send_response(200, [("Content-Length", "0")])
    assert fields(head)["connection"] == "close"
    conn.send_end()
    assert not conn.keep_alive


def test_close_after_response() -> None:
    conn = connection_with(GET11)
    conn.close_after_response()
    head = conn.send_response(200, [("Content-Length", "0")])
    assert fields(head)["connection"] == "close"
    conn.send_end()
    assert not conn.keep_alive
    with pytest.raises(LocalProtocolError, match="must close"):
        conn.start_next_cycle()


# -- the head ------------------------------------------------------------


def test_date_and_server_are_added() -> None:
    conn = connection_with(GET11, server_name="workhorse/0.1.0")
    head = conn.send_response(200, [("Content-Length", "0")])
    assert fields(head)["server"] == "workhorse/0.1.0"
    assert fields(head)["date"].endswith(" GMT")


def test_date_and_server_from_the_application_are_kept() -> None:
    conn = connection_with(GET11)
    date = "Sun, 06 Nov 1994 08:49:37 GMT"
    head = conn.send_response(200, [("date", date), ("SERVER", "app"), ("Content-Length", "0")])
    assert fields(head)["date"] == date
    assert fields(head)["server"] == "app"


def test_header_order_and_case_are_kept() -> None:
    conn = connection_with(GET11)
    head = conn.send_response(
        200, [("X-b", "1"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("x-A", "2")]
    )
    assert head_lines(head)[1:5] == ["X-b: 1", "Set-Cookie: a=1", "Set-Cookie: b=2", "x-A: 2"]


def test_value_with_tab_and_obs_text() -> None:
    conn = connection_with(GET11)
    head = conn.send_response(200, [("X-A", "a\tb"), ("X-B", "caf\xe9")])
    assert b"X-A: a\tb\r\n" in head
    assert b"X-B: caf\xe9\r\n" in head


@pytest.mark.parametrize(
    ("status", "reason", "line"),
    [
        (200, None, "HTTP/1.1 200 OK"),
        (404, None, "HTTP/1.1 404 Not Found"),
        (418, None, "HTTP/1.1 418 I'm a Teapot"),
        (299, None, "HTTP/1.1 299 "),
        (200, "Fine", "HTTP/1.1 200 Fine"),
        (599, "Custom\tReason", "HTTP/1.1 599 Custom\tReason"),
        (500, "", "HTTP/1.1 500 "),
    ],
)
def test_status_line(status: int, reason: str | None, line: str) -> None:
    conn = connection_with(GET11)
    assert head_lines(conn.send_response(status, [], reason=reason))[0] == line


@pytest.mark.parametrize("status", [99, 600, 0, -200, "200", 200.0, True, 100, 101, 103])
def test_invalid_status(status: object) -> None:
    conn = connection_with(GET11)
    with pytest.raises(LocalProtocolError):
        conn.send_response(status, [])  # type: ignore[arg-type]
    assert not conn.response_started


@pytest.mark.parametrize("reason", ["OK\r\nX-Injected: 1", "a\nb", "a\x00", 5])
def test_invalid_reason(reason: object) -> None:
    conn = connection_with(GET11)
    with pytest.raises(LocalProtocolError, match="reason"):
        conn.send_response(200, [], reason=reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["", "X A", "X:A", "X\r\nY", "Caf\xe9", "X\x00", "(x)", 5, b"X-A", None]
)
def test_invalid_header_name(name: object) -> None:
    conn = connection_with(GET11)
    with pytest.raises(LocalProtocolError):
        conn.send_response(200, [(name, "v")])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "value",
    ["a\r\nSet-Cookie: evil=1", "a\nb", "a\rb", "a\x00b", "a\x7f", "\x1b[0m", "a\x0bb", 5, b"v"],
)
def test_header_injection_is_refused(value: object) -> None:
    conn = connection_with(GET11)
    with pytest.raises(LocalProtocolError):
        conn.send_response(200, [("X-A", value)])  # type: ignore[list-item]
    assert not conn.response_started


def test_non_latin1_value_is_refused() -> None:
    conn = connection_with(GET11)
    with pytest.raises(LocalProtocolError, match="latin-1"):
        conn.send_response(200, [("X-A", "\u20ac")])


def test_malformed_header_items_are_refused() -> None:
    conn = connection_with(GET11)
    with pytest.raises((LocalProtocolError, ValueError)):
        conn.send_response(200, [("X-A",)])  # type: ignore[list-item]
    with pytest.raises(LocalProtocolError):
        conn.send_response(200, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    ["Connection", "keep-alive", "Proxy-Connection", "Transfer-Encoding", "TE", "Trailer",
     "UPGRADE"],
)  # fmt: skip
def test_hop_by_hop_headers_from_the_application_are_refused(name: str) -> None:
    conn = connection_with(GET11)
    with pytest.raises(LocalProtocolError, match="hop-by-hop"):
        conn.send_response(200, [(name, "close")])


# -- call order ----------------------------------------------------------


def test_response_needs_a_request() -> None:
    conn = ServerConnection()
    with pytest.raises(LocalProtocolError, match="no request"):
        conn.send_response(200, [])
    conn.receive_data(b"GET / HTT")
    assert conn.next_event() is NEED_DATA
    with pytest.raises(LocalProtocolError, match="no request"):
        conn.send_response(200, [])


def test_one_response_per_request() -> None:
    conn = connection_with(GET11)
    conn.send_response(200, [])
    with pytest.raises(LocalProtocolError, match="already started"):
        conn.send_response(200, [])


def test_data_and_end_need_a_started_response() -> None:
    conn = connection_with(GET11)
    with pytest.raises(LocalProtocolError):
        conn.send_data(b"x")
    with pytest.raises(LocalProtocolError):
        conn.send_end()
    conn.send_response(200, [])
    conn.send_end()
    with pytest.raises(LocalProtocolError):
        conn.send_data(b"x")
    with pytest.raises(LocalProtocolError):
        conn.send_end()


def test_response_before_the_body_is_read() -> None:
    conn = ServerConnection()
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello")
    assert isinstance(conn.next_event(), Request)
    conn.send_response(413, [("Content-Length", "0")])
    conn.send_end()
    assert not conn.keep_alive  # the body is unread: its bytes would be taken for a request
    with pytest.raises(LocalProtocolError, match="before the exchange is complete"):
        conn.start_next_cycle()
    # Draining the body makes the connection reusable again.
    assert conn.next_event().data == b"hello"  # type: ignore[union-attr]
    conn.receive_data(b"world")
    assert conn.next_event().data == b"world"  # type: ignore[union-attr]
    assert conn.request_body_complete
    assert conn.keep_alive
    assert isinstance(conn.next_event(), EndOfMessage)
    conn.start_next_cycle()


# -- error_response and dates ---------------------------------------------


def test_error_response() -> None:
    raw = error_response(400, server_name="workhorse/0.1.0")
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "HTTP/1.1 400 Bad Request"
    got = dict(line.split(": ", 1) for line in lines[1:])
    assert got["Connection"] == "close"
    assert got["Content-Type"] == "text/plain; charset=utf-8"
    assert got["Server"] == "workhorse/0.1.0"
    assert got["Date"].endswith("GMT")
    assert int(got["Content-Length"]) == len(body)
    assert body == b"Bad Request\n"


def test_error_response_message_and_extra_headers() -> None:
    raw = error_response(
        503, "Service unavailable: d\u00e9marrage", extra_headers=[("Retry-After", "5")]
    )
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"\r\nRetry-After: 5" in head
    assert body == "Service unavailable: d\u00e9marrage\n".encode()
    assert f"Content-Length: {len(body)}".encode() in head


@pytest.mark.parametrize(
    "extra", [[("Content-Length", "1")], [("Connection", "keep-alive")], [("X", "a\r\nb")]]
)
def test_error_response_refuses_conflicting_or_bad_headers(extra: list[tuple[str, str]]) -> None:
    with pytest.raises(LocalProtocolError):
        error_response(500, extra_headers=extra)


def test_error_response_for_unknown_status() -> None:
    assert error_response(599).startswith(b"HTTP/1.1 599 \r\n")
    assert error_response(599).endswith(b"\r\n\r\n599\n")


def test_http_date() -> None:
    # The example of RFC 9110 5.6.7.
    assert format_http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert http_date(784111777.9) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert http_date(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT"
    now = http_date()
    assert len(now) == 29
    assert now.endswith(" GMT")


def test_server_name_is_validated() -> None:
    with pytest.raises(LocalProtocolError):
        ServerConnection(server_name="evil\r\nX: 1")
    with pytest.raises(LocalProtocolError):
        ServerConnection(server_name="")


# -- trailers and what is left to send ---------------------------------------


def read_back_chunked(body: bytes) -> tuple[bytes, list[tuple[str, str]]]:
    """Parse a chunked body with our own request parser: the bytes and the trailers."""
    reader = ServerConnection()
    reader.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert isinstance(reader.next_event(), Request)
    data = b""
    while True:
        event = reader.next_event()
        if isinstance(event, EndOfMessage):
            return data, event.trailers
        data += event.data  # type: ignore[union-attr]


def test_chunked_body_ends_with_trailer_fields() -> None:
    conn = connection_with(GET11)
    head = conn.send_response(200, [("Trailer", "X-Checksum")], trailers=True)
    assert fields(head)["trailer"] == "X-Checksum"
    assert fields(head)["transfer-encoding"] == "chunked"
    body = conn.send_data(b"hello")
    end = conn.send_end([("X-Checksum", "abc"), ("Server-Timing", "db;dur=5")])
    assert end == b"0\r\nX-Checksum: abc\r\nServer-Timing: db;dur=5\r\n\r\n"
    assert read_back_chunked(body + end) == (
        b"hello", [("X-CHECKSUM", "abc"), ("SERVER-TIMING", "db;dur=5")])
    assert conn.response_complete and conn.keep_alive


def test_trailer_field_needs_trailers_announced() -> None:
    conn = connection_with(GET11)
    with pytest.raises(LocalProtocolError, match="hop-by-hop"):
        conn.send_response(200, [("Trailer", "X-Checksum")])


@pytest.mark.parametrize(
    ("request_bytes", "headers"),
    [(GET11, [("Content-Length", "5")]), (HEAD11, []), (GET10, [])],
    ids=["content-length", "head", "http/1.0"],
)
def test_trailers_are_dropped_when_the_framing_cannot_carry_them(
    request_bytes: bytes, headers: list[tuple[str, str]]
) -> None:
    conn = connection_with(request_bytes)
    conn.send_response(200, headers, trailers=True)
    conn.send_data(b"hello")
    assert conn.send_end([("X-Checksum", "abc")]) == b""
    assert conn.response_complete


@pytest.mark.parametrize(
    "trailer",
    [("Content-Length", "5"), ("transfer-encoding", "chunked"), ("X-Forwarded-For", "1.2.3.4"),
     ("Bad Name", "x"), ("X-Ok", "a\r\nInjected: 1"), ("X-Ok", "\u20ac"), ("X-Ok", 5),
     ("only-one",)],
)  # fmt: skip
def test_bad_trailer_fields_are_refused_and_the_body_stays_open(trailer: object) -> None:
    conn = connection_with(GET11)
    conn.send_response(200, [])
    with pytest.raises(LocalProtocolError):
        conn.send_end([trailer])  # type: ignore[list-item]
    assert not conn.response_complete
    assert conn.send_end() == b"0\r\n\r\n"


def test_content_length_left() -> None:
    conn = connection_with(GET11)
    assert conn.content_length_left == 0
    conn.send_response(200, [("Content-Length", "10")])
    assert conn.content_length_left == 10
    conn.send_data(b"abcd")
    assert conn.content_length_left == 6
    chunked = connection_with(GET11)
    chunked.send_response(200, [])
    chunked.send_data(b"abcd")
    assert chunked.content_length_left == 0
    head = connection_with(HEAD11)
    head.send_response(200, [("Content-Length", "10")])
    assert head.content_length_left == 0  # HEAD owes no body


def test_server_name_is_kept_for_answers_built_elsewhere() -> None:
    assert ServerConnection(server_name="edge/1").server_name == "edge/1"
