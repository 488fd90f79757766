"""The ``Date`` header value (IMF-fixdate, RFC 9110 5.6.7), cached per second.

Strategy: formatting a date costs more than the rest of a small response
head, and it only changes once a second, so the last value is kept with its
second. The cache is one tuple swapped in one assignment, so threads of a
gthread worker never see a second paired with another second's text. This is
the only place ``workhorse.http`` reads the clock.
"""

from __future__ import annotations

import time
from time import time as _now

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_http_date(seconds: int) -> str:
    """``seconds`` since the epoch as ``"Sun, 06 Nov 1994 08:49:37 GMT"``."""
    t = time.gmtime(seconds)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


class _SecondCache:
    __slots__ = ("entry",)

    def __init__(self) -> None:
        #: (second, date, "Date: <date>\r\n")
        self.entry: tuple[int, str, str] = (-1, "", "")

    def refresh(self, second: int) -> tuple[int, str, str]:
        text = format_http_date(second)
        entry = self.entry = (second, text, f"Date: {text}\r\n")
        return entry


_cache = _SecondCache()


def http_date(now: float | None = None) -> str:
    """The current time (or ``now``) as an HTTP date, formatted at most once a second."""
    second = int(_now() if now is None else now)
    entry = _cache.entry
    if entry[0] != second:
        entry = _cache.refresh(second)
    return entry[1]


def date_line() -> str:
    """The ``Date`` header line (with its CRLF) a response head needs."""
    second = int(_now())
    entry = _cache.entry
    if entry[0] != second:
        entry = _cache.refresh(second)
    return entry[2]
