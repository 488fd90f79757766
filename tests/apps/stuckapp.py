"""A WSGI app whose requests get stuck the ways real ones do (tests only).

- ``/spin?s=N``: a C loop called through ``ctypes.PyDLL``: it holds the GIL
  and never checks for signals, like a C library spinning on a bad input.
- ``/block?s=N``: C ``recv()`` on a socket to a listener that never answers,
  retrying on EINTR, through ``ctypes.CDLL`` (GIL released), like a database
  client waiting on a hung server.
- ``/sleep?s=N``: Python ``time.sleep`` (a slow but well-behaved request).
- ``&extend=M`` on any of them first asks for M more seconds through
  ``environ["workhorse.extend_deadline"]``.
- ``/ok``, ``/pid``: fast answers. ``/grow?mb=N``: keeps N MiB allocated.

Every stuck call is bounded (N seconds, default 60) so that a server that
fails to kill it cannot leave a process spinning after the tests. The C
library is compiled by the test fixture; its path is in ``STUCK_LIB``.
Each stuck request writes a marker file into ``STUCK_MARK_DIR`` so a test
knows it reached the app.
"""

from __future__ import annotations

import ctypes
import os
import socket
import time
from typing import Any
from urllib.parse import parse_qs

_LIB_PATH = os.environ.get("STUCK_LIB", "")
_HOLDING_GIL = ctypes.PyDLL(_LIB_PATH) if _LIB_PATH else None
_RELEASING_GIL = ctypes.CDLL(_LIB_PATH) if _LIB_PATH else None
_KEPT: list[bytearray] = []


def _mark(kind: str) -> None:
    directory = os.environ.get("STUCK_MARK_DIR")
    if directory:
        path = os.path.join(directory, f"{kind}-{os.getpid()}-{time.time_ns()}")
        with open(path, "w") as handle:
            handle.write(str(os.getpid()))


def spin_in_c_library(seconds: float) -> None:
    assert _HOLDING_GIL is not None, "STUCK_LIB is not set"
    _HOLDING_GIL.spin(ctypes.c_double(seconds))


def query_dead_database(seconds: float) -> None:
    assert _RELEASING_GIL is not None, "STUCK_LIB is not set"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # never accepts, never answers
    client = socket.create_connection(listener.getsockname())
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                      int(seconds).to_bytes(8, "little") + (0).to_bytes(8, "little"))
    try:
        _RELEASING_GIL.block_recv(client.fileno())
    finally:
        client.close()
        listener.close()


def trickle(start_response: Any, count: int, every: float, stall_after: int) -> Any:
    """A streamed response: ``count`` chunks, one every ``every`` seconds (an
    export, server-sent events); with ``stall_after`` it stops after that many."""
    start_response("200 OK", [("Content-Type", "text/plain")])

    def chunks() -> Any:
        for index in range(count):
            if index == stall_after:
                time.sleep(60)
            yield f"chunk {index}\n".encode()
            time.sleep(every)
        yield b"done\n"

    return chunks()


def upload(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Reads the request body as it comes and answers its length."""
    stream = environ["wsgi.input"]
    total = 0
    while chunk := stream.read(4096):
        total += len(chunk)
    body = str(total).encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    path = environ["PATH_INFO"]
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    seconds = float(query.get("s", "60"))
    if "extend" in query:
        environ["workhorse.extend_deadline"](seconds=float(query["extend"]))
    if path == "/spin":
        _mark("spin")
        spin_in_c_library(seconds)
    elif path == "/block":
        _mark("block")
        query_dead_database(seconds)
    elif path == "/sleep":
        _mark("sleep")
        time.sleep(seconds)
    elif path == "/grow":
        _KEPT.append(bytearray(int(query.get("mb", "10")) * 2**20))
    elif path == "/trickle":
        return trickle(start_response, int(query.get("n", "10")), float(query.get("every", "0.2")),
                       int(query.get("stall_after", "-1")))
    elif path == "/upload":
        return upload(environ, start_response)
    body = str(os.getpid()).encode() if path == "/pid" else b"ok"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
