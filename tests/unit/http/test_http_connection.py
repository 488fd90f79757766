"""The connection state machine, and a client/server pair talking through memory."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable

import pytest

from workhorse.http import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Limits,
    LocalProtocolError,
    ProtocolError,
    Request,
    ServerConnection,
)

GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"


def answer(conn: ServerConnection, body: bytes = b"") -> bytes:
    out = conn.send_response(200, [("Content-Length", str(len(body)))])
    return out + conn.send_data(body) + conn.send_end()


# -- the client's side -----------------------------------------------------


def test_events_of_a_get() -> None:
    conn = ServerConnection()
    assert conn.next_event() is NEED_DATA
    conn.receive_data(GET)
    request = conn.next_event()
    assert isinstance(request, Request)
    assert conn.request is request
    assert conn.request_body_complete
    assert isinstance(conn.next_event(), EndOfMessage)
    assert conn.next_event() is PAUSED
    assert conn.next_event() is PAUSED


def test_pipelined_request_waits_for_the_next_cycle() -> None:
    conn = ServerConnection()
    conn.receive_data(GET + b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3")
    assert isinstance(conn.next_event(), Request)
    assert isinstance(conn.next_event(), EndOfMessage)
    assert conn.next_event() is PAUSED
    assert conn.trailing_data == b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3"
    with pytest.raises(LocalProtocolError, match="before the exchange is complete"):
        conn.start_next_cycle()  # no response yet
    answer(conn)
    conn.start_next_cycle()
    second = conn.next_event()
    assert isinstance(second, Request)
    assert second.target == "/2"
    assert isinstance(conn.next_event(), EndOfMessage)
    answer(conn)
    conn.start_next_cycle()
    assert conn.next_event() is NEED_DATA
    assert conn.trailing_data == b"GET /3"


def test_start_next_cycle_needs_the_request_read() -> None:
    conn = ServerConnection()
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nab")
    assert isinstance(conn.next_event(), Request)
    answer(conn)
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()


def test_start_next_cycle_with_end_of_message_unread() -> None:
    # The body is complete even if EndOfMessage was not fetched: the next
    # cycle may start (trailers, if any, are dropped).
    conn = ServerConnection()
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok" + GET)
    assert isinstance(conn.next_event(), Request)
    assert conn.next_event() == Data(b"ok")
    assert conn.request_body_complete
    answer(conn)
    conn.start_next_cycle()
    assert isinstance(conn.next_event(), Request)


def test_body_data_arrives_as_it_comes() -> None:
    conn = ServerConnection()
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n")
    assert isinstance(conn.next_event(), Request)
    assert conn.next_event() is NEED_DATA
    assert not conn.request_body_complete
    conn.receive_data(b"abc")
    assert conn.next_event() == Data(b"abc")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"defghij" + b"GET")
    assert conn.next_event() == Data(b"defghij")
    assert conn.request_body_complete
    assert conn.next_event() == EndOfMessage([])
    assert conn.trailing_data == b"GET"


def test_chunked_data_arrives_before_the_chunk_is_complete() -> None:
    conn = ServerConnection()
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nab")
    assert isinstance(conn.next_event(), Request)
    assert conn.next_event() == Data(b"ab")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"cdefghijklmnop\r\n0\r\nX-T: 1\r\n\r\n")
    assert conn.next_event() == Data(b"cdefghijklmnop")
    assert conn.next_event() == EndOfMessage([("X-T", "1")])
    assert conn.next_event() is PAUSED


def test_large_body_in_one_buffer_is_not_copied() -> None:
    conn = ServerConnection()
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n")
    assert isinstance(conn.next_event(), Request)
    block = bytes(1_000_000)
    conn.receive_data(block)
    event = conn.next_event()
    assert isinstance(event, Data)
    assert event.data is block


def test_protocol_errors_are_sticky() -> None:
    conn = ServerConnection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n")
    with pytest.raises(ProtocolError) as first:
        conn.next_event()
    assert first.value.status == 400
    assert first.value.phrase == "Bad Request"
    assert "Content-Length" in first.value.reason
    with pytest.raises(ProtocolError) as again:
        conn.next_event()
    assert again.value is first.value
    assert not conn.keep_alive


def test_error_in_the_body_still_allows_a_closing_response() -> None:
    conn = ServerConnection()
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert isinstance(conn.next_event(), Request)
    with pytest.raises(ProtocolError):
        conn.next_event()
    head = conn.send_response(400, [("Content-Length", "0")])
    assert b"\r\nConnection: close\r\n" in head
    conn.send_end()
    assert not conn.keep_alive


def test_eof_between_requests() -> None:
    conn = ServerConnection()
    conn.receive_data(b"")
    assert conn.client_closed
    assert isinstance(conn.next_event(), ConnectionClosed)
    assert isinstance(conn.next_event(), ConnectionClosed)
    with pytest.raises(LocalProtocolError, match="after the end"):
        conn.receive_data(b"GET")
    conn.receive_data(b"")  # repeating the EOF is harmless


def test_eof_after_a_full_request_still_gets_an_answer() -> None:
    # A client may half-close after sending its request (printf ... | nc).
    conn = ServerConnection()
    conn.receive_data(GET)
    conn.receive_data(b"")
    assert isinstance(conn.next_event(), Request)
    assert isinstance(conn.next_event(), EndOfMessage)
    assert conn.next_event() is PAUSED
    head = conn.send_response(200, [("Content-Length", "0")])
    assert b"\r\nConnection: close\r\n" in head
    conn.send_end()
    assert not conn.keep_alive


def test_expect_100_continue() -> None:
    conn = ServerConnection()
    conn.receive_data(
        b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    )
    request = conn.next_event()
    assert isinstance(request, Request) and request.expect_continue
    assert conn.send_continue() == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert conn.send_continue() == b""  # once
    conn.receive_data(b"hello")
    assert conn.next_event() == Data(b"hello")
    assert isinstance(conn.next_event(), EndOfMessage)
    assert answer(conn).startswith(b"HTTP/1.1 200 OK\r\n")
    assert conn.keep_alive


def test_expect_100_continue_refused_without_reading_the_body() -> None:
    # The client may never send the body: we cannot tell body from the next request.
    conn = ServerConnection()
    conn.receive_data(
        b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    )
    assert isinstance(conn.next_event(), Request)
    head = conn.send_response(413, [("Content-Length", "0")])
    assert b"\r\nConnection: close\r\n" in head
    assert conn.send_continue() == b""  # too late
    conn.send_end()
    assert not conn.keep_alive


def test_no_continue_without_expectation_or_after_the_body() -> None:
    conn = ServerConnection()
    assert conn.send_continue() == b""
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx")
    assert isinstance(conn.next_event(), Request)
    assert conn.send_continue() == b""
    conn = ServerConnection()
    conn.receive_data(
        b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx"
    )
    assert isinstance(conn.next_event(), Request)
    assert conn.next_event() == Data(b"x")
    assert conn.send_continue() == b""  # the client did not wait


def test_keep_alive_before_any_request() -> None:
    assert ServerConnection().keep_alive


def test_receive_data_accepts_bytes_like() -> None:
    conn = ServerConnection()
    conn.receive_data(bytearray(b"GET / HTTP/1.1\r\n"))
    conn.receive_data(memoryview(b"Host: a\r\n\r\n"))
    assert isinstance(conn.next_event(), Request)


# -- the request head ------------------------------------------------------


def test_request_fields() -> None:
    conn = ServerConnection()
    conn.receive_data(
        b"POST /p/a%20th?x=1&y HTTP/1.1\r\nHost: h:80\r\nCookie: a=1\r\ncookie: b=2\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    request = conn.next_event()
    assert request == Request(
        method="POST",
        target="/p/a%20th?x=1&y",
        path="/p/a%20th",
        query="x=1&y",
        version=(1, 1),
        headers=[("HOST", "h:80"), ("COOKIE", "a=1"), ("COOKIE", "b=2"), ("CONTENT-LENGTH", "0")],
        content_length=0,
        chunked=False,
        keep_alive=True,
        expect_continue=False,
        absolute_scheme=None,
        absolute_authority=None,
        head_size=90,
        line="POST /p/a%20th?x=1&y HTTP/1.1",
    )


def test_remembered_lines_still_obey_each_connections_limits() -> None:
    line = b"X-Remembered-Line: " + b"v" * 40
    stream = b"GET / HTTP/1.1\r\nHost: a\r\n" + line + b"\r\n\r\n"
    for _ in range(2):  # the second parse finds the line in the memo
        conn = ServerConnection()
        conn.receive_data(stream)
        assert isinstance(conn.next_event(), Request)
    conn = ServerConnection(Limits(max_header_field_size=30))
    conn.receive_data(stream)
    with pytest.raises(ProtocolError) as error:
        conn.next_event()
    assert error.value.status == 431


@pytest.mark.parametrize(
    ("limit", "accepted"),
    # "Host: a" is 7 bytes, 9 with its CRLF: Gunicorn's count (limit - 1, limit, limit + 1).
    [(8, False), (9, True), (10, True), (0, True)],
)
def test_field_size_limit_counts_the_crlf(limit: int, accepted: bool) -> None:
    conn = ServerConnection(Limits(max_header_field_size=limit))
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    if accepted:
        assert isinstance(conn.next_event(), Request)
        return
    with pytest.raises(ProtocolError) as error:
        conn.next_event()
    assert (error.value.status, error.value.detail) == (
        431, f"header field of 9 bytes with its CRLF > limit {limit}"
    )


@pytest.mark.parametrize("limit", [1, 2])
def test_a_field_size_limit_below_the_crlf_refuses_every_field(limit: int) -> None:
    assert Limits(max_header_field_size=limit).max_field_line == (-1 if limit == 1 else 0)
    conn = ServerConnection(Limits(max_header_field_size=limit))
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    with pytest.raises(ProtocolError):
        conn.next_event()


def test_many_distinct_header_lines() -> None:
    # More distinct lines than the memo holds: it empties itself and goes on.
    for i in range(3000):
        conn = ServerConnection()
        conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\nX-Id: %d\r\nX-Name-%d: v\r\n\r\n" % (i, i))
        request = conn.next_event()
        assert isinstance(request, Request)
        assert request.headers[1:] == [("X-ID", str(i)), (f"X-NAME-{i}", "v")]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_request_line": -1}, ValueError),
        ({"max_header_count": 1.5}, ValueError),
        ({"max_body_size": True}, ValueError),
        ({"permit_obsolete_folding": 1}, TypeError),
    ],
)
def test_limits_are_validated(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        Limits(**kwargs)  # type: ignore[arg-type]


def test_limits_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Limits().max_body_size = 1  # type: ignore[misc]


# -- a client and a server through memory ----------------------------------


@dataclasses.dataclass
class ParsedResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class MiniClient:
    """Just enough of an HTTP/1.1 client to check what the server wrote."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> None:
        self.buffer += data

    def responses(self, head_requests: list[bool], closed: bool) -> list[ParsedResponse]:
        out = []
        for is_head in head_requests:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            assert sep, "incomplete response head"
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(": ")
                headers[name.lower()] = value
            if is_head or status in (204, 304):
                body = b""
            elif "content-length" in headers:
                n = int(headers["content-length"])
                body, rest = rest[:n], rest[n:]
            elif headers.get("transfer-encoding") == "chunked":
                body = b""
                while True:
                    size_line, _, rest = rest.partition(b"\r\n")
                    size = int(size_line, 16)
                    if size == 0:
                        assert rest.startswith(b"\r\n")
                        rest = rest[2:]
                        break
                    body += rest[:size]
                    assert rest[size : size + 2] == b"\r\n"
                    rest = rest[size + 2 :]
            else:
                assert closed, "close-delimited body on an open connection"
                body, rest = rest, b""
            out.append(ParsedResponse(status, headers, body))
            self.buffer = rest
        assert self.buffer == b""
        return out


