"""workhorse without its scoreboard writes: the floor their cost is measured from.

The benchmark's ``workhorse-bare`` row runs this instead of ``workhorse``.
Every request-slot write becomes a no-op (the writer only remembers when the
request began, which the access log needs), so nothing is left of what the
status command, the metrics and the watchdog read. It exists only to answer
"what do the scoreboard updates cost"; never run a server like this: a stuck
request would never be seen, let alone ended.
"""

from __future__ import annotations

import sys

from workhorse.cli import main
from workhorse.scoreboard import board
from workhorse.scoreboard.board import RequestSlotWriter


def _begin(self: RequestSlotWriter, fd: int, client: bytes, now: float, deadline: float) -> None:
    self._started = now


def _end(self: RequestSlotWriter, status: int, now: float, bytes_in: int, bytes_out: int) -> float:
    return now - self._started


def _nothing(self: RequestSlotWriter, *args: object) -> None:
    pass


board._c_writer = None  # every slot gets the Python writer, whose methods go below
RequestSlotWriter.begin = _begin  # type: ignore[method-assign]
RequestSlotWriter.end = _end  # type: ignore[method-assign]
RequestSlotWriter.in_app = _nothing  # type: ignore[method-assign]
RequestSlotWriter.writing = _nothing  # type: ignore[method-assign]
RequestSlotWriter.abandon = _nothing  # type: ignore[method-assign]
RequestSlotWriter.flush = _nothing  # type: ignore[method-assign]

if __name__ == "__main__":
    main(sys.argv[1:])
