"""The syslog handler, imported only when ``syslog`` is on.

Strategy: :mod:`logging.handlers` pulls in pickle, queue and more; a server
that does not log to syslog should not carry them in every process.
"""

from __future__ import annotations

import logging
import logging.handlers

from workhorse.logs.handlers import ReportsOnce

FACILITIES = logging.handlers.SysLogHandler.facility_names


class SafeSysLogHandler(ReportsOnce, logging.handlers.SysLogHandler):
    """A syslog handler; send errors are reported once."""

    def handleError(self, record: logging.LogRecord) -> None:
        if not self._absorbed(f"syslog {self.address!r}"):
            super().handleError(record)
