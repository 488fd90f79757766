"""WSGI apps the integration tests serve (on PYTHONPATH via tests/support.py)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs
from wsgiref.validate import validator


def _query(environ: dict[str, Any]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    q = _query(environ)
    if path == "/":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    if path == "/pid":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
    if path == "/sleep":
        mark_dir = os.environ.get("TESTAPP_MARK_DIR")
        if mark_dir:  # lets a test see that the request reached the app
            with open(os.path.join(mark_dir, f"sleep-{os.getpid()}-{time.time_ns()}"), "w"):
                pass
        time.sleep(float(q.get("s", "1")))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"slept {os.getpid()}".encode()]
    if path == "/echo":
        # read(size) until b"": the form PEP 3333 (and wsgiref's validator) allows.
        parts = []
        while part := environ["wsgi.input"].read(65536):
            parts.append(part)
        body = b"".join(parts)
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/echo-lines":
        lines = list(environ["wsgi.input"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [json.dumps([line.decode("latin-1") for line in lines]).encode()]
    if path == "/environ":
        start_response("200 OK", [("Content-Type", "application/json")])
        safe = {k: v for k, v in environ.items() if isinstance(v, (str, int, bool, tuple))}
        return [json.dumps(safe, default=str).encode()]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (f"chunk{i}\n".encode() for i in range(int(q.get("n", "3"))))
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written-")
        return [b"returned"]
    if path == "/status":
        code = q.get("code", "204")
        start_response(f"{code} Custom", [("Content-Type", "text/plain")])
        return [b"" if code in ("204", "304") else b"custom"]
    if path == "/raise":
        raise RuntimeError("boom from the app")
    if path == "/raise-after-headers":
        def gen() -> Iterable[bytes]:
            yield b"partial"
            raise RuntimeError("boom after headers")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()
    if path == "/bad-status":
        start_response("OK", [])
        return [b"x"]
    if path == "/bad-header":
        start_response("200 OK", [("X-Bad", "a\r\nInjected: yes")])
        return [b"x"]
    if path == "/hop-by-hop":
        start_response("200 OK", [("Connection", "keep-alive")])
        return [b"x"]
    if path == "/no-start-response":
        return [b"x"]
    if path == "/not-iterable":
        start_response("200 OK", [])
        return 42  # type: ignore[return-value]
    if path == "/close-raises":
        class Body:
            def __iter__(self) -> Any:
                return iter([b"body"])

            def close(self) -> None:
                raise RuntimeError("close failed")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()
    if path == "/file":
        size = int(q.get("size", "100000"))
        handle = tempfile.TemporaryFile()  # noqa: SIM115 - the file wrapper closes it
        handle.write(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
        handle.seek(0)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](handle, 8192)
    if path == "/exc-info":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("late error")
        except ValueError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")],
                           sys.exc_info())
        return [b"recovered"]
    if path == "/whoami":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"uid": os.getuid(), "gid": os.getgid(), "cwd": os.getcwd(),
                            "env": os.environ.get(q.get("var", ""), None)}).encode()]
    if path == "/print":
        print("printed-by-app", flush=True)
        start_response("200 OK", [])
        return [b"printed"]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


validated_app = validator(app)


def factory(greeting: str = "hello", punctuation: str = "!") -> Any:
    def greet(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{greeting}{punctuation}".encode()]
    return greet
