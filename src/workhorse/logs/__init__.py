"""The error log and the access log (Gunicorn's loggers, formats and atoms, and ours).

``Logger`` is what the master and workers hold as ``log``; workers fill an
``AccessRecord`` per request and pass it to ``Logger.access`` (check
``Logger.access_log_enabled`` first to skip building it). ``LogSetupError``
is what a bad logging setting raises, with the setting, path and reason.
"""

from workhorse.logs.access import (
    DEFAULT_ACCESS_LOG_FORMAT,
    AccessAtoms,
    AccessFormat,
    AccessRecord,
)
from workhorse.logs.errors import LogSetupError
from workhorse.logs.logger import ACCESS_LOGGER, ERROR_LOGGER, Logger

__all__ = [
    "ACCESS_LOGGER",
    "DEFAULT_ACCESS_LOG_FORMAT",
    "ERROR_LOGGER",
    "AccessAtoms",
    "AccessFormat",
    "AccessRecord",
    "LogSetupError",
    "Logger",
]
