"""Real frameworks through our cycle objects, in memory: FastAPI over HTTP, Starlette
over WebSocket, and both frameworks' lifespans. No socket: the test plays the
worker (parse with ServerConnection, feed the body, run the app) and reads the
bytes back with h11 and wsproto's client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cycle_support import Wire, h11_read, header, pump, settle
from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    RejectConnection,
    TextMessage,
)
from wsproto.events import Request as WSRequest

from workhorse.asgi import HTTPCycle, Lifespan, Outcome, ScopeBuilder, WebSocketSession
from workhorse.config import Config
from workhorse.http import Request, ServerConnection
from workhorse.workers.serving import environ_policy
from workhorse.wsgi.environ import ListenerInfo

PEER = ("127.0.0.1", 50123)


def scope_builder(state: dict[str, Any] | None = None) -> ScopeBuilder:
    return ScopeBuilder(environ_policy(Config(), multithread=False),
                        ListenerInfo("127.0.0.1", "8000", False, False), state)


async def serve_http(app: Any, raw: bytes,
                     scopes: ScopeBuilder | None = None) -> tuple[bytes, HTTPCycle]:
    """What the worker does for one request, minus the socket."""
    conn = ServerConnection()
    conn.receive_data(raw)
    request = conn.next_event()
    assert isinstance(request, Request)
    wire = Wire()
    cycle = HTTPCycle(conn, wire.write)
    pump(conn, cycle)
    scope = (scopes or scope_builder()).http_scope(request, PEER)
    await app(scope, cycle.receive, cycle.send)
    assert cycle.response_complete
    return wire.data, cycle


# --- FastAPI over HTTP ----------------------------------------------------------------------

class Item(BaseModel):
    name: str
    price: float


def fastapi_app(events: list[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, q: str | None = None) -> dict[str, Any]:
        return {"item_id": item_id, "q": q}

    @app.post("/items")
    async def create_item(item: Item, tasks: BackgroundTasks) -> dict[str, Any]:
        tasks.add_task(events.append, f"created {item.name}")
        return {"name": item.name, "price": item.price}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def numbers() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"line {i}\n".encode()

        return StreamingResponse(numbers(), media_type="text/plain")

    return app


def test_fastapi_json_route() -> None:
    app = fastapi_app([])
    raw = b"GET /items/42?q=caf%C3%A9 HTTP/1.1\r\nHost: a\r\n\r\n"
    data, cycle = asyncio.run(serve_http(app, raw))
    result = h11_read("GET", data)
    assert result["status"] == 200
    assert header(result, "content-type") == ["application/json"]
    assert json.loads(result["body"]) == {"item_id": 42, "q": "caf\u00e9"}
    assert cycle.status_code == 200 and cycle.bytes_sent == len(result["body"])


def test_fastapi_post_body_and_background_task() -> None:
    events: list[str] = []
    app = fastapi_app(events)
    body = json.dumps({"name": "lamp", "price": 12.5}).encode()
    raw = (b"POST /items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n"
           + b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body))
    data, cycle = asyncio.run(serve_http(app, raw))
    result = h11_read("POST", data)
    assert json.loads(result["body"]) == {"name": "lamp", "price": 12.5}
    assert events == ["created lamp"]  # ran after the response, inside the app call
    assert cycle.body_bytes_read == len(body)


def test_fastapi_validation_error_is_a_422() -> None:
    app = fastapi_app([])
    raw = (b"POST /items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
           b"Content-Length: 2\r\n\r\n{}")
    data, _ = asyncio.run(serve_http(app, raw))
    assert h11_read("POST", data)["status"] == 422


def test_fastapi_streaming_response_is_chunked() -> None:
    app = fastapi_app([])
    data, _ = asyncio.run(serve_http(app, b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n"))
    result = h11_read("GET", data)
    assert header(result, "transfer-encoding") == ["chunked"]
    assert result["body"] == b"line 0\nline 1\nline 2\n"
    assert b"7\r\nline 0\n\r\n" in data


def test_fastapi_head_request_gets_headers_only() -> None:
    app = FastAPI()

    @app.api_route("/page", methods=["GET", "HEAD"])
    async def page() -> PlainTextResponse:
        return PlainTextResponse("x" * 50)

    data, _ = asyncio.run(serve_http(app, b"HEAD /page HTTP/1.1\r\nHost: a\r\n\r\n"))
    result = h11_read("HEAD", data)
    assert header(result, "content-length") == ["50"] and result["body"] == b""
    assert data.endswith(b"\r\n\r\n")


def test_fastapi_streaming_stops_when_the_client_goes() -> None:
    # ASGI 2.4: send() raises an OSError once the client is gone, and Starlette
    # stops the response there instead of listening for http.disconnect.
    async def scenario() -> tuple[list[str], str, int]:
        app = FastAPI()
        produced: list[str] = []
        release = asyncio.Event()

        @app.get("/forever")
        async def forever() -> StreamingResponse:
            async def lines() -> AsyncIterator[bytes]:
                for word in ("first", "second", "third"):
                    produced.append(word)
                    yield f"{word}\n".encode()
                    await release.wait()

            return StreamingResponse(lines())

        conn = ServerConnection()
        conn.receive_data(b"GET /forever HTTP/1.1\r\nHost: a\r\n\r\n")
        request = conn.next_event()
        assert isinstance(request, Request)
        wire = Wire()
        cycle = HTTPCycle(conn, wire.write)
        task = asyncio.create_task(app(scope_builder().http_scope(request, PEER),
                                       cycle.receive, cycle.send))
        await settle()
        cycle.disconnected()
        release.set()
        try:
            await task
        except Exception as exc:
            raised = type(exc).__name__
        else:
            raised = "nothing"
        return produced, raised, len(wire.writes)

    produced, raised, writes = asyncio.run(scenario())
    assert produced == ["first", "second"]  # "second" was refused, "third" never made
    assert raised == "ClientDisconnect"
    assert writes == 1


# --- Starlette over WebSocket ----------------------------------------------------------------

async def chat(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol="chat")
    name = await websocket.receive_text()
    await websocket.send_text(f"hello {name}")
    data = await websocket.receive_bytes()
    await websocket.send_bytes(data[::-1])
    await websocket.send_json({"path": websocket.url.path, "room": websocket.query_params["room"]})
    await websocket.close(code=4001, reason="bye")


async def guarded(websocket: WebSocket) -> None:
    await websocket.send_denial_response(PlainTextResponse("members only", status_code=401))


STARLETTE_WS = Starlette(routes=[WebSocketRoute("/ws", chat), WebSocketRoute("/guarded", guarded)])


class WSPeer:
    """wsproto's client with the app running as a task behind a session."""

    def __init__(self, target: str) -> None:
        self.ws = WSConnection(ConnectionType.CLIENT)
        head = self.ws.send(WSRequest(host="a", target=target, subprotocols=["chat"]))
        self.conn = ServerConnection()
        self.conn.receive_data(head)
        request = self.conn.next_event()
        assert isinstance(request, Request)
        self.request = request
        self.wire = Wire()
        self.session = WebSocketSession(self.conn, self.wire.write)
        self.read = 0

    def start(self, app: Any) -> asyncio.Task[None]:
        scope = scope_builder().websocket_scope(self.request, PEER)
        return asyncio.create_task(app(scope, self.session.receive, self.session.send))

    async def events(self) -> list[Any]:
        await settle()
        data = self.wire.data[self.read:]
        self.read += len(data)
        self.ws.receive_data(data)
        return list(self.ws.events())

    async def say(self, event: Any) -> None:
        reply = self.session.receive_data(self.ws.send(event))
        if reply:
            self.ws.receive_data(reply)


