"""An ASGI app whose requests behave (and misbehave) the ways real ones do (tests only).

HTTP routes:

- ``/``, ``/pid``, ``/state`` (the lifespan state), ``/scope`` (JSON of the scope);
- ``/sleep?s=N``: ``asyncio.sleep`` (slow but well behaved);
- ``/block?s=N``: ``time.sleep`` inside the async view: blocks the loop;
- ``/spin?s=N``: a C loop through ``ctypes.PyDLL`` (GIL held, no signal checks);
- ``/recv?s=N``: a blocking ``recv()`` on a socket to a listener that never answers;
- ``/stream?n=N&every=S``: N chunks, one every S seconds (a flowing stream);
- ``/stall?after=N``: N chunks at once, then nothing (a stream that stops);
- ``/echo`` (POST): the request body back; ``/upload-count``: its length;
- ``/raise``, ``/raise-after-start``, ``/no-response``, ``/bad-message``: broken apps;
- ``/wait-disconnect``: returns once it is told the client left (marker ``disconnected``);
- ``/ignore-disconnect``: never returns on its own (marker ``cancelled`` when cancelled).

WebSocket routes: ``/ws`` (echo until the client closes), ``/ws-subprotocol``
(accepts the first offered), ``/ws-deny`` (closes before accepting: 403),
``/ws-close`` (accepts, then closes with 4001).

Lifespan: startup puts ``started`` (the pid) into the state; with
``ASGIAPP_LIFESPAN=fail`` it sends ``lifespan.startup.failed``, with ``raise``
it raises. Markers go into ``ASGIAPP_MARK_DIR`` (named ``<kind>-<pid>-<ns>``),
and every stuck call is bounded (60 s by default).
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import socket
import time
from typing import Any
from urllib.parse import parse_qs

_LIB_PATH = os.environ.get("STUCK_LIB", "")
_HOLDING_GIL = ctypes.PyDLL(_LIB_PATH) if _LIB_PATH else None


def mark(kind: str) -> None:
    directory = os.environ.get("ASGIAPP_MARK_DIR")
    if directory:
        with open(os.path.join(directory, f"{kind}-{os.getpid()}-{time.time_ns()}"), "w") as f:
            f.write(str(os.getpid()))


def spin_in_c_library(seconds: float) -> None:
    assert _HOLDING_GIL is not None, "STUCK_LIB is not set"
    _HOLDING_GIL.spin(ctypes.c_double(seconds))


def read_from_dead_peer(seconds: float) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # never accepts, never answers
    client = socket.create_connection(listener.getsockname())
    client.settimeout(seconds)
    try:
        client.recv(1)
    except TimeoutError:
        pass
    finally:
        client.close()
        listener.close()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(scope, receive, send)
    elif scope["type"] == "websocket":
        await websocket(scope, receive, send)
    else:
        await http(scope, receive, send)


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    mode = os.environ.get("ASGIAPP_LIFESPAN", "")
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if mode == "raise":
                raise RuntimeError("the database is down (asgiapp)")
            if mode == "fail":
                await send({"type": "lifespan.startup.failed",
                            "message": "cannot reach the cache (asgiapp)"})
                return
            scope["state"]["started"] = os.getpid()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            mark("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def answer(send: Any, body: bytes, status: int = 200,
                 content_type: bytes = b"text/plain") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("client left")
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def http(scope: dict[str, Any], receive: Any, send: Any) -> None:
    path = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]  # routes are below the mount point, as frameworks do
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    seconds = float(query.get("s", 60))
    if path == "/":
        await answer(send, b"ok")
    elif path == "/pid":
        await answer(send, str(os.getpid()).encode())
    elif path == "/state":
        await answer(send, json.dumps(scope["state"]).encode(), content_type=b"application/json")
    elif path == "/scope":
        shown = {key: scope[key] for key in ("type", "http_version", "method", "scheme", "path",
                                             "root_path", "query_string", "client", "server")}
        shown["raw_path"] = scope["raw_path"].decode("latin-1")
        shown["query_string"] = scope["query_string"].decode("latin-1")
        shown["headers"] = [[n.decode("latin-1"), v.decode("latin-1")]
                            for n, v in scope["headers"]]
        await answer(send, json.dumps(shown).encode(), content_type=b"application/json")
    elif path == "/sleep":
        mark("sleep")
        await asyncio.sleep(seconds)
        await answer(send, b"slept")
    elif path == "/block":
        mark("block")
        time.sleep(seconds)  # the mistake: a blocking call in an async view
        await answer(send, b"blocked")
    elif path == "/spin":
        mark("spin")
        spin_in_c_library(seconds)
        await answer(send, b"spun")
    elif path == "/recv":
        mark("recv")
        read_from_dead_peer(seconds)
        await answer(send, b"read")
    elif path == "/stream":
        await stream(send, int(query.get("n", 5)), float(query.get("every", 0.1)))
    elif path == "/stall":
        await stall(send, int(query.get("after", 2)))
    elif path == "/echo":
        body = await read_body(receive)
        await answer(send, body, content_type=b"application/octet-stream")
    elif path == "/upload-count":
        body = await read_body(receive)
        await answer(send, str(len(body)).encode())
    else:
        await broken_or_waiting(path, receive, send)


async def stream(send: Any, count: int, every: float) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    for index in range(count):
        await send({"type": "http.response.body", "body": f"chunk {index}\n".encode(),
                    "more_body": True})
        await asyncio.sleep(every)
    await send({"type": "http.response.body", "body": b"done\n"})


async def stall(send: Any, after: int) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    for index in range(after):
        await send({"type": "http.response.body", "body": f"chunk {index}\n".encode(),
                    "more_body": True})
    await asyncio.sleep(600)


async def broken_or_waiting(path: str, receive: Any, send: Any) -> None:
    if path == "/raise":
        raise RuntimeError("the view failed (asgiapp)")
    if path == "/raise-after-start":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("the view failed half way (asgiapp)")
    if path == "/no-response":
        return
    if path == "/bad-message":
        await send({"type": "http.response.body", "body": b"body before start"})
        return
    if path == "/wait-disconnect":
        while (await receive())["type"] != "http.disconnect":
            pass
        mark("disconnected")
        return
    if path == "/ignore-disconnect":
        try:
            await asyncio.sleep(600)
        except asyncio.CancelledError:
            mark("cancelled")
            raise
    await answer(send, b"not found", status=404)


async def websocket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    path = scope["path"]
    message = await receive()
    assert message["type"] == "websocket.connect"
    if path == "/ws-deny":
        await send({"type": "websocket.close", "code": 1008})
        return
    if path == "/ws-subprotocol":
        offered = scope["subprotocols"]
        await send({"type": "websocket.accept", "subprotocol": offered[0] if offered else None})
    else:
        await send({"type": "websocket.accept"})
    if path == "/ws-close":
        await send({"type": "websocket.close", "code": 4001, "reason": "bye"})
        return
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            mark(f"ws-closed-{message.get('code')}")
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": "echo: " + message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})
