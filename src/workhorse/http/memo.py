"""Bounded memos for the parser and writer hot paths.

Strategy: clients send the same header lines, names and Host values request
after request, and applications the same response field names, so the
result of validating one is worth remembering. A :class:`Memo` maps an input
to what a pure function computed from it (never anything that depends on the
connection or the limits), so sharing one per process is safe, across
threads too (single dict operations). It is emptied when full: an attacker
who fills it with junk only brings everyone back to the uncached (still
correct) path until the common entries return.
"""

from __future__ import annotations

from typing import Generic, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    """``str -> V``, at most ``size`` entries, each key at most ``max_key`` long."""

    __slots__ = ("entries", "max_key", "size")

    def __init__(self, size: int, max_key: int) -> None:
        #: The mapping itself; read it directly (``memo.entries.get``) on hot paths.
        self.entries: dict[str, V] = {}
        self.size = size
        self.max_key = max_key

    def remember(self, key: str, value: V) -> None:
        if len(key) > self.max_key:
            return
        entries = self.entries
        if len(entries) >= self.size:
            entries.clear()
        entries[key] = value
