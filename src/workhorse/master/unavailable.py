"""The master answers for the workers when none can serve: 503 with Retry-After.

Strategy: while boots are failing and no worker is ready (a dependency is
down, a deploy is broken), connections would wait in the listen queue until
the proxy in front gives up, 20 to 60 seconds later, and learn nothing. So
for that time the master watches the listeners itself, takes each waiting
connection and answers ``503 Service Unavailable`` with ``Retry-After`` set
to the backoff's next try, then closes it: a client or a proxy learns at
once, and a load balancer routes the retry to another instance. As soon as
a worker is ready again the master stops taking connections. It never
blocks: the listeners are non-blocking, answers go out in one send, and at
most :data:`BATCH` connections are taken per wake-up.

A connection is answered once its request has arrived (or after
:data:`REQUEST_WAIT`), not the moment it is accepted: a proxy connects, then
writes its request, and a request that reached a socket the master had
already closed made the kernel reset the connection, destroying the 503
before it was read (nginx: a 502, seen once in the fleet tests).

TLS listeners are left alone (the master holds no TLS context to answer on).
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable, Sequence

from workhorse.master import answers
from workhorse.master.rescue import answer_and_close

#: Connections answered per wake-up, so a flood cannot hold the master's loop.
BATCH = 64
#: Longest a taken connection waits for its request before it is answered anyway.
REQUEST_WAIT = 1.0
TEXT = "No worker can serve requests right now (they fail to start); please retry."


class Unavailable:
    """Answers waiting connections with 503 while ``active``."""

    def __init__(self, selector: selectors.BaseSelector,
                 retry_after: Callable[[], float]) -> None:
        self.selector = selector
        self.retry_after = retry_after
        self.active = False
        self.answered = 0
        self._socks: list[socket.socket] = []
        #: Taken connections waiting for their request: socket -> answer-by time.
        self._waiting: dict[socket.socket, float] = {}

    def set_active(self, active: bool, listeners: Sequence[socket.socket]) -> None:
        if active == self.active:
            return
        self.active = active
        if active:
            self._socks = list(listeners)
            for sock in self._socks:
                # Shared with the workers, which handle EAGAIN on accept.
                sock.setblocking(False)
                self.selector.register(sock, selectors.EVENT_READ,
                                       lambda s=sock: self._take_waiting(s))
        else:
            for sock in self._socks:
                try:
                    self.selector.unregister(sock)
                except (KeyError, ValueError):
                    pass
            self._socks = []
            # Already taken: no worker can have them now; answered as promised.
            for conn in list(self._waiting):
                self._answer(conn)

    def fds(self) -> list[int]:
        """Connections held here: a worker forked meanwhile must close its copies."""
        return [conn.fileno() for conn in self._waiting]

    def next_wake(self) -> float | None:
        """When the longest-waiting taken connection is due its answer (None: none)."""
        return min(self._waiting.values(), default=None)

    def expire(self, now: float) -> None:
        """Answer the taken connections whose request did not come in time."""
        for conn, answer_by in list(self._waiting.items()):
            if now >= answer_by:
                self._answer(conn)

    def _take_waiting(self, listener: socket.socket) -> None:
        answer_by = time.monotonic() + REQUEST_WAIT
        for _ in range(BATCH):
            try:
                conn, _peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            conn.setblocking(False)
            self._waiting[conn] = answer_by
            self.selector.register(conn, selectors.EVENT_READ, lambda c=conn: self._answer(c))

    def _answer(self, conn: socket.socket) -> None:
        """The request (or the client's end) is here: 503, drain, close."""
        if self._waiting.pop(conn, None) is None:
            return
        try:
            self.selector.unregister(conn)
        except (KeyError, ValueError):
            pass
        reply = answers.response(503, retry_after=self.retry_after(), text=TEXT)
        if answer_and_close(conn.detach(), reply):
            self.answered += 1
