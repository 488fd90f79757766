"""The ASGI twin of hardening_app.py: the recording app the hardening tests serve with ``-k asgi``.

Every request is recorded before anything else happens, as the WSGI app does:
one JSON line ``{"pid", "method", "target"}`` appended to ``$HARDENING_RECORD``
(one ``write`` to an ``O_APPEND`` file: lines never interleave). ASGI has no
RAW_URI, so ``target`` is what the scope keeps of the request target:
``raw_path``, plus ``?`` and ``query_string`` when there is a query (an
absolute-form target is seen as its path; corpus_model.asgi_target says the
same from the core's parse).

Then the body is read whole, as the app asks for it, so a framing error in it
surfaces while the app waits in ``receive()``, and the answer is ``200 ok N``
(N: body bytes read) with a Content-Length. ``/pid`` answers the worker's
pid; ``/big?size=N`` N bytes (8 MiB by default) with a Content-Length, sent
64 KiB at a time at the client's pace. When ``receive()`` says
``http.disconnect`` (the client left, or the server refused the body and
closed), the app returns without a response, as ASGI allows. A WebSocket
upgrade is recorded and refused (403); the lifespan protocol is answered.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import parse_qs

RECORD_ENV = "HARDENING_RECORD"


def _record(method: str, target: str) -> None:
    path = os.environ.get(RECORD_ENV)
    if not path:
        return
    line = json.dumps({"pid": os.getpid(), "method": method, "target": target}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def target_of(scope: dict[str, Any]) -> str:
    """The request target as far as the scope keeps it (latin-1, as WSGI's RAW_URI)."""
    target = scope["raw_path"].decode("latin-1")
    query = scope["query_string"].decode("latin-1")
    return f"{target}?{query}" if query else target


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    kind = scope["type"]
    if kind == "lifespan":
        await _lifespan(receive, send)
    elif kind == "websocket":
        _record("GET", target_of(scope))
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008})
    else:
        await _http(scope, receive, send)


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _http(scope: dict[str, Any], receive: Any, send: Any) -> None:
    _record(scope["method"], target_of(scope))
    if scope["path"] == "/pid":
        await _answer(send, str(os.getpid()).encode())
        return
    if scope["path"] == "/big":
        await _big(send, int(_query(scope).get("size", str(8 * 1024 * 1024))))
        return
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return  # the client is gone: there is nobody to answer
        received += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await _answer(send, b"ok %d" % received)


def _query(scope: dict[str, Any]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(scope["query_string"].decode("latin-1")).items()}


async def _big(send: Any, size: int, piece: int = 65536) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream"),
                            (b"content-length", str(size).encode())]})
    block = b"x" * piece
    while True:
        chunk = block[:size]
        size -= len(chunk)
        await send({"type": "http.response.body", "body": chunk, "more_body": size > 0})
        if size <= 0:
            return


async def _answer(send: Any, body: bytes) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
