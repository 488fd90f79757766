# The C request-slot writer (_slotwriter.c). SlotWriter is a class; typed here
# by what it makes, a board.RequestSlot, so its methods are declared once.
from typing import Any

from _typeshed import ReadableBuffer, WriteableBuffer

from workhorse.scoreboard.board import RequestSlot

LAYOUT: dict[str, Any]

def SlotWriter(buffer: WriteableBuffer, offset: int) -> RequestSlot: ...

def count_busy_idle(buffer: ReadableBuffer, first_worker: int, worker_words: int,
                    first_request: int, request_words: int, capacity: int,
                    threads: int, /) -> tuple[int, int]: ...
