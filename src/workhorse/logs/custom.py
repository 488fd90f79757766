"""The logger the ``logger_class`` setting asks for.

Strategy: Gunicorn's default names (``gunicorn.glogging.Logger``,
``simple``, and its StatsD logger, whose work workhorse's logger does anyway)
mean workhorse's own :class:`~workhorse.logs.Logger`. Any other dotted path
is imported and instantiated with the configuration, as Gunicorn does:

- a subclass of :class:`workhorse.glogging.Logger` runs on workhorse's logs
  with Gunicorn's interface;
- a subclass of Gunicorn's own ``gunicorn.glogging.Logger`` (the import line
  not changed yet) runs Gunicorn's code, which reads the same settings; the
  few things workhorse asks of its logger beyond Gunicorn's interface get
  defaults from :class:`ForeignLogger`.

Either way the worker calls ``access`` with Gunicorn's arguments.
"""

from __future__ import annotations

import importlib
from typing import Any

from workhorse.config.settings import Config
from workhorse.logs.errors import LogSetupError
from workhorse.logs.logger import Logger

#: ``logger_class`` values that mean workhorse's own logger.
OWN = frozenset({"gunicorn.glogging.Logger", "simple", "gunicorn.instrument.statsd.Statsd",
                 "workhorse.logs.Logger", "workhorse.logs.logger.Logger"})


def make_logger(cfg: Config) -> Any:
    """The error and access logger: workhorse's, or the ``logger_class`` one."""
    name = cfg.logger_class
    if name in OWN:
        return Logger(cfg)
    cls = _import(name)
    try:
        made = cls(cfg)
    except LogSetupError:
        raise
    except Exception as exc:
        raise LogSetupError("logger_class", f"{name} could not be set up: "
                            f"{type(exc).__name__}: {exc}") from exc
    return made if isinstance(made, Logger) else ForeignLogger(made)


def _import(name: str) -> Any:
    module_name, _, class_name = name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise LogSetupError("logger_class", f"cannot import {name!r}: {exc}") from None
    if not callable(cls):
        raise LogSetupError("logger_class", f"{name!r} is not a class")
    return cls


class ForeignLogger:
    """A logger class written for Gunicorn, with what workhorse needs besides its interface."""

    gunicorn_access = True

    def __init__(self, logger: Any) -> None:
        self._logger = logger

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)

    @property
    def access_log_enabled(self) -> bool:
        return bool(getattr(self._logger, "access_log_enabled", True))

    def keep_ours_enabled(self) -> None:
        """Gunicorn's logger leaves logging to the app: nothing to undo."""

    def fileno_of_error_log(self) -> int | None:
        for handler in self._logger.error_log.handlers:
            stream = getattr(handler, "stream", None)
            try:
                return int(stream.fileno()) if stream is not None else None
            except (AttributeError, OSError, ValueError):
                continue
        return None

    def close(self) -> None:
        for log in (self._logger.error_log, self._logger.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
                handler.close()
