"""The FastAPI app of the asgi interop tests (tests/interop/test_asgi_fastapi.py).

Routes:

- ``GET /`` and ``GET /items/{item_id}?q=``: JSON, typed path and query;
- ``GET /state``: what the lifespan put into the state, and this worker's pid;
- ``POST /items``: a JSON body validated by pydantic (422 when it does not
  fit); the answer names a background task that runs after the response:
  it waits for the test to create ``release-<name>`` in the mark directory,
  then writes ``done-<name>`` (so a test can prove the response did not wait
  for the task, and that the task still ran);
- ``POST /upload``: the raw body read with ``request.stream()`` (length, sha256);
- ``GET /stream?n=``: a StreamingResponse of n lines; ``GET /big?size=``: that
  many bytes streamed in 64 KiB chunks (the client's pace sets the app's); ``GET /gated?name=``:
  one line, then waits for ``open-<name>`` before the second (a response that
  really streams: the first line reaches the client while the app waits);
- ``GET|HEAD /page``: 50 bytes of text (HEAD: the same headers, no body);
- ``GET /boom``: an unhandled exception (FastAPI's 500).

Markers go into ``$FRAMEWORK_MARK_DIR``; every wait is bounded (10 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel

#: Longest a route or a background task waits for the test's go-ahead.
WAIT_LIMIT = 10.0


def marks() -> Path:
    return Path(os.environ.get("FRAMEWORK_MARK_DIR") or tempfile.gettempdir())


def mark(name: str) -> None:
    """A marker file for the test, when it asked for them (``$FRAMEWORK_MARK_DIR``)."""
    if os.environ.get("FRAMEWORK_MARK_DIR"):
        (marks() / name).touch()


async def wait_for_file(path: Path) -> bool:
    """Poll for ``path`` (the test creates it), up to WAIT_LIMIT; True if it came."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT
    while loop.time() < deadline:
        if path.exists():
            return True
        await asyncio.sleep(0.01)
    return False


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    yield {"pool": f"pool-of-{os.getpid()}"}
    mark(f"shutdown-{os.getpid()}")


app = FastAPI(lifespan=lifespan)


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


async def finish_later(name: str) -> None:
    """The background task: runs once the response is out."""
    released = await wait_for_file(marks() / f"release-{name}")
    (marks() / f"done-{name}").write_text("released" if released else "gave up")


@app.get("/")
async def index() -> dict[str, str]:
    return {"framework": "fastapi"}


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict[str, Any]:
    return {"item_id": item_id, "q": q}


@app.get("/state")
async def state(request: Request) -> dict[str, Any]:
    return {"pool": request.state.pool, "pid": os.getpid()}


@app.post("/items")
async def create_item(item: Item, tasks: BackgroundTasks) -> dict[str, Any]:
    tasks.add_task(finish_later, item.name)
    return {"name": item.name, "price": item.price, "tags": item.tags, "pid": os.getpid()}


@app.post("/upload")
async def upload(request: Request) -> dict[str, Any]:
    digest = hashlib.sha256()
    length = 0
    async for chunk in request.stream():
        digest.update(chunk)
        length += len(chunk)
    return {"length": length, "sha256": digest.hexdigest(),
            "content_length": request.headers.get("content-length"),
            "chunked": request.headers.get("transfer-encoding")}


@app.get("/stream")
async def stream(n: int = 5) -> StreamingResponse:
    async def lines() -> AsyncIterator[bytes]:
        for index in range(n):
            yield f"line {index}\n".encode()

    return StreamingResponse(lines(), media_type="text/plain")


@app.get("/big")
async def big(size: int) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        block = bytes(range(256)) * 256  # 64 KiB
        left = size
        while left > 0:
            yield block[:left]
            left -= len(block)

    return StreamingResponse(chunks(), media_type="application/octet-stream")


@app.get("/gated")
async def gated(name: str) -> StreamingResponse:
    async def lines() -> AsyncIterator[bytes]:
        yield b"first\n"
        opened = await wait_for_file(marks() / f"open-{name}")
        yield b"second\n" if opened else b"gave up\n"

    # nginx: pass each chunk on as it comes.
    return StreamingResponse(lines(), media_type="text/plain",
                             headers={"X-Accel-Buffering": "no"})


@app.api_route("/page", methods=["GET", "HEAD"])
async def page() -> PlainTextResponse:
    return PlainTextResponse("x" * 50)


@app.get("/boom")
async def boom() -> dict[str, str]:
    raise RuntimeError("boom from a FastAPI route")
