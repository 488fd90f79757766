"""A small built-in WSGI application, so a newcomer can see workhorse work.

``workhorse workhorse.demo:app`` then open http://127.0.0.1:8000/ .
Routes: ``/`` a short page, ``/hello`` plain text, ``/json`` a small JSON
document, ``/echo`` (POST) the body back, ``/sleep?s=N`` a slow request
(to watch ``workhorse status`` report it busy), ``/env`` the WSGI environ.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

StartResponse = Callable[..., Any]

PAGE = """<!doctype html>
<title>workhorse</title>
<h1>workhorse is serving</h1>
<p>Worker pid {pid}. Try <a href="/hello">/hello</a>, <a href="/json">/json</a>,
<a href="/sleep?s=5">/sleep?s=5</a> (then run <code>workhorse status</code>)
and <a href="/env">/env</a>.</p>
"""

#: Upper bound of /sleep, so a demo cannot hold a worker for long.
MAX_SLEEP_SECONDS = 60.0


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "/")
    handler = ROUTES.get(path, not_found)
    return handler(environ, start_response)


def index(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    return _send(start_response, "200 OK", "text/html; charset=utf-8",
                 PAGE.format(pid=os.getpid()).encode())


def hello(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    return _send(start_response, "200 OK", "text/plain", b"Hello, World!")


def json_doc(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    body = json.dumps({"server": "workhorse", "pid": os.getpid(), "time": time.time()})
    return _send(start_response, "200 OK", "application/json", body.encode())


def echo(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    body = environ["wsgi.input"].read()
    content_type = environ.get("CONTENT_TYPE") or "application/octet-stream"
    return _send(start_response, "200 OK", content_type, body)


def sleep(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    try:
        seconds = min(float(query.get("s", ["1"])[0]), MAX_SLEEP_SECONDS)
    except ValueError:
        return _send(start_response, "400 Bad Request", "text/plain", b"s must be a number")
    time.sleep(max(0.0, seconds))
    return _send(start_response, "200 OK", "text/plain", f"slept {seconds}s".encode())


def env(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    lines = [f"{key} = {environ[key]!r}" for key in sorted(environ)]
    return _send(start_response, "200 OK", "text/plain; charset=utf-8",
                 "\n".join(lines).encode())


def not_found(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    return _send(start_response, "404 Not Found", "text/plain", b"Not Found")


def _send(start_response: StartResponse, status: str, content_type: str,
          body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


ROUTES = {
    "/": index,
    "/hello": hello,
    "/json": json_doc,
    "/echo": echo,
    "/sleep": sleep,
    "/env": env,
}
