"""HTTPCycle: the http.* message sequence of one request, in memory."""

from __future__ import annotations

import asyncio
import enum
from typing import Any

import pytest
from cycle_support import Wire, cycle_for, h11_read, header, pump, settle

from workhorse.asgi import ASGIProtocolError, ClientDisconnected
from workhorse.asgi.http_cycle import HOP_BY_HOP, HTTPCycle
from workhorse.http import ServerConnection
from workhorse.wsgi import response as wsgi_response

GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
HEAD = b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"
GET10 = b"GET / HTTP/1.0\r\n\r\n"
GET_TE = b"GET / HTTP/1.1\r\nHost: a\r\nTE: deflate;q=0.5, trailers\r\n\r\n"


def post(body: bytes, *extra: str) -> bytes:
    lines = "".join(f"{line}\r\n" for line in extra)
    return (f"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {len(body)}\r\n{lines}\r\n"
            .encode() + body)


def start(status: int = 200, *headers: tuple[bytes, bytes], **keys: Any) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": list(headers), **keys}


def body(data: bytes = b"", more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def send_all(cycle: HTTPCycle, *messages: dict[str, Any]) -> None:
    for message in messages:
        await cycle.send(message)


# --- responses on the wire -------------------------------------------------------------

def test_a_whole_response_is_one_write() -> None:
    conn, cycle, wire = cycle_for(GET)
    run(send_all(cycle, start(200, (b"content-type", b"text/plain"), (b"content-length", b"5")),
                 body(b"hello")))
    assert len(wire.writes) == 1
    result = h11_read("GET", wire.data)
    assert (result["status"], result["body"]) == (200, b"hello")
    assert header(result, "content-type") == ["text/plain"]
    assert header(result, "server") == ["workhorse"] and header(result, "date")
    assert cycle.response_complete and cycle.headers_sent
    assert (cycle.status_code, cycle.bytes_sent, cycle.bytes_written) == (200, 5, len(wire.data))
    assert cycle.response_headers == [("content-type", "text/plain"), ("content-length", "5")]
    assert conn.keep_alive
    conn.start_next_cycle()


def test_streaming_without_length_is_chunked() -> None:
    _, cycle, wire = cycle_for(GET)

    async def app() -> None:
        await cycle.send(start(200))
        assert wire.writes == []  # the head waits for the first body message
        await cycle.send(body(b"one", more=True))
        assert len(wire.writes) == 1
        await cycle.send(body(b"", more=True))  # nothing to write, no empty last chunk
        await cycle.send(body(b"two", more=True))
        await cycle.send(body())

    run(app())
    assert wire.data.endswith(b"3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n")
    result = h11_read("GET", wire.data)
    assert header(result, "transfer-encoding") == ["chunked"]
    assert result["body"] == b"onetwo"
    assert cycle.bytes_sent == 6


def test_an_empty_first_body_message_flushes_the_head() -> None:
    # Server-sent events: headers now, events later.
    _, cycle, wire = cycle_for(GET)
    run(send_all(cycle, start(200, (b"content-type", b"text/event-stream")), body(more=True)))
    assert wire.data.startswith(b"HTTP/1.1 200 OK\r\n") and wire.data.endswith(b"\r\n\r\n")
    assert cycle.headers_sent and not cycle.response_complete


def test_large_body_is_written_apart_from_the_head() -> None:
    _, cycle, wire = cycle_for(GET)
    payload = b"x" * 100_000
    run(send_all(cycle, start(200, (b"content-length", b"100000")), body(payload)))
    assert len(wire.writes) == 2 and wire.writes[1] == payload
    assert h11_read("GET", wire.data)["body"] == payload


def test_head_gets_no_body_bytes() -> None:
    conn, cycle, wire = cycle_for(HEAD)
    run(send_all(cycle, start(200, (b"content-length", b"5")), body(b"hello")))
    assert b"content-length: 5\r\n" in wire.data and wire.data.endswith(b"\r\n\r\n")
    result = h11_read("HEAD", wire.data)
    assert result["body"] == b"" and result["rest"] == b""
    assert cycle.bytes_sent == 5  # what the app sent, as the WSGI response counts it
    assert conn.keep_alive


@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_have_no_body(status: int) -> None:
    _, cycle, wire = cycle_for(GET)
    run(send_all(cycle, start(status), body(b"ignored")))
    result = h11_read("GET", wire.data)
    assert result["status"] == status and result["body"] == b"" and result["rest"] == b""
    assert not header(result, "transfer-encoding")


def test_http10_without_length_ends_with_the_connection() -> None:
    conn, cycle, wire = cycle_for(GET10)
    run(send_all(cycle, start(200), body(b"a", more=True), body(b"b")))
    head, _, payload = wire.data.partition(b"\r\n\r\n")
    assert b"Connection: close" in head and b"chunked" not in head
    assert payload == b"ab"
    assert not conn.keep_alive


def test_hop_by_hop_headers_are_dropped_and_connection_close_is_honoured() -> None:
    conn, cycle, wire = cycle_for(GET)
    run(send_all(cycle, start(200, (b"transfer-encoding", b"chunked"), (b"keep-alive", b"5"),
                              (b"upgrade", b"h2c"), (b"connection", b"Close"),
                              (b"x-kept", b"1"), (b"content-length", b"2")),
                 body(b"ok")))
    result = h11_read("GET", wire.data)
    names = [name for name, _ in result["headers"]]
    assert "upgrade" not in names and "keep-alive" not in names
    assert header(result, "connection") == ["close"]
    assert header(result, "x-kept") == ["1"]
    assert not conn.keep_alive


def test_hop_by_hop_set_is_the_wsgi_response_one() -> None:
    assert HOP_BY_HOP == wsgi_response.HOP_BY_HOP


def test_header_values_and_body_may_be_bytearray_or_memoryview() -> None:
    _, cycle, wire = cycle_for(GET)
    run(send_all(cycle, start(200, [bytearray(b"x-a"), memoryview(b"1")]),  # type: ignore[arg-type]
                 body(memoryview(b"data"))))  # type: ignore[arg-type]
    result = h11_read("GET", wire.data)
    assert header(result, "x-a") == ["1"] and result["body"] == b"data"


def test_status_may_be_an_int_enum() -> None:
    class Status(enum.IntEnum):
        CREATED = 201

    _, cycle, wire = cycle_for(GET)
    run(send_all(cycle, start(Status.CREATED), body()))
    assert wire.data.startswith(b"HTTP/1.1 201 Created\r\n")


def test_extra_keys_are_ignored() -> None:
    _, cycle, wire = cycle_for(GET)
    run(send_all(cycle, {**start(200), "future_key": 1}, {**body(b"x"), "other": None}))
    assert h11_read("GET", wire.data)["body"] == b"x"


# --- trailers ------------------------------------------------------------------------

def test_trailers_when_the_client_accepts_them() -> None:
    conn, cycle, wire = cycle_for(GET_TE)
    run(send_all(
        cycle, start(200, (b"trailer", b"x-checksum, server-timing"), trailers=True),
        body(b"data", more=True), body(b"!"),
        {"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")],
         "more_trailers": True},
        {"type": "http.response.trailers", "headers": [(b"server-timing", b"db;dur=1")]}))
    result = h11_read("GET", wire.data)
    assert header(result, "trailer") == ["x-checksum, server-timing"]
    assert result["body"] == b"data!"
    assert result["trailers"] == [("x-checksum", "abc"), ("server-timing", "db;dur=1")]
    assert cycle.response_complete and conn.keep_alive


