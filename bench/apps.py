"""The applications every server runs: the least work an app can do for each response.

Each response body is built once at import, so a request costs the server's
work and almost nothing of the app's. Every WSGI app sets Content-Length, so
no server has to chunk or close to delimit a body.

    hello        GET  -> 200, b"Hello, World!" (13 B)
    json_small   GET  -> 200, a JSON document of about 300 B
    big          GET  -> 200, 1 MiB (one bytes object, returned as is)
    echo         POST -> 200, the request body read by the app, sent back
    slow         GET  -> 200, hello's body after time.sleep(0.1): a request waiting on
                 something slow (under gevent the sleep is patched: the worker serves
                 others meanwhile); run by the gevent rows only
    hello_asgi   ASGI twin of hello, for uvicorn (the rate workhorse must reach)

`EXPECTED` maps an app to the body the harness checks before measuring it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

HELLO = b"Hello, World!"
JSON_DOC = {
    "id": 4711,
    "server": "workhorse",
    "ok": True,
    "ratio": 0.25,
    "tags": ["wsgi", "pre-fork", "http/1.1", "keep-alive", "linux"],
    "owner": {"id": 7, "name": "operations", "email": "ops@example.invalid"},
    "created": "2026-01-01T00:00:00Z",
    "items": [{"sku": "A-0001", "qty": 1, "price": 9.5}, {"sku": "B-0002", "qty": 2, "price": 3.0}],
}
JSON_BODY = json.dumps(JSON_DOC, separators=(",", ":")).encode("ascii")
BIG = bytes(1024 * 1024)
ECHO_SIZE = 4096  # what the harness POSTs to echo
READ_CHUNK = 65536


def _headers(content_type: str, body: bytes) -> list[tuple[str, str]]:
    return [("Content-Type", content_type), ("Content-Length", str(len(body)))]


_HELLO_HEADERS = _headers("text/plain", HELLO)
_JSON_HEADERS = _headers("application/json", JSON_BODY)
_BIG_HEADERS = _headers("application/octet-stream", BIG)


def hello(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", _HELLO_HEADERS)
    return [HELLO]


def json_small(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", _JSON_HEADERS)
    return [JSON_BODY]


def big(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", _BIG_HEADERS)
    return [BIG]


def echo(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Read the whole body (Content-Length, else to the end of a chunked body) and send it back."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    chunks = []
    if length.isdigit():
        remaining = int(length)
        while remaining > 0:
            chunk = stream.read(min(remaining, READ_CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    else:
        while chunk := stream.read(READ_CHUNK):
            chunks.append(chunk)
    body = b"".join(chunks)
    start_response("200 OK", _headers("application/octet-stream", body))
    return [body]


#: How long each request of ``slow`` waits.
SLOW_SECONDS = 0.1


def slow(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    time.sleep(SLOW_SECONDS)  # looked up at call time: gevent's once the worker is patched
    start_response("200 OK", _HELLO_HEADERS)
    return [HELLO]


EXPECTED = {"hello": HELLO, "json_small": JSON_BODY, "big": BIG, "echo": b"x" * ECHO_SIZE,
            "slow": HELLO}

_ASGI_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(HELLO))],
}
_ASGI_BODY = {"type": "http.response.body", "body": HELLO}


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def hello_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["type"] == "http":
        await send(_ASGI_START)
        await send(_ASGI_BODY)


def _asgi_start(content_type: bytes, body: bytes) -> dict[str, Any]:
    return {"type": "http.response.start", "status": 200,
            "headers": [(b"content-type", content_type),
                        (b"content-length", b"%d" % len(body))]}


_ASGI_JSON_START = _asgi_start(b"application/json", JSON_BODY)
_ASGI_JSON_BODY = {"type": "http.response.body", "body": JSON_BODY}


async def json_small_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI twin of ``json_small``."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["type"] == "http":
        await send(_ASGI_JSON_START)
        await send(_ASGI_JSON_BODY)


async def echo_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI twin of ``echo``: the whole body, read and sent back."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    await send(_asgi_start(b"application/octet-stream", body))
    await send({"type": "http.response.body", "body": body})

