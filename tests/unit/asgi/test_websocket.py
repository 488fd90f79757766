"""WebSocket sessions in memory, against wsproto's own client as the peer.

The client side is wsproto's ``WSConnection(CLIENT)``: it writes the upgrade
request (parsed here by our HTTP core), checks our 101 (the accept token,
the subprotocol, the extension answer) with h11, and reads our frames. Frames
a well-behaved client cannot send are built by hand.
"""

from __future__ import annotations

import asyncio
import os
import re
import struct
import sys
import tracemalloc
import zlib
from typing import Any

import h11
import pytest
from cycle_support import Wire, h11_read, header, settle
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

from workhorse.asgi import ASGIProtocolError, ClientDisconnected
from workhorse.asgi.websocket import (
    QUEUE_LIMIT,
    WebSocketSession,
    unavailable_response,
    websocket_support,
)
from workhorse.asgi.ws_handshake import (
    HandshakeError,
    accept_token,
    is_websocket_upgrade,
    read_handshake,
)
from workhorse.http import Request as HTTPRequest
from workhorse.http import ServerConnection


class Peer:
    """A wsproto client and the server-side session it talks to."""

    def __init__(self, *, subprotocols: tuple[str, ...] = (), deflate: bool = False,
                 **session: Any) -> None:
        self.ws = WSConnection(ConnectionType.CLIENT)
        extensions = [PerMessageDeflate()] if deflate else []
        head = self.ws.send(Request(host="example.org", target="/chat?room=1",
                                    subprotocols=list(subprotocols), extensions=extensions))
        self.conn = ServerConnection()
        self.conn.receive_data(head)
        request = self.conn.next_event()
        assert isinstance(request, HTTPRequest) and is_websocket_upgrade(request)
        self.wire = Wire()
        self.session = WebSocketSession(self.conn, self.wire.write, **session)
        self.seen = 0  # bytes of the wire the client has read

    def events(self) -> list[Any]:
        """What the client makes of everything the server wrote since last time."""
        data = self.wire.data[self.seen:]
        self.seen += len(data)
        self.ws.receive_data(data)
        return list(self.ws.events())

    def to_server(self, *events: Any) -> bytes:
        """Send client events; returns what the session wants written back."""
        data = b"".join(self.ws.send(event) for event in events)
        return self.session.receive_data(data)

    def answer(self, reply: bytes) -> list[Any]:
        """Feed the session's immediate reply (pongs, closes) to the client."""
        self.ws.receive_data(reply)
        return list(self.ws.events())

    async def open(self, **accept: Any) -> list[Any]:
        assert await self.session.receive() == {"type": "websocket.connect"}
        await self.session.send({"type": "websocket.accept", **accept})
        return self.events()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True,
                 rsv1: bool = False) -> bytes:
    """A frame as a client would write it (or, with the flags, as it must not)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    mask = os.urandom(4) if masked else b""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", first, (0x80 if masked else 0) | length)
    else:
        head = struct.pack("!BBH", first, (0x80 if masked else 0) | 126, length)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if masked else payload
    return head + mask + body


def close_of(events: list[Any]) -> tuple[int, str]:
    closes = [event for event in events if isinstance(event, CloseConnection)]
    assert len(closes) == 1, events
    return int(closes[0].code), closes[0].reason


# --- the opening handshake --------------------------------------------------------------

def test_accept_token_of_rfc_6455() -> None:
    assert accept_token("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_accept_with_a_subprotocol_and_headers() -> None:
    peer = Peer(subprotocols=("chat.v2", "chat.v1"))
    events = run(peer.open(subprotocol="chat.v1", headers=[(b"x-session", b"42")]))
    assert len(events) == 1 and isinstance(events[0], AcceptConnection)
    assert events[0].subprotocol == "chat.v1"
    assert (b"x-session", b"42") in events[0].extra_headers
    head = peer.wire.writes[0]
    assert b"\r\nServer: workhorse\r\n" in head and b"\r\nDate: " in head
    assert peer.session.status_code == 101 and peer.session.accepted


def test_accept_without_a_subprotocol() -> None:
    peer = Peer(subprotocols=("chat",))
    events = run(peer.open())
    assert isinstance(events[0], AcceptConnection) and events[0].subprotocol is None


@pytest.mark.parametrize(
    ("accept", "says"),
    [({"subprotocol": "other"}, "was not offered"),
     ({"headers": [(b"sec-websocket-protocol", b"chat")]}, "handshake's to set"),
     ({"headers": [(b"content-length", b"0")]}, "handshake's to set"),
     ({"headers": [(b"bad name", b"1")]}, "invalid response header name"),
     ({"headers": [("x-str", "1")]}, "pairs of bytes"),
     ({"headers": [(b"x-a", b"1\r\nx-b: 2")]}, "control character")],
)  # fmt: skip
def test_bad_accept_is_an_asgi_protocol_error(accept: dict[str, Any], says: str) -> None:
    peer = Peer(subprotocols=("chat",))
    with pytest.raises(ASGIProtocolError, match=re.escape(says)):
        run(peer.open(**accept))
    assert peer.wire.writes == []


def upgrade(*lines: str, method: str = "GET", version: str = "1.1") -> HTTPRequest:
    conn = ServerConnection()
    head = "".join(f"{line}\r\n" for line in lines)
    conn.receive_data(f"{method} /ws HTTP/{version}\r\nHost: a\r\n{head}\r\n".encode())
    request = conn.next_event()
    assert isinstance(request, HTTPRequest)
    return request


GOOD = ("Upgrade: websocket", "Connection: keep-alive, Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13")


def test_a_good_handshake() -> None:
    request = upgrade(*GOOD, "Sec-WebSocket-Protocol: a, b", "Sec-WebSocket-Protocol: c",
                      "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x")
    assert is_websocket_upgrade(request)
    handshake = read_handshake(request)
    assert handshake.subprotocols == ("a", "b", "c")
    assert handshake.extension_offers == ("permessage-deflate; client_max_window_bits", "x")


@pytest.mark.parametrize(
    ("lines", "method"),
    [(GOOD, "POST"),
     (("Upgrade: h2c", *GOOD[1:]), "GET"),
     ((GOOD[0], "Connection: keep-alive", *GOOD[2:]), "GET"),
     (GOOD[1:], "GET")],
    ids=["post", "upgrade h2c", "connection without upgrade", "no upgrade"],
)  # fmt: skip
def test_not_an_upgrade_is_plain_http(lines: tuple[str, ...], method: str) -> None:
    assert not is_websocket_upgrade(upgrade(*lines, method=method))


BAD_HANDSHAKES = [
    ("no version", (*GOOD[:3],), 400, True),
    ("version 8", (*GOOD[:3], "Sec-WebSocket-Version: 8"), 426, True),
    ("two versions", (*GOOD, "Sec-WebSocket-Version: 13"), 426, True),
    ("no key", (GOOD[0], GOOD[1], GOOD[3]), 400, False),
    ("key not base64", (GOOD[0], GOOD[1], "Sec-WebSocket-Key: not*base64!", GOOD[3]), 400,
     False),
    ("key of 15 bytes", (GOOD[0], GOOD[1], "Sec-WebSocket-Key: " + "A" * 20, GOOD[3]), 400,
     False),
    ("two keys", (*GOOD, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="), 400, False),
    ("a body", (*GOOD, "Content-Length: 3"), 400, False),
]


@pytest.mark.parametrize(("lines", "status", "version_header"),
                         [case[1:] for case in BAD_HANDSHAKES],
                         ids=[case[0] for case in BAD_HANDSHAKES])
def test_bad_handshakes_get_their_status(lines: tuple[str, ...], status: int,
                                         version_header: bool) -> None:
    with pytest.raises(HandshakeError) as caught:
        read_handshake(upgrade(*lines))
    assert caught.value.status == status
    assert (("Sec-WebSocket-Version", "13") in caught.value.headers) is version_header


def test_http10_upgrade_is_refused() -> None:
    with pytest.raises(HandshakeError) as caught:
        read_handshake(upgrade(*GOOD, version="1.0"))
    assert caught.value.status == 400


def test_the_session_refuses_a_bad_handshake_too() -> None:
    conn = ServerConnection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
                      b"Sec-WebSocket-Version: 13\r\n\r\n")
    conn.next_event()
    with pytest.raises(HandshakeError, match="Sec-WebSocket-Key"):
        WebSocketSession(conn, Wire().write)


# --- messages ------------------------------------------------------------------------------

def test_text_and_binary_both_ways() -> None:
    peer = Peer()

    async def scenario() -> list[Any]:
        await peer.open()
        assert peer.to_server(TextMessage(data="h\u00e9llo"), BytesMessage(data=b"\x00\xff")) == b""
        received = [await peer.session.receive(), await peer.session.receive()]
        await peer.session.send({"type": "websocket.send", "text": "r\u00e9ponse"})
        await peer.session.send({"type": "websocket.send", "bytes": b"\x01\x02"})
        await peer.session.send({"type": "websocket.send", "bytes": None, "text": "both keys"})
        return received

    assert run(scenario()) == [{"type": "websocket.receive", "text": "h\u00e9llo"},
                               {"type": "websocket.receive", "bytes": b"\x00\xff"}]
    events = peer.events()
    assert [(type(e).__name__, e.data) for e in events] == [
        ("TextMessage", "r\u00e9ponse"), ("BytesMessage", b"\x01\x02"),
        ("TextMessage", "both keys")]


def test_fragmented_messages_arrive_whole() -> None:
    peer = Peer()

    async def scenario() -> list[Any]:
        await peer.open()
        peer.to_server(TextMessage(data="frag", message_finished=False),
                       TextMessage(data="men", message_finished=False),
                       TextMessage(data="ted", message_finished=True))
        # A ping between the fragments of a message is allowed and answered.
        reply = peer.session.receive_data(client_frame(0x2, b"ab", fin=False)
                                          + client_frame(0x9, b"p")
                                          + client_frame(0x0, b"cd", fin=True))
        assert [type(e) for e in peer.answer(reply)] == [Pong]
        return [await peer.session.receive(), await peer.session.receive()]

    assert run(scenario()) == [{"type": "websocket.receive", "text": "fragmented"},
                               {"type": "websocket.receive", "bytes": b"abcd"}]


def test_pings_are_answered() -> None:
    peer = Peer()
    run(peer.open())
    reply = peer.to_server(Ping(payload=b"are you there"))
    events = peer.answer(reply)
    assert len(events) == 1 and isinstance(events[0], Pong)
    assert events[0].payload == b"are you there"
    assert peer.to_server(Pong(payload=b"unsolicited")) == b""


def test_server_ping_for_keepalive() -> None:
    peer = Peer()
    assert peer.session.ping(b"x") == b""  # not open yet
    run(peer.open())
    assert [type(e) for e in peer.answer(peer.session.ping(b"x"))] == [Ping]


@pytest.mark.parametrize(
    ("message", "says"),
    [({"type": "websocket.send"}, "exactly one of 'bytes' and 'text'"),
     ({"type": "websocket.send", "text": "a", "bytes": b"a"}, "exactly one"),
     ({"type": "websocket.send", "text": b"a"}, "'text' must be str"),
     ({"type": "websocket.send", "bytes": "a"}, "'bytes' must be bytes"),
     ({"type": "websocket.close", "code": 999}, "1000..4999"),
     ({"type": "websocket.close", "code": "1000"}, "1000..4999"),
     ({"type": "websocket.close", "reason": 5}, "'reason' must be str"),
     ({"type": "websocket.accept"}, "unexpected 'websocket.accept'"),
     ({"type": "http.response.start", "status": 200}, "unexpected 'http.response.start'"),
     ({"no": "type"}, "a dict with a 'type'")],
)  # fmt: skip
def test_misuse_after_accept(message: dict[str, Any], says: str) -> None:
    peer = Peer()

    async def scenario() -> None:
        await peer.open()
        await peer.session.send(message)

    with pytest.raises(ASGIProtocolError, match=re.escape(says)):
        run(scenario())


def test_send_before_accept_is_refused() -> None:
    peer = Peer()

    async def scenario() -> None:
        await peer.session.receive()
        await peer.session.send({"type": "websocket.send", "text": "early"})

    with pytest.raises(ASGIProtocolError, match=r"expected 'websocket\.accept'"):
        run(scenario())


def test_bytes_the_client_sent_before_the_accept_are_kept() -> None:
    peer = Peer()
    early = client_frame(0x1, b"hi")
    assert peer.session.receive_data(early) == b""
    assert not peer.session.wants_data  # the worker does not read before the accept

    async def scenario() -> dict[str, Any]:
        await peer.open()
        return await peer.session.receive()

    assert run(scenario()) == {"type": "websocket.receive", "text": "hi"}


# --- closing ---------------------------------------------------------------------------------

def test_the_client_closes() -> None:
    peer = Peer()

    async def scenario() -> None:
        await peer.open()
        reply = peer.to_server(CloseConnection(code=1001, reason="going away"))
        assert close_of(peer.answer(reply)) == (1001, "going away")
        assert peer.session.closed and not peer.session.wants_data
        for _ in range(2):  # said again to every later receive
            assert await peer.session.receive() == {
                "type": "websocket.disconnect", "code": 1001, "reason": "going away"}
        with pytest.raises(ClientDisconnected) as caught:
            await peer.session.send({"type": "websocket.send", "text": "late"})
        assert isinstance(caught.value, OSError)

    run(scenario())


def test_a_close_without_a_code_is_1005() -> None:
    peer = Peer()
    run(peer.open())
    peer.session.receive_data(client_frame(0x8, b""))
    assert run(peer.session.receive())["code"] == 1005


def test_the_app_closes_and_the_client_replies() -> None:
    peer = Peer()

    async def scenario() -> None:
        await peer.open()
        await peer.session.send({"type": "websocket.close", "code": 4000, "reason": "done"})
        assert await peer.session.receive() == {
            "type": "websocket.disconnect", "code": 4000, "reason": "done"}
        assert not peer.session.closed and peer.session.wants_data  # the reply is awaited
        events = peer.events()
        assert close_of(events) == (4000, "done")
        # The client echoes; meanwhile it sent a message that is dropped.
        peer.session.receive_data(client_frame(0x1, b"late"))
        echo = peer.ws.send(CloseConnection(code=4000))
        assert peer.session.receive_data(echo) == b""
        assert peer.session.closed
        with pytest.raises(ASGIProtocolError, match="after the app closed"):
            await peer.session.send({"type": "websocket.send", "text": "more"})

    run(scenario())


def test_eof_is_an_abnormal_close() -> None:
    peer = Peer()

    async def scenario() -> dict[str, Any]:
        await peer.open()
        waiting = asyncio.create_task(peer.session.receive())
        await settle()
        peer.session.receive_data(b"")
        return await waiting

    assert run(scenario()) == {"type": "websocket.disconnect", "code": 1006, "reason": ""}
    assert peer.session.closed


@pytest.mark.parametrize("failed", [False, True])
def test_finish_closes_an_open_session(failed: bool) -> None:
    peer = Peer()

    async def scenario() -> None:
        await peer.open()
        await peer.session.finish(app_failed=failed)

    run(scenario())
    assert close_of(peer.events())[0] == (1011 if failed else 1000)


# --- a peer that breaks the protocol -----------------------------------------------------

BROKEN = [
    ("unmasked frame", client_frame(0x1, b"hi", masked=False), 1002),
    ("reserved opcode", client_frame(0x3, b""), 1002),
    ("continuation first", client_frame(0x0, b"x"), 1002),
    ("fragmented ping", client_frame(0x9, b"x", fin=False), 1002),
    ("rsv1 without deflate", client_frame(0x1, b"x", rsv1=True), 1002),
    ("bad utf-8", client_frame(0x1, b"caf\xc3"), 1007),
    ("bad utf-8 across fragments", client_frame(0x1, b"ok\xc3", fin=False)
     + client_frame(0x0, b"(", fin=True), 1007),
    ("close code 1005 from the peer", client_frame(0x8, struct.pack("!H", 1005)), 1002),
]


@pytest.mark.parametrize(("frames", "code"), [case[1:] for case in BROKEN],
                         ids=[case[0] for case in BROKEN])
def test_a_broken_peer_gets_the_right_close_code(frames: bytes, code: int) -> None:
    peer = Peer()

    async def scenario() -> dict[str, Any]:
        await peer.open()
        reply = peer.session.receive_data(frames)
        assert close_of(peer.answer(reply))[0] == code
        assert peer.session.closed
        assert peer.session.receive_data(client_frame(0x1, b"ignored")) == b""
        return await peer.session.receive()

    disconnect = run(scenario())
    assert (disconnect["type"], disconnect["code"]) == ("websocket.disconnect", code)


def test_a_message_over_the_limit_is_1009() -> None:
    peer = Peer(max_message_size=10)

    async def scenario() -> None:
        await peer.open()
        assert peer.to_server(TextMessage(data="0123456789")) == b""  # exactly the limit
        assert (await peer.session.receive())["text"] == "0123456789"
        reply = peer.to_server(BytesMessage(data=b"x" * 6, message_finished=False),
                               BytesMessage(data=b"x" * 5))
        assert close_of(peer.answer(reply)) == (1009, "message larger than 10 bytes")
        assert (await peer.session.receive())["code"] == 1009

    run(scenario())


def test_the_limit_counts_utf8_bytes() -> None:
    peer = Peer(max_message_size=10)
    run(peer.open())
    reply = peer.to_server(TextMessage(data="\u00e9" * 6))  # 6 characters, 12 bytes
    assert close_of(peer.answer(reply))[0] == 1009


@pytest.mark.parametrize("limit", [0, None])
def test_zero_or_none_means_no_limit(limit: int | None) -> None:
    peer = Peer(max_message_size=limit)
    run(peer.open())
    peer.to_server(BytesMessage(data=b"x" * 200_000))
    assert len(run(peer.session.receive())["bytes"]) == 200_000


# --- permessage-deflate ---------------------------------------------------------------------

def test_permessage_deflate_is_negotiated_and_used() -> None:
    peer = Peer(deflate=True)

    async def scenario() -> dict[str, Any]:
        events = await peer.open()
        assert isinstance(events[0], AcceptConnection)
        assert [ext.name for ext in events[0].extensions] == ["permessage-deflate"]
        peer.to_server(TextMessage(data="squeeze " * 1000))
        message = await peer.session.receive()
        await peer.session.send({"type": "websocket.send", "text": "back " * 1000})
        return message

    assert run(scenario()) == {"type": "websocket.receive", "text": "squeeze " * 1000}
    frame = peer.wire.writes[-1]
    assert frame[0] & 0x40 and len(frame) < 200  # RSV1 set: compressed on the wire
    assert [e.data for e in peer.events()] == ["back " * 1000]


def test_permessage_deflate_can_be_turned_off() -> None:
    peer = Peer(deflate=True, per_message_deflate=False)
    events = run(peer.open())
    assert events[0].extensions == []
    assert b"Sec-WebSocket-Extensions" not in peer.wire.writes[0]


def test_a_compressed_bomb_stops_at_the_limit() -> None:
    peer = Peer(deflate=True, max_message_size=1024 * 1024)

    async def scenario() -> None:
        await peer.open()
        compressor = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, -15)
        payload = compressor.compress(bytes(64 * 1024 * 1024))
        payload += compressor.flush(zlib.Z_SYNC_FLUSH)
        frame = client_frame(0x2, payload[:-4], rsv1=True)
        assert len(frame) < 100_000
        tracemalloc.start()
        try:
            reply = peer.session.receive_data(frame)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert close_of(peer.answer(reply))[0] == 1009
        # Inflated a slice at a time (4 KiB -> 4 MiB, a few copies of it in wsproto):
        # all at once it peaks at about 200 MB.
        assert peak < 32 * 1024 * 1024, peak

    run(scenario())


# --- denial ---------------------------------------------------------------------------------

def test_close_before_accept_is_a_403() -> None:
    peer = Peer()

    async def scenario() -> None:
        await peer.session.receive()
        await peer.session.send({"type": "websocket.close"})

    run(scenario())
    events = peer.events()
    assert isinstance(events[0], RejectConnection) and events[0].status_code == 403
    assert peer.session.closed and peer.session.status_code == 403
    assert not peer.conn.keep_alive


def test_denial_response_extension() -> None:
    peer = Peer()

    async def scenario() -> None:
        await peer.session.receive()
        await peer.session.send({"type": "websocket.http.response.start", "status": 401,
                                 "headers": [(b"content-type", b"text/plain"),
                                             (b"www-authenticate", b"Bearer")]})
        assert not peer.session.closed
        await peer.session.send({"type": "websocket.http.response.body", "body": b"who are",
                                 "more_body": True})
        await peer.session.send({"type": "websocket.http.response.body", "body": b" you?"})
        assert await peer.session.receive() == {"type": "websocket.disconnect", "code": 1006,
                                                "reason": ""}

    run(scenario())
    result = h11_read("GET", peer.wire.data)
    assert result["status"] == 401 and result["body"] == b"who are you?"
    assert header(result, "www-authenticate") == ["Bearer"]
    assert header(result, "connection") == ["close"]
    assert peer.session.closed and peer.session.status_code == 401


def test_denial_response_misuse() -> None:
    peer = Peer()

    async def scenario() -> None:
        await peer.session.receive()
        await peer.session.send({"type": "websocket.http.response.start", "status": 403})
        await peer.session.send({"type": "websocket.send", "text": "no"})

    with pytest.raises(ASGIProtocolError, match="websocket denial response: unexpected"):
        run(scenario())


@pytest.mark.parametrize(("failed", "status"), [(False, 403), (True, 500)])
def test_an_app_that_ends_before_accepting(failed: bool, status: int) -> None:
    peer = Peer()

    async def scenario() -> None:
        await peer.session.receive()
        await peer.session.finish(app_failed=failed)

    run(scenario())
    events = peer.events()
    assert isinstance(events[0], RejectConnection) and events[0].status_code == status
    assert peer.session.closed


def test_a_denial_left_unfinished_becomes_a_500_or_a_close() -> None:
    peer = Peer()

    async def scenario() -> None:
        await peer.session.receive()
        await peer.session.send({"type": "websocket.http.response.start", "status": 401})
        await peer.session.finish(app_failed=True)

    run(scenario())
    assert h11_read("GET", peer.wire.data)["status"] == 500
    assert peer.session.closed


def test_the_client_leaves_during_the_handshake() -> None:
    peer = Peer()

    async def scenario() -> None:
        await peer.session.receive()
        peer.session.receive_data(b"")
        assert (await peer.session.receive())["code"] == 1006
        with pytest.raises(ClientDisconnected):
            await peer.session.send({"type": "websocket.accept"})

    run(scenario())
    assert peer.wire.writes == []


# --- flow control and availability ---------------------------------------------------------

def test_reading_stops_while_the_app_is_behind() -> None:
    demands: list[bool] = []
    peer = Peer(on_demand=lambda: demands.append(True))

    async def scenario() -> None:
        await peer.open()
        for i in range(QUEUE_LIMIT):
            assert peer.session.wants_data
            peer.to_server(TextMessage(data=str(i)))
        assert not peer.session.wants_data
        assert (await peer.session.receive())["text"] == "0"
        assert peer.session.wants_data
        for _ in range(QUEUE_LIMIT - 1):
            await peer.session.receive()
        assert demands == []
        waiting = asyncio.create_task(peer.session.receive())
        await settle()
        assert demands == [True]
        waiting.cancel()

    run(scenario())


def test_websocket_support_and_the_answer_without_wsproto(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert websocket_support() is None
    monkeypatch.setitem(sys.modules, "wsproto", None)
    assert "pip install workhorse[asgi]" in (websocket_support() or "")
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "a")]))
    client.receive_data(unavailable_response("workhorse"))
    response = client.next_event()
    assert isinstance(response, h11.Response) and response.status_code == 501


def test_reject_data_events_are_what_the_client_sees_of_a_denial() -> None:
    peer = Peer()

    async def scenario() -> None:
        await peer.session.receive()
        await peer.session.send({"type": "websocket.http.response.start", "status": 404,
                                 "headers": [(b"content-length", b"4")]})
        await peer.session.send({"type": "websocket.http.response.body", "body": b"gone"})

    run(scenario())
    events = peer.events()
    assert isinstance(events[0], RejectConnection) and events[0].status_code == 404
    assert b"".join(e.data for e in events if isinstance(e, RejectData)) == b"gone"
