"""``workhorse.glogging.Logger``: Gunicorn's logger interface, on workhorse's logs.

Strategy: a ``logger_class`` written for Gunicorn subclasses
``gunicorn.glogging.Logger`` and overrides ``access(resp, req, environ,
request_time)`` (to skip health checks, reshape a line), ``setup(cfg)`` (to add
handlers or filters) or ``atoms``. Changing that one import line to
``from workhorse.glogging import Logger`` keeps the subclass as it is and
puts it on workhorse's logs: the same loggers (``gunicorn.error``,
``gunicorn.access``), the same formats and atoms (and workhorse's own,
such as ``%(queue_ms)s`` and ``%(rid)s``), StatsD, reopening on USR1. A class
that still subclasses Gunicorn's own logger works too, through Gunicorn's
code (see :mod:`workhorse.logs.custom`).

The worker calls ``access`` with Gunicorn's arguments on such a class: the
request (Gunicorn's ``req``: ``method``, ``path``, ``headers``...), the
response (``status``, ``headers``, ``sent``), the WSGI environ (a minimal one
for ASGI, as Gunicorn's asgi worker gives) and a ``timedelta``. The extra
figures workhorse logs come along on the request: ``req.workhorse_record``.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from workhorse.logs import AccessRecord
from workhorse.logs import Logger as _WorkhorseLogger
from workhorse.logs.logger import ERROR_DATEFMT, ERROR_FORMAT, LOG_LEVELS


class Logger(_WorkhorseLogger):
    """Gunicorn's ``glogging.Logger`` interface; subclass it as you did Gunicorn's."""

    LOG_LEVELS = LOG_LEVELS
    error_fmt = ERROR_FORMAT
    datefmt = ERROR_DATEFMT
    access_fmt = "%(message)s"
    syslog_fmt = "[%(process)d] %(message)s"

    #: Tells the worker to call :meth:`access` with Gunicorn's arguments.
    gunicorn_access = True

    def access(self, resp: Any, req: Any, environ: Any,  # type: ignore[override]
               request_time: datetime.timedelta) -> None:
        """One access log line, as Gunicorn's ``Logger.access`` is called."""
        record = getattr(req, "workhorse_record", None)
        if record is None:
            record = record_from(resp, req, environ, request_time)
        _WorkhorseLogger.access(self, record)

    def atoms(self, resp: Any, req: Any, environ: Any,
              request_time: datetime.timedelta) -> dict[str, Any]:
        """Gunicorn's atoms (``h``, ``r``, ``s``, ``{name}i``...) of one request, as a dict."""
        record = getattr(req, "workhorse_record", None) or record_from(resp, req, environ,
                                                                       request_time)
        fmt = self._access_format
        if fmt is None:
            from workhorse.logs import DEFAULT_ACCESS_LOG_FORMAT
            from workhorse.logs.access import AccessFormat

            fmt = AccessFormat(DEFAULT_ACCESS_LOG_FORMAT)
        return dict(fmt.atoms(record))

    def now(self) -> str:
        """The time as the access log's ``t`` atom writes it."""
        return time.strftime("[%d/%b/%Y:%H:%M:%S %z]")


def record_from(resp: Any, req: Any, environ: Any,
                request_time: datetime.timedelta) -> AccessRecord:
    """An access record from Gunicorn-shaped objects (when a subclass builds its own)."""
    status_text = str(getattr(resp, "status", "") or "500")
    status = int(status_text.split(None, 1)[0]) if status_text[:3].isdigit() else 500
    environ = environ or {}
    version = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
    return AccessRecord(
        remote_addr=str(environ.get("REMOTE_ADDR", "-")),
        method=str(getattr(req, "method", environ.get("REQUEST_METHOD", "-"))),
        path=str(getattr(req, "path", environ.get("PATH_INFO", ""))),
        query=str(getattr(req, "query", environ.get("QUERY_STRING", ""))),
        version=version,
        request_line=f"{environ.get('REQUEST_METHOD', '-')} {environ.get('RAW_URI', '-')} "
                     f"{version}",
        status=status,
        reason=status_text.partition(" ")[2],
        response_length=getattr(resp, "sent", None),
        request_headers=list(getattr(req, "headers", [])),
        response_headers=list(getattr(resp, "headers", [])),
        environ=environ,
        start_time=time.time() - request_time.total_seconds(),
        duration=request_time.total_seconds(),
        pid=0,
        slot=-1,
        request_id="",
        bytes_received=0,
    )