def serve(conn: ServerConnection, client: MiniClient, chunks: list[bytes]) -> int:
    """Run the server loop over ``chunks``: echo each body back, framed by the
    method (odd paths ask for chunked, even ones for a Content-Length)."""
    served = 0
    pending = [*chunks, b""]
    body = b""
    request: Request | None = None
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            conn.receive_data(pending.pop(0))
        elif isinstance(event, Request):
            request, body = event, b""
        elif isinstance(event, Data):
            body += event.data
        elif isinstance(event, EndOfMessage):
            assert request is not None
            payload = b"%s %s %d:" % (request.method.encode(), request.target.encode(), len(body))
            payload += body
            if request.target.endswith(("1", "3", "5", "7", "9")):
                head = conn.send_response(200, [("Content-Type", "text/plain")])
                pieces = [payload[i : i + 7] for i in range(0, len(payload), 7)]
                out = head + b"".join(conn.send_data(piece) for piece in pieces)
            else:
                head = conn.send_response(200, [("Content-Length", str(len(payload)))])
                out = head + conn.send_data(payload)
            client.feed(out + conn.send_end())
            served += 1
        elif event is PAUSED:
            if not conn.keep_alive:
                return served
            conn.start_next_cycle()
        elif isinstance(event, ConnectionClosed):
            return served


