"""Keep-alive connections in transit between workers, held by the master.

Strategy: a worker that stops for any reason but a crash (reload, max
requests, memory, scale down) gives its idle keep-alive connections to the
master instead of closing them, and the master gives the connections of a
worker it had to kill to a sibling the same way. Closing an idle
connection races with the client's next request on it, which a keep-alive
client (wrk, a load balancer, nginx with upstream keep-alive) then sees
fail; passing the socket on does not, since the kernel keeps whatever the
client sends meanwhile and the receiving worker reads it from there.

The relay holds what it was given until a worker that can adopt
connections is ready (a sibling at once, or the replacement once it has
booted), then sends them in one batch per receiver. A connection it cannot
place in time is settled: closed when it is idle, answered ``503`` with
``Retry-After`` when a request is waiting on it (never left to a proxy's
timeout). The decisions are here; the arbiter supplies the effects.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from workhorse.handoff import Handed, send

#: How often the master looks again when connections wait for a worker
#: (one is booting): short, since a request may be waiting on them.
RETRY_INTERVAL = 0.05


@dataclass
class Held:
    item: Handed
    since: float


@dataclass(frozen=True)
class Receiver:
    """A worker that can adopt connections now: its end of the hand-off pair."""

    sock: socket.socket
    load: int  # connections it holds (from the scoreboard), to spread the batch


class Relay:
    """Connections the master holds on their way to another worker."""

    def __init__(self, *, has_pending_data: Callable[[int], bool],
                 answer_unavailable: Callable[[int, float], None],
                 close: Callable[[int], None]) -> None:
        self.held: list[Held] = []
        self._has_pending_data = has_pending_data
        self._answer_unavailable = answer_unavailable
        self._close = close
        self.placed = 0  # cumulative, for the logs and tests
        self.settled = 0

    def take(self, items: Sequence[Handed], now: float) -> None:
        self.held.extend(Held(item, now) for item in items)

    def fds(self) -> list[int]:
        """Descriptors held: a forked worker must close its copies."""
        return [held.item.fd for held in self.held]

    def next_wake(self, now: float) -> float | None:
        return now + RETRY_INTERVAL if self.held else None

    def place(self, receivers: Sequence[Receiver]) -> int:
        """Send held connections to ``receivers``, least loaded first; returns how many."""
        if not self.held or not receivers:
            return 0
        order = sorted(receivers, key=lambda r: r.load)
        shares: list[list[Held]] = [[] for _ in order]
        for index, held in enumerate(self.held):
            shares[index % len(order)].append(held)
        kept: list[Held] = []
        placed = 0
        for receiver, share in zip(order, shares, strict=True):
            sent = send(receiver.sock, [held.item for held in share], wait=0.0)
            for held in share[:sent]:
                os.close(held.item.fd)  # the receiver has its own copy now
            kept += share[sent:]
            placed += sent
        self.held = kept
        self.placed += placed
        return placed

    def expire(self, now: float, *, hold_for: float, retry_after: float | None) -> int:
        """Settle what waited longer than ``hold_for``, or at once when boots are
        failing (``retry_after``: the backoff's next try, told to waiting clients)."""
        kept: list[Held] = []
        settled = 0
        for held in self.held:
            fd = held.item.fd
            waiting = self._has_pending_data(fd)
            if waiting and retry_after is not None:
                self._answer_unavailable(fd, retry_after)
            elif now - held.since >= hold_for:
                if waiting:
                    self._answer_unavailable(fd, retry_after or 1.0)
                else:
                    self._close(fd)
            else:
                kept.append(held)
                continue
            settled += 1
        self.held = kept
        self.settled += settled
        return settled

    def settle_all(self) -> None:
        """The master stops: nobody will adopt these any more."""
        for held in self.held:
            fd = held.item.fd
            if self._has_pending_data(fd):
                self._answer_unavailable(fd, 1.0)
            else:
                self._close(fd)
        self.settled += len(self.held)
        self.held = []
