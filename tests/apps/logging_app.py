"""A WSGI app whose import sets up logging the way real projects do (tests only).

``LOGGING_APP_MODE`` picks the setup, applied at import (as Django's
``django.setup()`` and Flask's documented ``dictConfig`` are):

- ``django``: Django's own ``configure_logging`` with its DEFAULT_LOGGING and
  a LOGGING of the shape Django's docs show (``disable_existing_loggers``
  False): every existing handler is closed by ``logging.config``;
- ``flask``: Flask's documented ``dictConfig`` (``disable_existing_loggers``
  left at its default, True): the server's loggers are disabled;
- ``structlog``: structlog's documented stdlib setup through ``dictConfig``;
- ``close``: the app closes every handler it finds on the root and
  ``gunicorn.*`` loggers at its first request.
"""

from __future__ import annotations

import logging
import logging.config
import os
from collections.abc import Iterable
from typing import Any

MODE = os.environ.get("LOGGING_APP_MODE", "")


def _django() -> None:
    from django.conf import settings
    from django.utils.log import configure_logging

    settings.configure(DEBUG=False, LOGGING_CONFIG="logging.config.dictConfig")
    configure_logging("logging.config.dictConfig", {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"console": {"class": "logging.StreamHandler"}},
        "root": {"handlers": ["console"], "level": "WARNING"},
    })


def _flask() -> None:
    logging.config.dictConfig({
        "version": 1,
        "formatters": {"default": {"format": "[%(asctime)s] %(levelname)s in %(module)s: "
                                             "%(message)s"}},
        "handlers": {"wsgi": {"class": "logging.StreamHandler",
                              "stream": "ext://sys.stderr", "formatter": "default"}},
        "root": {"level": "INFO", "handlers": ["wsgi"]},
    })


def _structlog() -> None:
    import structlog

    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"()": structlog.stdlib.ProcessorFormatter,
                                 "processor": structlog.dev.ConsoleRenderer(colors=False)}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "loggers": {"": {"handlers": ["default"], "level": "INFO"}},
    })
    structlog.configure(processors=[structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
                        logger_factory=structlog.stdlib.LoggerFactory())


SETUPS = {"django": _django, "flask": _flask, "structlog": _structlog}
if MODE in SETUPS:
    SETUPS[MODE]()
_closed = False


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    global _closed
    if MODE == "close" and not _closed:
        _closed = True
        for name in ("", "gunicorn.error", "gunicorn.access"):
            for handler in logging.getLogger(name).handlers:
                handler.close()
    logging.getLogger("app").warning("served %s", environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