def test_trailers_are_dropped_when_the_client_did_not_ask() -> None:
    _, cycle, wire = cycle_for(GET)
    run(send_all(cycle, start(200, (b"trailer", b"x-checksum"), trailers=True), body(b"data"),
                 {"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")]}))
    result = h11_read("GET", wire.data)
    assert not header(result, "trailer") and result["trailers"] == []
    assert result["body"] == b"data"


def test_trailers_after_an_empty_body_send_the_head_too() -> None:
    _, cycle, wire = cycle_for(GET_TE)
    run(send_all(cycle, start(200, trailers=True), body(),
                 {"type": "http.response.trailers", "headers": [(b"x-done", b"1")]}))
    assert h11_read("GET", wire.data)["trailers"] == [("x-done", "1")]


def test_response_waits_for_announced_trailers() -> None:
    _, cycle, wire = cycle_for(GET_TE)
    run(send_all(cycle, start(200, trailers=True), body(b"x")))
    assert not cycle.response_complete
    assert not wire.data.endswith(b"0\r\n\r\n")


def test_forbidden_trailer_field_is_refused() -> None:
    _, cycle, _ = cycle_for(GET_TE)
    with pytest.raises(ASGIProtocolError, match="may not be sent as a trailer"):
        run(send_all(cycle, start(200, trailers=True), body(b"x"),
                     {"type": "http.response.trailers",
                      "headers": [(b"content-length", b"1")]}))


