"""The shared-memory scoreboard (see :mod:`workhorse.scoreboard.board`)."""

from workhorse.scoreboard.board import (
    DURATION_BUCKETS,
    QUEUE_BUCKETS,
    SLOT_WRITER,
    WHY_PYTHON_WRITER,
    CounterSums,
    RequestSlot,
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
    RestartCause,
    WorkerState,
    slot_char,
)

__all__ = [
    "BUSY_STATES",
    "DURATION_BUCKETS",
    "QUEUE_BUCKETS",
    "SLOT_WRITER",
    "STATE_LEGEND",
    "WHY_PYTHON_WRITER",
    "CounterSums",
    "ExitReason",
    "RequestSlot",
    "RequestSlotWriter",
    "RequestSnapshot",
    "RequestState",
    "RestartCause",
    "Scoreboard",
    "WorkerSlotWriter",
    "WorkerSnapshot",
    "WorkerState",
    "slot_char",
]
