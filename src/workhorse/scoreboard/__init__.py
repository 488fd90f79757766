"""The shared-memory scoreboard (see :mod:`workhorse.scoreboard.board`)."""

from workhorse.scoreboard.board import (
    DURATION_BUCKETS,
    QUEUE_BUCKETS,
    RequestSlotWriter,
    RequestSnapshot,
    Scoreboard,
    WorkerSlotWriter,
    WorkerSnapshot,
)
from workhorse.scoreboard.states import (
    BUSY_STATES,
    STATE_LEGEND,
    ExitReason,
    RequestState,
    WorkerState,
    slot_char,
)

__all__ = [
    "BUSY_STATES",
    "DURATION_BUCKETS",
    "QUEUE_BUCKETS",
    "STATE_LEGEND",
    "ExitReason",
    "RequestSlotWriter",
    "RequestSnapshot",
    "RequestState",
    "Scoreboard",
    "WorkerSlotWriter",
    "WorkerSnapshot",
    "WorkerState",
    "slot_char",
]