# --- misuse: each gives ASGIProtocolError saying what was wrong -------------------------

MISUSE = [
    ("body before start", [body(b"x")], "unexpected 'http.response.body': expected "
                                        "'http.response.start'"),
    ("start twice", [start(), start()], "a second 'http.response.start'"),
    ("after the end", [start(), body(), body()], "after the response was complete"),
    ("start after the end", [start(), body(), start()], "after the response was complete"),
    ("trailers not announced", [start(), body(b"x", more=True),
                                {"type": "http.response.trailers", "headers": []}],
     "without trailers: True"),
    ("body instead of trailers", [start(trailers=True), body(), body()],
     "expected 'http.response.trailers'"),
    ("unknown type", [{"type": "http.response.push", "path": "/"}],
     "unexpected 'http.response.push'"),
    ("websocket message", [{"type": "websocket.accept"}], "unexpected 'websocket.accept'"),
    ("no type", [{"status": 200}], "a dict with a 'type'"),
    ("not a dict", [["http.response.start"]], "a dict with a 'type'"),
    ("status missing", [{"type": "http.response.start"}], "'status' must be an int"),
    ("status str", [start("200")], "'status' must be an int"),  # type: ignore[arg-type]
    ("status bool", [start(True)], "'status' must be an int"),
    ("status 101", [start(101)], "websocket.accept"),
    ("status 103", [start(103)], "informational"),
    ("status 99", [start(99)], "not in 200..599"),
    ("status 600", [start(600)], "not in 200..599"),
    ("headers not iterable", [{**start(), "headers": None}], "'headers' must be an iterable"),
    ("header not a pair", [start(200, (b"a", b"b", b"c"))], "pair of bytes"),  # type: ignore[arg-type]
    ("header is bytes", [{**start(), "headers": [b"ab"]}], "pair of bytes"),
    ("str header name", [start(200, ("x-a", b"1"))], "pair of bytes"),  # type: ignore[arg-type]
    ("str header value", [start(200, (b"x-a", "1"))], "pair of bytes"),  # type: ignore[arg-type]
    ("bad header name", [start(200, (b"bad name", b"1"))], "invalid response header name"),
    ("header injection", [start(200, (b"x-a", b"1\r\nset-cookie: a=b"))], "control character"),
    ("two content-lengths", [start(200, (b"content-length", b"1"), (b"content-length", b"1"))],
     "more than one Content-Length"),
    ("bad content-length", [start(200, (b"content-length", b"-1"))], "invalid Content-Length"),
    ("str body", [start(), {"type": "http.response.body", "body": "text"}],
     "'body' must be bytes, got str"),
    ("body longer than content-length", [start(200, (b"content-length", b"2")), body(b"abc")],
     "longer than its Content-Length"),
    ("body shorter than content-length",
     [start(200, (b"content-length", b"5")), body(b"ab", more=True), body(b"c")],
     "3 of 5"),
]


