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
most :data:`BATCH` connections are answered per wake-up.

TLS listeners are left alone (the master holds no TLS context to answer on).
"""

from __future__ import annotations

import selectors
import socket
from collections.abc import Callable, Sequence

from workhorse.master import answers
from workhorse.master.rescue import answer_and_close

#: Connections answered per wake-up, so a flood cannot hold the master's loop.
BATCH = 64
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
                                       lambda s=sock: self._answer_waiting(s))
        else:
            for sock in self._socks:
                try:
                    self.selector.unregister(sock)
                except (KeyError, ValueError):
                    pass
            self._socks = []

    def _answer_waiting(self, listener: socket.socket) -> None:
        reply = answers.response(503, retry_after=self.retry_after(), text=TEXT)
        for _ in range(BATCH):
            try:
                conn, _peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            fd = conn.detach()
            if answer_and_close(fd, reply):
                self.answered += 1
