"""``wsgi.errors``: the stream an app writes diagnostics to.

Strategy: as in Gunicorn, text written here goes straight to the streams of
the error log's handlers (the error log file, or stderr), unformatted, so an
app's ``environ["wsgi.errors"].write(...)`` lands where operators look.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any


class ErrorStream:
    def __init__(self, error_logger: logging.Logger) -> None:
        self._logger = error_logger

    def _streams(self) -> list[Any]:
        streams = [h.stream for h in self._logger.handlers if hasattr(h, "stream")]
        return streams or [sys.stderr]

    def write(self, text: str) -> None:
        for stream in self._streams():
            try:
                stream.write(text)
                stream.flush()
            except (OSError, ValueError):
                pass

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        for stream in self._streams():
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