@pytest.mark.parametrize(("messages", "says"), [(m, s) for _, m, s in MISUSE],
                         ids=[name for name, _, _ in MISUSE])
def test_misuse_is_an_asgi_protocol_error(messages: list[Any], says: str) -> None:
    conn, cycle, _ = cycle_for(GET)
    with pytest.raises(ASGIProtocolError) as caught:
        run(send_all(cycle, *messages))
    assert says in str(caught.value)
    assert not conn.keep_alive  # an app that broke the sequence never reuses the connection


def test_a_send_after_a_misuse_is_refused_too() -> None:
    _, cycle, _ = cycle_for(GET)
    with pytest.raises(ASGIProtocolError):
        run(cycle.send(start(200, (b"bad name", b"1"))))
    with pytest.raises(ASGIProtocolError, match="abandoned"):
        run(cycle.send(start(200)))


# --- receive -----------------------------------------------------------------------------

def test_get_receives_an_empty_body_then_waits_for_the_end() -> None:
    _, cycle, _ = cycle_for(GET)

    async def app() -> list[dict[str, Any]]:
        first = await cycle.receive()
        listener = asyncio.create_task(cycle.receive())
        await settle()
        assert not listener.done() and cycle.receive_waiting and not cycle.waiting_for_body
        await send_all(cycle, start(200), body(b"x"))
        return [first, await listener]

    assert run(app()) == [{"type": "http.request", "body": b"", "more_body": False},
                          {"type": "http.disconnect"}]


def test_body_fed_as_the_app_asks_for_it() -> None:
    raw = post(b"hello world")
    demands: list[bool] = []
    conn = ServerConnection()
    conn.receive_data(raw[: raw.index(b"\r\n\r\n") + 4 + 5])  # the head and "hello"
    conn.next_event()
    wire = Wire()
    cycle = HTTPCycle(conn, wire.write, on_demand=lambda: demands.append(True))

    async def app() -> list[dict[str, Any]]:
        task = asyncio.create_task(cycle.receive())
        await settle()
        assert demands == [True] and cycle.waiting_for_body
        pump(conn, cycle)  # "hello" was already there
        first = await task
        assert not cycle.receive_waiting
        second_task = asyncio.create_task(cycle.receive())
        await settle()
        conn.receive_data(b" world")
        pump(conn, cycle)
        return [first, await second_task]

    assert run(app()) == [{"type": "http.request", "body": b"hello", "more_body": True},
                          {"type": "http.request", "body": b" world", "more_body": False}]
    assert cycle.body_bytes_read == 11 and cycle.request_body_complete


