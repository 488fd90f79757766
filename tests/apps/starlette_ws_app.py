"""The Starlette WebSocket app of the asgi interop tests (tests/interop/test_asgi_starlette.py).

WebSocket routes (all under ``/ws`` so one nginx location with the upgrade
headers serves them):

- ``/ws/echo``: accepts (with the first offered subprotocol), echoes text as
  ``echo: TEXT``, bytes reversed, JSON ``{"n": N}`` as ``{"n": N + 1}``; the
  text ``close CODE REASON`` makes it close with that code; when the client
  closes, the code it sent is written to ``ws-closed-<id>-<code>`` in
  ``$FRAMEWORK_MARK_DIR`` (``id`` from the query string);
- ``/ws/bye``: accepts, sends one message, closes with 4001 "bye";
- ``/ws/deny``: closes before accepting (the client sees a 403);
- ``/ws/denial``: a denial response (401 with a body, the ASGI extension);
- ``/ws/crash``: accepts, then raises (Starlette's error: the server closes with 1011);
- ``/ws/big``: accepts and sends one 1 MiB binary message.

HTTP: ``/`` (plain text), so a server of this app can be probed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


def marks() -> Path:
    return Path(os.environ.get("FRAMEWORK_MARK_DIR") or tempfile.gettempdir())


def mark(name: str) -> None:
    """A marker file for the test, when it asked for them (``$FRAMEWORK_MARK_DIR``)."""
    if os.environ.get("FRAMEWORK_MARK_DIR"):
        (marks() / name).touch()


async def index(request: Request) -> PlainTextResponse:
    return PlainTextResponse("starlette")


async def echo(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=offered[0] if offered else None)
    client_id = websocket.query_params.get("id", "anonymous")
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                mark(f"ws-closed-{client_id}-{message.get('code')}")
                return
            text = message.get("text")
            if text is None:
                await websocket.send_bytes(message["bytes"][::-1])
            elif text.startswith("close "):
                _, code, reason = text.split(" ", 2)
                await websocket.close(code=int(code), reason=reason)
                return
            elif text.startswith("{"):
                await websocket.send_json({"n": json.loads(text)["n"] + 1})
            else:
                await websocket.send_text(f"echo: {text}")
    except WebSocketDisconnect as gone:
        mark(f"ws-closed-{client_id}-{gone.code}")


async def bye(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("goodbye")
    await websocket.close(code=4001, reason="bye")


async def deny(websocket: WebSocket) -> None:
    await websocket.close(code=1008)


async def denial(websocket: WebSocket) -> None:
    await websocket.send_denial_response(PlainTextResponse("members only", status_code=401))


async def crash(websocket: WebSocket) -> None:
    await websocket.accept()
    raise RuntimeError("the WebSocket handler failed (starlette_ws_app)")


async def big(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_bytes(bytes(range(256)) * 4096)
    await websocket.receive()  # until the client closes


app = Starlette(routes=[
    Route("/", index),
    WebSocketRoute("/ws/echo", echo),
    WebSocketRoute("/ws/bye", bye),
    WebSocketRoute("/ws/deny", deny),
    WebSocketRoute("/ws/denial", denial),
    WebSocketRoute("/ws/crash", crash),
    WebSocketRoute("/ws/big", big),
])
