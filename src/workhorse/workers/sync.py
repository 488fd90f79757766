"""The sync worker: one request at a time, one request per connection.

Strategy: like Gunicorn's sync worker, and meant for the same place (behind
a buffering proxy such as nginx): accept a connection, serve one request,
close it, accept the next. Accepting never blocks: the loop tries every
listener and only when none has a waiting connection does it sleep in
``select`` on the listeners and the wake-up pipe (signals), at most
:data:`LOOP_TICK` so the heartbeat and the parent check run while idle.
Closing after each response is what spreads requests over the workers: a
connection kept alive would tie its next request to this worker even when
it is busy and another is idle.
"""

from __future__ import annotations

import select
import socket
import time
from typing import Any

from workhorse.http import ServerConnection
from workhorse.workers import serving
from workhorse.workers.base import LOOP_TICK, Worker, take_the_queue
from workhorse.workers.handler import RequestHandler
from workhorse.wsgi.errors import ErrorStream


class SyncWorker(Worker):
    def setup(self) -> None:
        board = self.ctx.board
        self.listen_socks = [listener.sock for listener in self.sockets]
        builders = serving.environ_builders(self.cfg, self.sockets, ErrorStream(self.log.error_log),
                                            multithread=False)
        self.handler: RequestHandler = serving.make_handler(
            self, board, board.request_writer(self.slot, 0), 0, builders)
        self.limits = serving.http_limits(self.cfg)
        self.tls_module, self.tls = serving.tls_support(self.cfg)

    def run(self) -> None:
        socks = self.listen_socks
        wait_on: list[Any] = [*socks, self.wakeup_fd]
        try:
            self._loop(socks, wait_on)
            if self.serves_the_queue_on_stop():
                self._serve_queued(socks)
        finally:
            self.handler.slot.flush()

    def _serve_queued(self, socks: list[socket.socket]) -> None:
        for index, conn, peer in take_the_queue(socks):
            self.serve_connection(conn, peer, index)

    def _loop(self, socks: list[socket.socket], wait_on: list[Any]) -> None:
        while self.alive:
            if not self.housekeeping(time.monotonic()):
                return
            served = False
            for index, sock in enumerate(socks):
                served = self._accept_and_serve(sock, index) or served
            if served:
                continue
            try:
                ready, _, _ = select.select(wait_on, [], [], LOOP_TICK)
            except OSError:
                ready = []
            if not ready:  # idle: the counters catch up with what was served
                self.handler.slot.flush()
            if self.wakeup_fd in ready:
                self.drain_wakeup()

    def _accept_and_serve(self, listener: socket.socket, index: int) -> bool:
        try:
            sock, peer = listener.accept()
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self._accept_failed(exc)
            return False
        self.serve_connection(sock, peer, index)
        return True

    def _accept_failed(self, exc: OSError) -> None:
        # EMFILE/ENFILE and friends: back off a moment instead of spinning on
        # a listener that stays readable while we cannot take its connection.
        self.log.error("accept() failed: %s", exc)
        time.sleep(0.1)

    def serve_connection(self, sock: socket.socket, peer: Any, index: int) -> None:
        conn = ServerConnection(self.limits)
        conn.close_after_response()
        handler = self.handler
        client = serving.open_client(self, handler, sock, peer, index, conn)
        if client is None:
            return
        try:
            handler.begin(client)
            handler.serve(client, may_wait_for_head=True)
        except Exception:
            self.log.exception("Error serving a connection")
            handler.slot.abandon()
        finally:
            client.close()
