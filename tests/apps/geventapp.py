"""A Flask app as gevent deployments run one, with the supervision tests' stuck models.

Served by the gevent worker (the process is monkey-patched before this is
imported, so ``requests``, ``socket`` and ``time.sleep`` yield to the hub):

- ``/outbound?port=P&path=/x``: a slow outbound HTTP call (``requests``) to a
  local upstream, what an app calling a slow API does; answers the upstream's body.
- ``/context?value=V&s=N``: keeps V in ``flask.g``, sleeps, answers it back: each
  greenlet must see its own request context.
- ``/dead-socket?s=N``: waits on a socket whose peer never answers (a hung
  database through a patched driver): the hub turns, only this request waits.
- ``/python-spin?s=N``: a Python loop that never yields: the hub stops turning.
- ``/c-recv?s=N``: a C ``recv()`` on a blocking socket (a C database driver that
  gevent cannot patch): the GIL is released, but the hub stops turning.
- ``/patched``: whether the process was patched before this module was imported.
- ``/spin``, ``/sleep``, ``/trickle``, ``/upload``, ``/pid``: the models of
  ``stuckapp`` (``/spin``, a C loop holding the GIL, stops the hub).
"""

from __future__ import annotations

import socket
import time
from typing import Any

import requests
import stuckapp
from asgiapp import read_from_dead_peer
from flask import Flask, g, request
from gevent.monkey import get_original

#: Whether gevent had patched the socket module before this app was imported.
PATCHED_AT_IMPORT = socket.socket.__module__.startswith("gevent")

flask_app = Flask(__name__)
_session = requests.Session()


@flask_app.get("/")
def index() -> str:
    return "ok"


@flask_app.get("/outbound")
def outbound() -> str:
    port = int(request.args["port"])
    answer = _session.get(f"http://127.0.0.1:{port}{request.args.get('path', '/')}", timeout=30)
    return answer.text


@flask_app.get("/context")
def context() -> str:
    g.value = request.args["value"]
    time.sleep(float(request.args.get("s", "0.05")))
    return str(g.value)


@flask_app.get("/dead-socket")
def dead_socket() -> str:
    stuckapp._mark("dead-socket")
    # A patched socket here: the greenlet waits, the hub turns.
    read_from_dead_peer(float(request.args.get("s", "60")))
    return "answered"


@flask_app.get("/c-recv")
def c_recv() -> str:
    """A C client library doing its own blocking I/O (psycopg2 without psycogreen):
    gevent cannot make it yield, so the hub stops while it waits."""
    stuckapp._mark("c-recv")
    seconds = float(request.args.get("s", "60"))
    plain = get_original("socket", "socket")
    with plain() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # never accepts, never answers
        with plain() as client:
            client.connect(listener.getsockname())
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                              int(seconds).to_bytes(8, "little") + bytes(8))
            assert stuckapp._RELEASING_GIL is not None, "STUCK_LIB is not set"
            stuckapp._RELEASING_GIL.block_recv(client.fileno())
    return "answered"


@flask_app.get("/python-spin")
def python_spin() -> str:
    stuckapp._mark("python-spin")
    end = time.monotonic() + float(request.args.get("s", "60"))
    count = 0
    while time.monotonic() < end:
        count += 1
    return str(count)


@flask_app.get("/patched")
def patched() -> str:
    return "yes" if PATCHED_AT_IMPORT else "no"


STUCK_PATHS = {"/spin", "/block", "/sleep", "/trickle", "/upload", "/pid"}


def app(environ: dict[str, Any], start_response: Any) -> Any:
    if environ["PATH_INFO"] in STUCK_PATHS:
        return stuckapp.app(environ, start_response)
    return flask_app(environ, start_response)