def test_body_fed_before_the_app_asks_is_handed_out_at_once() -> None:
    conn, cycle, _ = cycle_for(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                               b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    pump(conn, cycle)
    assert cycle.body_buffered == 5
    message = run(cycle.receive())
    assert message == {"type": "http.request", "body": b"abcde", "more_body": False}
    assert cycle.body_buffered == 0


def test_disconnect_reaches_a_waiting_receive_and_send_raises_oserror() -> None:
    _, cycle, wire = cycle_for(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n")

    async def app() -> dict[str, Any]:
        task = asyncio.create_task(cycle.receive())
        await settle()
        assert cycle.waiting_for_body
        cycle.disconnected()
        return await task

    assert run(app()) == {"type": "http.disconnect"}
    assert run(cycle.receive()) == {"type": "http.disconnect"}
    with pytest.raises(ClientDisconnected) as caught:
        run(cycle.send(start()))
    assert isinstance(caught.value, OSError)
    assert wire.writes == []


def test_disconnect_wakes_every_waiting_receive() -> None:
    _, cycle, _ = cycle_for(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n")

    async def app() -> list[dict[str, Any]]:
        tasks = [asyncio.create_task(cycle.receive()) for _ in range(2)]
        await settle()
        cycle.disconnected()
        return list(await asyncio.gather(*tasks))

    assert run(app()) == [{"type": "http.disconnect"}] * 2


def test_a_cancelled_receive_loses_no_body() -> None:
    conn, cycle, _ = cycle_for(post(b"abc"))

    async def app() -> dict[str, Any]:
        task = asyncio.create_task(cycle.receive())
        await settle()
        task.cancel()
        await settle()
        assert task.cancelled() and not cycle.receive_waiting
        pump(conn, cycle)
        return await cycle.receive()

    assert run(app()) == {"type": "http.request", "body": b"abc", "more_body": False}


def test_send_after_disconnect_mid_body_raises_client_disconnected() -> None:
    _, cycle, _ = cycle_for(GET)

    async def app() -> None:
        await send_all(cycle, start(), body(b"a", more=True))
        cycle.disconnected()
        await cycle.send(body(b"b"))

    with pytest.raises(ClientDisconnected):
        run(app())


def test_100_continue_when_the_app_first_asks_for_the_body() -> None:
    conn, cycle, wire = cycle_for(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                                  b"Expect: 100-continue\r\n\r\n")

    async def app() -> dict[str, Any]:
        task = asyncio.create_task(cycle.receive())
        await settle()
        assert wire.data == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.receive_data(b"abc")
        pump(conn, cycle)
        return await task

    assert run(app())["body"] == b"abc"
    assert not cycle.headers_sent  # a 100 is not the response: a 500 could still replace it


def test_no_100_continue_when_the_app_answers_without_reading() -> None:
    conn, cycle, wire = cycle_for(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                                  b"Expect: 100-continue\r\n\r\n")
    run(send_all(cycle, start(413, (b"content-length", b"0")), body()))
    assert wire.data.startswith(b"HTTP/1.1 413 ")
    assert not conn.keep_alive  # the body never came: the next bytes are not a request


# --- flow control and the worker's view ---------------------------------------------------

def test_send_waits_while_the_transport_is_full() -> None:
    _, cycle, wire = cycle_for(GET)

    async def app() -> None:
        await cycle.send(start())
        wire.hold()
        task = asyncio.create_task(cycle.send(body(b"x", more=True)))
        await settle()
        assert not task.done() and len(wire.writes) == 1
        wire.release()
        await task

    run(app())


def test_send_error_replaces_a_response_not_written_yet() -> None:
    conn, cycle, wire = cycle_for(GET)

    async def app() -> bool:
        await cycle.send(start(200, (b"content-length", b"5")))
        with pytest.raises(ASGIProtocolError):
            await cycle.send(body(b"toolong"))
        return await cycle.send_error(500)

    assert run(app()) is True
    result = h11_read("GET", wire.data)
    assert result["status"] == 500 and header(result, "connection") == ["close"]
    assert cycle.status_code == 500 and cycle.response_complete and not conn.keep_alive
    with pytest.raises(ASGIProtocolError, match="after the response was complete"):
        run(cycle.send(body()))


def test_send_error_before_the_app_sent_anything() -> None:
    _, cycle, wire = cycle_for(GET)
    assert run(cycle.send_error(504, "Gateway Timeout")) is True
    assert h11_read("GET", wire.data)["status"] == 504
    assert run(cycle.receive()) == {"type": "http.disconnect"}


def test_send_error_after_the_head_went_out_says_close_instead() -> None:
    _, cycle, wire = cycle_for(GET)
    run(send_all(cycle, start(), body(b"partial", more=True)))
    written = wire.data
    assert run(cycle.send_error(500)) is False
    assert wire.data == written and not cycle.response_complete


def test_cycle_needs_a_request() -> None:
    with pytest.raises(ValueError, match="request head"):
        HTTPCycle(ServerConnection(), Wire().write)
