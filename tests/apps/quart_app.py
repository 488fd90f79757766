"""The Quart app of the asgi interop tests (tests/interop/test_asgi_quart.py).

Quart is Flask's API on ASGI; it runs its own lifespan (``before_serving`` /
``after_serving``), runs sync views in a thread, and speaks WebSocket.

- ``GET /``: JSON with what ``before_serving`` set up and the pid;
- ``GET /sync``: a sync view (Quart runs it in a thread, off the loop);
- ``POST /json``: ``request.get_json()``, the sum of ``items`` back;
- ``POST /raw``: ``request.get_data()``: length, sha256, the framing headers;
- ``GET /stream?n=``: an async generator response;
- ``GET /boom``: an unhandled exception (Quart's 500);
- WebSocket ``/ws/echo``: ``echo: TEXT``; the text ``bye`` ends the handler
  (Quart then closes with 1000).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from quart import Quart, Response, request, websocket

app = Quart(__name__)
#: What before_serving set up (per worker process).
SERVING: dict[str, Any] = {}


def marks() -> Path:
    return Path(os.environ.get("FRAMEWORK_MARK_DIR") or tempfile.gettempdir())


def mark(name: str) -> None:
    """A marker file for the test, when it asked for them (``$FRAMEWORK_MARK_DIR``)."""
    if os.environ.get("FRAMEWORK_MARK_DIR"):
        (marks() / name).touch()


@app.before_serving
async def startup() -> None:
    SERVING["started_by"] = os.getpid()


@app.after_serving
async def shutdown() -> None:
    mark(f"quart-shutdown-{os.getpid()}")


@app.get("/")
async def index() -> dict[str, Any]:
    return {"framework": "quart", "started_by": SERVING.get("started_by"), "pid": os.getpid()}


@app.get("/sync")
def sync_view() -> dict[str, Any]:
    return {"thread": threading.current_thread().name}


@app.post("/json")
async def json_view() -> dict[str, Any]:
    data = await request.get_json()
    return {"received": data, "total": sum(data["items"])}


@app.post("/raw")
async def raw() -> dict[str, Any]:
    body = await request.get_data()
    assert isinstance(body, bytes)
    return {"length": len(body), "sha256": hashlib.sha256(body).hexdigest(),
            "content_length": request.headers.get("Content-Length"),
            "chunked": request.headers.get("Transfer-Encoding")}


@app.get("/stream")
async def stream() -> Response:
    count = int(request.args.get("n", "5"))

    async def lines() -> AsyncIterator[bytes]:
        for index in range(count):
            await asyncio.sleep(0)
            yield f"quart {index}\n".encode()

    return Response(lines(), mimetype="text/plain")


@app.get("/boom")
async def boom() -> str:
    raise RuntimeError("boom from a Quart view")


@app.websocket("/ws/echo")
async def ws_echo() -> None:
    while True:
        text = await websocket.receive()
        if text == "bye":
            return
        await websocket.send(f"echo: {text}")
