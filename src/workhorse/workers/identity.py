"""Who a request is and how long it waited: request ids and queue time.

Strategy: a request id is a per-worker random prefix and a counter (unique
across workers and restarts, no system call per request), unless a trusted
proxy sent one. Queue time comes from a trusted proxy's ``X-Request-Start``
or ``X-Queue-Start`` header, in any of the units proxies write.
"""

from __future__ import annotations

import os


class RequestIds:
    """Request ids unique across workers and restarts, cheap to make."""

    __slots__ = ("_count", "_prefix")

    def __init__(self) -> None:
        self._prefix = os.urandom(6).hex()
        self._count = 0

    def next(self) -> str:
        self._count += 1
        return f"{self._prefix}{self._count:08x}"


def parse_request_start(value: str, now: float) -> float | None:
    """Queue time from ``X-Request-Start``/``X-Queue-Start`` (``t=`` s, ms or µs)."""
    if value.startswith("t="):
        value = value[2:]
    try:
        stamp = float(value)
    except ValueError:
        return None
    if stamp > 1e14:  # microseconds since the epoch
        stamp /= 1e6
    elif stamp > 1e11:  # milliseconds
        stamp /= 1e3
    if stamp <= 0:
        return None
    return max(0.0, now - stamp)


def printable(value: str) -> bool:
    return value.isascii() and value.isprintable()