@pytest.mark.parametrize("seed", range(20))
def test_pipelined_keep_alive_cycles_through_memory(seed: int) -> None:
    rng = random.Random(seed)
    stream = b""
    expected = []
    heads = []
    for i in range(rng.randint(1, 12)):
        method = rng.choice(["GET", "POST", "PUT", "HEAD"])
        target = f"/r{rng.randint(0, 99)}/{i}"
        body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
        if method in ("GET", "HEAD"):
            body = b""
            stream += f"{method} {target} HTTP/1.1\r\nHost: a\r\n\r\n".encode()
        elif rng.random() < 0.5:
            head = f"{method} {target} HTTP/1.1\r\nHost: a\r\nContent-Length: {len(body)}\r\n\r\n"
            stream += head.encode() + body
        else:
            head = f"{method} {target} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            stream += head.encode()
            for j in range(0, len(body), 50):
                stream += b"%x\r\n%b\r\n" % (len(body[j : j + 50]), body[j : j + 50])
            stream += b"0\r\n\r\n"
        heads.append(method == "HEAD")
        expected.append(b"" if method == "HEAD" else b"%s %s %d:" % (
            method.encode(), target.encode(), len(body)) + body)  # fmt: skip
    # Cut the stream into random reads, as a socket would.
    cuts = sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, rng.randint(0, 30))))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]

    client = MiniClient()
    conn = ServerConnection()
    assert serve(conn, client, chunks) == len(expected)
    responses = client.responses(heads, closed=False)
    assert [r.status for r in responses] == [200] * len(expected)
    assert [r.body for r in responses] == expected
    assert all("connection" not in r.headers for r in responses)