def test_starlette_websocket_route() -> None:
    async def scenario() -> list[Any]:
        peer = WSPeer("/ws?room=7")
        task = peer.start(STARLETTE_WS)
        seen = await peer.events()
        assert isinstance(seen[0], AcceptConnection) and seen[0].subprotocol == "chat"
        await peer.say(TextMessage(data="ada"))
        seen = await peer.events()
        await peer.say(BytesMessage(data=b"abc"))
        seen += await peer.events()
        await task
        assert not peer.session.closed  # the close reply is awaited
        await peer.say(CloseConnection(code=4001))
        assert peer.session.closed
        return seen

    seen = asyncio.run(scenario())
    assert [type(e).__name__ for e in seen] == ["TextMessage", "BytesMessage", "TextMessage",
                                                "CloseConnection"]
    assert seen[0].data == "hello ada" and seen[1].data == b"cba"
    assert json.loads(seen[2].data) == {"path": "/ws", "room": "7"}
    assert (seen[3].code, seen[3].reason) == (4001, "bye")


def test_starlette_websocket_client_leaves() -> None:
    async def scenario() -> type[BaseException] | None:
        peer = WSPeer("/ws?room=1")
        task = peer.start(STARLETTE_WS)
        await peer.events()
        await peer.say(CloseConnection(code=1001))
        try:
            await task
        except BaseException as exc:  # Starlette raises WebSocketDisconnect out of the app
            return type(exc)
        return None

    raised = asyncio.run(scenario())
    assert raised is not None and raised.__name__ == "WebSocketDisconnect"


def test_starlette_denial_response() -> None:
    async def scenario() -> tuple[list[Any], bytes]:
        peer = WSPeer("/guarded")
        await peer.start(STARLETTE_WS)
        return await peer.events(), peer.wire.data

    events, data = asyncio.run(scenario())
    assert isinstance(events[0], RejectConnection) and events[0].status_code == 401
    assert h11_read("GET", data)["body"] == b"members only"


def test_starlette_websocket_to_an_unknown_path_is_a_403() -> None:
    async def scenario() -> list[Any]:
        peer = WSPeer("/nowhere")
        await peer.start(STARLETTE_WS)
        return await peer.events()

    events = asyncio.run(scenario())
    assert isinstance(events[0], RejectConnection) and events[0].status_code == 403


# --- lifespans ------------------------------------------------------------------------------

def test_starlette_lifespan_state_reaches_requests() -> None:
    closed: list[bool] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield {"db": "pool-1"}
        closed.append(True)

    async def home(request: StarletteRequest) -> PlainTextResponse:
        return PlainTextResponse(request.state.db)

    app = Starlette(routes=[Route("/", home)], lifespan=lifespan)

    async def scenario() -> bytes:
        life = Lifespan(app, "on")
        assert (await life.startup()).outcome is Outcome.STARTED
        data, _ = await serve_http(app, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
                                   scope_builder(life.state))
        assert (await life.shutdown()).outcome is Outcome.STOPPED
        return data

    assert h11_read("GET", asyncio.run(scenario()))["body"] == b"pool-1"
    assert closed == [True]


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_fastapi_startup_failure_is_a_failed_boot(mode: str) -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise ConnectionRefusedError("database at 10.0.0.5:5432 refused the connection")
        yield

    result = asyncio.run(Lifespan(FastAPI(lifespan=lifespan), mode).startup())
    assert result.outcome is Outcome.FAILED
    assert "ConnectionRefusedError: database at 10.0.0.5:5432" in result.detail
