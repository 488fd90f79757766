"""The WSGI app the hardening tests serve (on PYTHONPATH via hardening_support.app_env).

Every request is recorded before anything else happens: one JSON line
``{"pid", "method", "target"}`` appended to the file named by
``$HARDENING_RECORD`` (one ``write`` of a short line to an ``O_APPEND`` file
is atomic, so lines from several workers and threads never interleave).
That is how the tests prove which requests reached the application, and
that a ``/smuggled`` request hidden in a body never did.

Then, unless the path asks for something else, the body is read whole (so
a framing error in it surfaces while the app runs, as it does for any app
that reads its input) and the answer is ``200 ok N`` (N: body bytes read)
with a Content-Length. Other paths: ``/pid`` (the worker's pid), ``/big`` and
``/file`` (``?size=`` bytes, generated or a sparse file through
``wsgi.file_wrapper``), ``.../environ`` (the trust-related environ keys as
JSON), ``/broken/KIND`` (apps that break the WSGI contract, see ``_broken``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs

RECORD_ENV = "HARDENING_RECORD"


def _record(environ: dict[str, Any]) -> None:
    path = os.environ.get(RECORD_ENV)
    if not path:
        return
    line = json.dumps({"pid": os.getpid(), "method": environ["REQUEST_METHOD"],
                       "target": environ.get("RAW_URI", environ["PATH_INFO"])}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _query(environ: dict[str, Any]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _big(size: int, piece: int = 65536) -> Iterator[bytes]:
    block = b"x" * piece
    while size > 0:
        yield block[:size]
        size -= piece


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    _record(environ)
    path = environ["PATH_INFO"]
    q = _query(environ)
    if path == "/pid":
        body = str(os.getpid()).encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/big":
        size = int(q.get("size", str(8 * 1024 * 1024)))
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(size))])
        return _big(size)
    if path == "/file":  # a sparse file of the asked size, through wsgi.file_wrapper
        size = int(q.get("size", str(8 * 1024 * 1024)))
        handle = tempfile.TemporaryFile()  # noqa: SIM115 - the file wrapper closes it
        handle.truncate(size)
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(size))])
        return environ["wsgi.file_wrapper"](handle, 65536)
    if path.endswith("/environ"):  # also under a SCRIPT_NAME a proxy sets
        keys = ("wsgi.url_scheme", "REMOTE_ADDR", "REMOTE_PORT", "HTTP_X_FORWARDED_PROTO",
                "HTTP_X_FORWARDED_FOR", "SCRIPT_NAME", "PATH_INFO", "workhorse.request_id",
                "PROXY_PROTOCOL", "PROXY_ADDR", "HTTP_X_REQUEST_ID")
        body = json.dumps({k: environ.get(k) for k in keys}).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path.startswith("/broken/"):
        return _broken(path[len("/broken/"):], start_response)
    received = environ["wsgi.input"].read()
    body = b"ok %d" % len(received)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class _CloseRaises:
    def __iter__(self) -> Iterator[bytes]:
        return iter([b"body"])

    def close(self) -> None:
        raise RuntimeError("close() of the app's iterable failed")


#: Broken apps that are just a status, headers and a body: ``kind`` -> those.
_SIMPLE_BREAKS: dict[str, tuple[str, list[tuple[str, Any]], Any]] = {
    "status": ("OK", [], [b"x"]),
    "header-value": ("200 OK", [("X-Bad", "a\r\nInjected: yes")], [b"x"]),
    "header-name": ("200 OK", [("X Bad", "v")], [b"x"]),
    "header-type": ("200 OK", [("X-Num", 42)], [b"x"]),
    "not-iterable": ("200 OK", [], 42),
    "str-chunk": ("200 OK", [], ["text, not bytes"]),
    "length-overrun": ("200 OK", [("Content-Length", "2")], [b"more than two bytes"]),
    "length-underrun": ("200 OK", [("Content-Length", "100")], [b"short", b"er"]),
}


def _broken(kind: str, start_response: Any) -> Any:
    """Apps that break the WSGI contract or fail, one way per ``kind``."""
    if kind in _SIMPLE_BREAKS:
        status, headers, body = _SIMPLE_BREAKS[kind]
        start_response(status, list(headers))
        return list(body) if isinstance(body, list) else body
    if kind == "raise-before-body":
        def fail_first() -> Iterator[bytes]:
            raise RuntimeError("the app's iterable failed before its first chunk")
            yield b""  # pragma: no cover
        start_response("200 OK", [])
        return fail_first()
    if kind == "close-raises":
        start_response("200 OK", [("Content-Length", "4")])
        return _CloseRaises()
    if kind == "write-then-raise":
        write = start_response("200 OK", [])
        write(b"written before the error")
        raise RuntimeError("the app failed after write()")
    if kind == "exc-info-after-headers":
        write = start_response("200 OK", [])
        write(b"headers are out")
        try:
            raise ValueError("late failure")
        except ValueError:
            import sys

            start_response("500 Internal Server Error", [], sys.exc_info())
        return [b"never sent"]
    if kind == "start-response-twice":
        start_response("200 OK", [])
        start_response("200 OK", [])
        return [b"x"]
    raise LookupError(kind)
