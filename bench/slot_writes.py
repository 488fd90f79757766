"""What the scoreboard's per-request writes cost, in process: C writer, Python writer, no-ops.

One request changes its slot four times (begin, in_app, writing, end).
This times those four calls in a loop for each writer and prints
nanoseconds per request, best of five rounds:

    .venv/bin/python bench/slot_writes.py

"no-op" is four Python methods that do nothing, the floor the benchmark's
workhorse-bare row runs (bench/bare_workhorse.py). Only the differences
between rows of one run mean something.
"""

from __future__ import annotations

import time
from typing import Any

from request_cost import NoScoreboard

from workhorse.scoreboard import RequestSlotWriter, Scoreboard
from workhorse.scoreboard.board import WORD

ROUNDS, CALLS = 5, 200_000


def per_request_ns(writer: Any) -> float:
    client, line, rid = b"127.0.0.1:51234", b"GET /hello HTTP/1.1", b"4f1c2a9e0b7d6a3c"
    best = float("inf")
    now = 0.0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(CALLS):
            # The request's clock advances 30 us a request, as in a busy
            # worker, so the Python writer's batches are added (every 0.25 s
            # of that clock) and their cost is in its figure.
            writer.begin(5, client, now, now + 30.0)
            writer.in_app(line, rid, None)
            writer.writing()
            now += 30e-6
            writer.end(200, now, 100, 200)
        best = min(best, time.perf_counter() - start)
    return best / CALLS * 1e9


def main() -> None:
    board = Scoreboard(1, 1)
    board.prepare_worker(0, 1)
    writers: list[tuple[str, Any]] = []
    try:
        from workhorse.scoreboard._slotwriter import SlotWriter

        writers.append(("C writer", SlotWriter(board._raw, board.request_base(0, 0) * WORD)))
    except ImportError as exc:
        print(f"C writer: not built ({exc})")
    writers += [("Python writer", RequestSlotWriter(board, 0, 0)), ("no-op", NoScoreboard())]
    for name, writer in writers:
        print(f"{name:14} {per_request_ns(writer):6.0f} ns per request (4 transitions)")


if __name__ == "__main__":
    main()