def test_close_ends_the_pipeline_through_memory() -> None:
    client = MiniClient()
    conn = ServerConnection()
    stream = (
        b"GET /a2 HTTP/1.1\r\nHost: a\r\n\r\n"
        b"GET /b2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        b"GET /c2 HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    assert serve(conn, client, [stream]) == 2
    responses = client.responses([False, False], closed=True)
    assert responses[1].headers["connection"] == "close"
    assert responses[1].body == b"GET /b2 0:"


def test_idle() -> None:
    conn = ServerConnection()
    assert conn.idle
    conn.receive_data(b"\r\n")
    assert conn.next_event() is NEED_DATA
    assert conn.idle  # an empty line is not a request
    conn.receive_data(b"GET / HT")
    assert not conn.idle
    conn.receive_data(b"TP/1.1\r\nHost: a\r\n\r\n")
    assert isinstance(conn.next_event(), Request)
    assert not conn.idle
    assert isinstance(conn.next_event(), EndOfMessage)
    answer(conn)
    conn.start_next_cycle()
    assert conn.idle


def _trickle_seconds(data: bytes, limits: Limits) -> float:
    best = float("inf")
    for _ in range(3):
        conn = ServerConnection(limits)
        start = time.perf_counter()
        for i in range(len(data)):
            conn.receive_data(data[i : i + 1])
            event = conn.next_event()
            while isinstance(event, (Request, Data)):
                event = conn.next_event()
        best = min(best, time.perf_counter() - start)
        assert isinstance(event, EndOfMessage)
    return best


@pytest.mark.parametrize(
    ("make", "limits"),
    [
        (  # one long header line
            lambda n: b"GET / HTTP/1.1\r\nHost: a\r\nX-A: " + b"a" * n + b"\r\n\r\n",
            Limits(max_header_field_size=0, max_head_size=0),
        ),
        (  # many header lines
            lambda n: b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: 1\r\n" * (n // 6) + b"\r\n",
            Limits(max_header_count=0, max_head_size=0),
        ),
        (  # a long chunk extension
            lambda n: (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"1;"
                + b"e" * n
                + b"\r\nx\r\n0\r\n\r\n"
            ),
            Limits(max_chunk_extension_size=0),
        ),
        (  # a long trailer section
            lambda n: (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
                + b"X: 1\r\n" * (n // 6)
                + b"\r\n"
            ),
            Limits(max_trailer_size=0, max_header_count=0),
        ),
    ],
    ids=["long-header-line", "many-header-lines", "long-chunk-extension", "long-trailers"],
)
def test_bytes_trickling_in_cost_linear_time(make: Callable[[int], bytes], limits: Limits) -> None:
    # Quadratic rescanning or copying would make 4x the bytes cost ~16x the time.
    small = _trickle_seconds(make(10_000), limits)
    large = _trickle_seconds(make(40_000), limits)
    assert large < 9 * small, (small, large)
