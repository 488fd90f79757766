"""What one request costs workhorse's Python code, in process, without the kernel's network.

Drives the request handler that every worker kind uses (parse, environ,
app, response, scoreboard, access log) over a UNIX socketpair, one
keep-alive request at a time, and prints the best of several rounds in
microseconds per request. It answers "where does a request's time go" with
variants switched one at a time:

    .venv/bin/python bench/request_cost.py                  # the default server
    .venv/bin/python bench/request_cost.py --access-log     # + access log to a file
    .venv/bin/python bench/request_cost.py --no-scoreboard  # scoreboard writes replaced by no-ops
    .venv/bin/python bench/request_cost.py --profile        # cProfile, by own time

Run it from the repository root with the project's venv, on a quiet
machine. Only differences between variants of one run mean something.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import socket
import tempfile
import time
from typing import Any

from workhorse.config import load_config
from workhorse.demo import app
from workhorse.http import ServerConnection
from workhorse.listeners import BindAddress, Listener
from workhorse.logs import Logger
from workhorse.scoreboard import Scoreboard
from workhorse.workers import serving
from workhorse.workers.connection import Connection
from workhorse.wsgi.environ import ListenerInfo
from workhorse.wsgi.errors import ErrorStream

REQUEST = (b"GET /hello HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\n"
           b"Accept: */*\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\n\r\n")


class NoScoreboard:
    """A request slot writer that writes nothing: what the scoreboard costs, by difference."""

    def __init__(self) -> None:
        self.started = 0.0

    def begin(self, fd: int, client: bytes, now: float, deadline: float) -> None:
        self.started = now

    def in_app(self, *args: Any) -> None:
        pass

    def writing(self) -> None:
        pass

    def extend_deadline(self, seconds: float) -> None:
        pass

    def end(self, status: int, now: float, bytes_in: int, bytes_out: int) -> float:
        return now - self.started

    def abandon(self) -> None:
        pass


class BareWorker:
    """The few worker attributes the handler reads."""

    def __init__(self, cfg: Any, log: Logger) -> None:
        self.cfg = cfg
        self.log = log
        self.wsgi = app
        self.slot = 0
        self.nr = 0

    def count_request(self) -> None:
        pass

    def closes_connections(self) -> bool:
        return False


def build(access_log: str | None, scoreboard: bool) -> tuple[Any, Connection, socket.socket]:
    argv = ["workhorse.demo:app"] + (["--access-logfile", access_log] if access_log else [])
    cfg = load_config(argv, {}).config
    log = Logger(cfg)
    worker = BareWorker(cfg, log)
    board = Scoreboard(4, 1)
    board.prepare_worker(0, 1)
    writer: Any = board.request_writer(0, 0) if scoreboard else NoScoreboard()
    listener = Listener(socket.socket(), BindAddress("tcp", "127.0.0.1", 8000),
                        ListenerInfo("127.0.0.1", "8000", False, False))
    builders = serving.environ_builders(cfg, [listener], ErrorStream(log.error_log),
                                        multithread=True)
    handler = serving.make_handler(worker, board, writer, 0, builders)
    server_side, client_side = socket.socketpair()
    limits = serving.http_limits(cfg)
    client = Connection(server_side, ("127.0.0.1", 5555), ServerConnection(limits), 0)
    return handler, client, client_side


def serve(handler: Any, client: Connection, peer: socket.socket, count: int) -> None:
    for _ in range(count):
        peer.send(REQUEST)
        handler.begin(client)
        client.receive(socket.MSG_DONTWAIT)
        handler.serve(client, may_wait_for_head=False)
        peer.recv(65536)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--access-log", action="store_true", help="write the access log to a file")
    parser.add_argument("--no-scoreboard", action="store_true", help="no-op scoreboard writes")
    parser.add_argument("--profile", action="store_true", help="print a cProfile by own time")
    parser.add_argument("-n", type=int, default=50_000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log_path = os.path.join(tmp, "access.log") if args.access_log else None
        handler, client, peer = build(log_path, not args.no_scoreboard)
        serve(handler, client, peer, 2000)  # warm up
        best = min(timed(handler, client, peer, args.n) for _ in range(args.rounds))
        print(f"{best:.2f} us/request (best of {args.rounds} x {args.n}; includes the "
              "client's send and recv)")
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            serve(handler, client, peer, 20_000)
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)


def timed(handler: Any, client: Connection, peer: socket.socket, count: int) -> float:
    start = time.perf_counter()
    serve(handler, client, peer, count)
    return (time.perf_counter() - start) / count * 1e6


if __name__ == "__main__":
    main()
