"""The error log and the access log of a workhorse process.

Strategy: two standard ``logging`` loggers with Gunicorn's names,
``gunicorn.error`` and ``gunicorn.access``, so that a user's existing
``logconfig_dict``, ``logconfig_json`` or ``logconfig`` ini that configures
those names keeps working unchanged, and so does code that calls
``logging.getLogger("gunicorn.error")``. :class:`Logger` adds our own
handlers for ``errorlog``/``accesslog``/``syslog`` (tracked, so ``setup`` can
run again on reload without stacking them; the new ones are opened before
the old ones are dropped, so a bad reload keeps the old logs), then applies
the user's logging config on top, the way Gunicorn does: the user's dict is
merged key by key over :func:`dict_config_defaults` (a top-level
``dict.update``: a user's ``"loggers"`` replaces the default loggers whole).

The access path is the hot one: with access logging off, :meth:`Logger.access`
is one attribute test; with it on, only the atoms the format uses are
computed (see :mod:`workhorse.logs.access`). With ``statsd_host`` set, the
Logger also does what Gunicorn's ``Statsd`` logger class does: it counts
requests, their duration and status, and error-log lines by level, in
Gunicorn's metric names (see :mod:`workhorse.logs.statsd`).

Failure policy: setup errors raise :class:`LogSetupError` naming the setting
and the path; once running, writing and reopening never raise.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from workhorse.config.settings import Config
from workhorse.logs.access import AccessAtoms, AccessFormat, AccessRecord
from workhorse.logs.errors import LogSetupError
from workhorse.logs.handlers import (
    FILE_ENCODING,
    SafeFileHandler,
    SafeStreamHandler,
    all_loggers,
    give_to,
    open_file_handler,
    parse_syslog_address,
    reopen_file_handler,
    set_cloexec,
)
from workhorse.logs.statsd import (
    LOG_LINES,
    REQUEST_DURATION,
    REQUEST_STATUS,
    REQUESTS,
    StatsdClient,
)

ERROR_LOGGER = "gunicorn.error"
ACCESS_LOGGER = "gunicorn.access"

#: The error log line: ``[2024-05-01 12:00:00 +0200] [4242] [INFO] Booting``.
ERROR_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
ERROR_DATEFMT = "%Y-%m-%d %H:%M:%S %z"
ACCESS_FORMAT = "%(message)s"
#: After the ``gunicorn.<prefix>.<error|access>:`` tag.
SYSLOG_FORMAT = "[%(process)d] %(message)s"

LOG_LEVELS: Mapping[str, int] = MappingProxyType(
    {
        "critical": logging.CRITICAL,
        "error": logging.ERROR,
        "warning": logging.WARNING,
        "info": logging.INFO,
        "debug": logging.DEBUG,
    }
)


def dict_config_defaults() -> dict[str, Any]:
    """The dictConfig that ``logconfig_dict``/``logconfig_json`` are merged into.

    Same names and effect as Gunicorn's defaults, so user dicts that refer
    to the handlers ``console``/``error_console`` or the formatter
    ``generic`` keep working. A fresh copy on every call.
    """
    generic = {"format": ERROR_FORMAT, "datefmt": ERROR_DATEFMT, "class": "logging.Formatter"}
    return copy.deepcopy(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "root": {"level": "INFO", "handlers": ["console"]},
            "loggers": {
                ERROR_LOGGER: {
                    "level": "INFO",
                    "handlers": ["error_console"],
                    "propagate": True,
                    "qualname": ERROR_LOGGER,
                },
                ACCESS_LOGGER: {
                    "level": "INFO",
                    "handlers": ["console"],
                    "propagate": True,
                    "qualname": ACCESS_LOGGER,
                },
            },
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "formatter": "generic",
                    "stream": "ext://sys.stdout",
                },
                "error_console": {
                    "class": "logging.StreamHandler",
                    "formatter": "generic",
                    "stream": "ext://sys.stderr",
                },
            },
            "formatters": {"generic": generic},
        }
    )


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__
    if cause is not None:
        text += f" ({type(cause).__name__}: {cause})"
    return text


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


class Logger:
    """The error log and the access log, configured from Gunicorn's settings.

    The loggers are ``logging.getLogger("gunicorn.error")`` and
    ``logging.getLogger("gunicorn.access")``: keeping Gunicorn's names means
    a ``logconfig_dict``/``logconfig_json``/``logconfig`` written for
    Gunicorn, which configures those loggers, works unchanged.

    ``critical``/``error``/``warning``/``info``/``debug``/``exception``/``log``
    write to the error log (hooks call them as ``worker.log.info(...)``);
    :meth:`access` writes one access log line.
    """

    def __init__(self, cfg: Config) -> None:
        self.error_log = logging.getLogger(ERROR_LOGGER)
        self.access_log = logging.getLogger(ACCESS_LOGGER)
        self.cfg = cfg
        self._access_format: AccessFormat | None = None
        #: The access log's handlers when they are exactly our own plain one
        #: (see :meth:`_write_direct`); None when records must go through logging.
        self._direct_handlers: list[logging.StreamHandler[Any]] | None = None
        self._own: list[tuple[logging.Logger, logging.Handler]] = []
        self._capturing = False
        self._statsd: StatsdClient | None = None
        self.setup(cfg)

    # -- setup ---------------------------------------------------------------

    def setup(self, cfg: Config) -> None:
        """(Re)configure both logs from ``cfg``; run again on reload.

        Raises :class:`LogSetupError`. New files are opened before the
        previous handlers are removed, so an error leaves the old logs in
        place (unless it comes from the user's logging config, which is
        applied last).
        """
        access_on = bool(
            cfg.accesslog
            or cfg.logconfig
            or cfg.logconfig_dict
            or cfg.logconfig_json
            or (cfg.syslog and not cfg.disable_redirect_access_to_syslog)
        )
        access_format = None
        if access_on:
            try:
                access_format = AccessFormat(cfg.access_log_format)
            except ValueError as exc:
                raise LogSetupError("access_log_format", str(exc)) from None

        new = self._build_handlers(cfg)
        capturing = cfg.capture_output and cfg.errorlog not in ("-", "")
        if capturing:
            try:
                self._capture_into(cfg.errorlog, cfg)
            except OSError as exc:
                for _, handler in new:
                    handler.close()
                raise LogSetupError("capture_output", _os_reason(exc), cfg.errorlog) from exc
        # Turning capture_output off on reload leaves fds 1 and 2 where they
        # are (as Gunicorn does); they are just no longer reopened.
        self._capturing = capturing

        self._drop_own_handlers()
        for logger, handler in new:
            logger.addHandler(handler)
        self._own = new
        self.cfg = cfg
        self.error_log.setLevel(LOG_LEVELS.get(cfg.loglevel.lower(), logging.INFO))
        self.access_log.setLevel(logging.INFO)
        self.error_log.propagate = False
        self.access_log.propagate = False
        self._apply_user_config(cfg)
        self._access_format = access_format
        self._direct_handlers = self._plain_access_handlers(cfg, new)
        self._use_statsd(StatsdClient.from_settings(cfg))

    def _build_handlers(self, cfg: Config) -> list[tuple[logging.Logger, logging.Handler]]:
        built: list[tuple[logging.Logger, logging.Handler]] = []
        try:
            error = self._output("errorlog", cfg.errorlog or "-", sys.stderr, cfg)
            if not cfg.errorlog:  # None: Gunicorn's log has no handler; Python's last
                error.setLevel(logging.WARNING)  # resort writes warnings up, to stderr
            error.setFormatter(logging.Formatter(ERROR_FORMAT, ERROR_DATEFMT))
            built.append((self.error_log, error))
            if cfg.accesslog is not None:
                access = self._output("accesslog", cfg.accesslog, sys.stdout, cfg)
                access.setFormatter(logging.Formatter(ACCESS_FORMAT))
                built.append((self.access_log, access))
            if cfg.syslog:
                built.append((self.error_log, self._syslog(cfg, "error")))
                if not cfg.disable_redirect_access_to_syslog:
                    built.append((self.access_log, self._syslog(cfg, "access")))
        except LogSetupError:
            for _, handler in built:
                handler.close()
            raise
        return built

    def _plain_access_handlers(
        self, cfg: Config, built: list[tuple[logging.Logger, logging.Handler]]
    ) -> list[logging.StreamHandler[Any]] | None:
        """The access log's handler list, when it holds only our own file/stream handler."""
        if cfg.logconfig or cfg.logconfig_dict or cfg.logconfig_json:
            return None
        mine = [handler for logger, handler in built if logger is self.access_log]
        if len(mine) != 1 or self.access_log.handlers != mine:
            return None
        handler = mine[0]
        if not isinstance(handler, (SafeFileHandler, SafeStreamHandler)):
            return None
        return [handler]

    @staticmethod
    def _output(setting: str, where: str, std: Any, cfg: Config) -> logging.Handler:
        if where == "-":
            return SafeStreamHandler(std)
        return open_file_handler(setting, where, cfg.user, cfg.group)

    @staticmethod
    def _syslog(cfg: Config, name: str) -> logging.Handler:
        prefix = cfg.syslog_prefix or cfg.proc_name_or_default.replace(":", ".")
        tag = f"gunicorn.{prefix}.{name}".replace("%", "%%")
        from workhorse.logs.syslog import FACILITIES, SafeSysLogHandler

        facility = FACILITIES.get(cfg.syslog_facility.lower())
        if facility is None:
            known = ", ".join(sorted(FACILITIES))
            raise LogSetupError(
                "syslog_facility", f"unknown facility {cfg.syslog_facility!r} (one of {known})"
            )
        try:
            socktype, address = parse_syslog_address(cfg.syslog_addr)
        except ValueError as exc:
            raise LogSetupError("syslog_addr", str(exc), cfg.syslog_addr) from None
        try:
            handler = SafeSysLogHandler(address=address, facility=facility, socktype=socktype)
        except OSError as exc:
            raise LogSetupError("syslog_addr", _os_reason(exc), cfg.syslog_addr) from exc
        handler.setFormatter(logging.Formatter(f"{tag}: {SYSLOG_FORMAT}"))
        return handler

    @staticmethod
    def _capture_into(path: str, cfg: Config) -> None:
        """Point fds 1 and 2 at ``path`` (opened for appending)."""
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os.dup2(fd, 1)
            os.dup2(fd, 2)
        finally:
            os.close(fd)
        give_to(path, cfg.user, cfg.group)

    def _use_statsd(self, client: StatsdClient | None) -> None:
        """Send Gunicorn's StatsD metrics with ``client`` (``statsd_host`` set), or stop."""
        previous, self._statsd = self._statsd, None
        if previous is not None:
            previous.close()
        if client is not None and client.error is not None:
            self.warning("StatsD metrics are off: %s", client.error)
            return
        self._statsd = client

    def _drop_own_handlers(self) -> None:
        for logger, handler in self._own:
            logger.removeHandler(handler)
            try:
                handler.close()
            except (OSError, ValueError):
                pass
        self._own = []

    def _apply_user_config(self, cfg: Config) -> None:
        # logging.config (and json) are imported only when a user config asks
        # for them: they cost memory in the master and every worker.
        if cfg.logconfig_dict:
            self._dict_config("logconfig_dict", cfg.logconfig_dict, None)
        elif cfg.logconfig_json:
            path = cfg.logconfig_json
            import json

            try:
                with open(path, encoding=FILE_ENCODING) as f:
                    loaded = json.load(f)
            except OSError as exc:
                raise LogSetupError("logconfig_json", _os_reason(exc), path) from exc
            except ValueError as exc:
                raise LogSetupError("logconfig_json", f"not valid JSON: {exc}", path) from exc
            if not isinstance(loaded, dict):
                raise LogSetupError("logconfig_json", "must hold a JSON object", path)
            self._dict_config("logconfig_json", loaded, path)
        elif cfg.logconfig:
            path = cfg.logconfig
            if not os.path.exists(path):
                raise LogSetupError("logconfig", "file not found", path)
            here = {"__file__": path, "here": os.path.dirname(path)}
            import logging.config

            try:
                logging.config.fileConfig(path, defaults=here, disable_existing_loggers=False)
            except Exception as exc:  # any error of a user's file is a setup error
                raise LogSetupError("logconfig", _describe(exc), path) from exc

    @staticmethod
    def _dict_config(setting: str, user: Mapping[str, Any], path: str | None) -> None:
        import logging.config

        config = dict_config_defaults()
        config.update(user)
        try:
            logging.config.dictConfig(config)
        except Exception as exc:  # any error of a user's dict is a setup error
            raise LogSetupError(setting, _describe(exc), path) from exc

    # -- the error log -------------------------------------------------------

    def critical(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.error_log.critical(msg, *args, **kwargs)
        self._count_line("critical")

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.error_log.error(msg, *args, **kwargs)
        self._count_line("error")

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.error_log.warning(msg, *args, **kwargs)
        self._count_line("warning")

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.error_log.info(msg, *args, **kwargs)

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.error_log.debug(msg, *args, **kwargs)

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.error_log.exception(msg, *args, **kwargs)
        self._count_line("exception")

    def _count_line(self, level: str) -> None:
        """Gunicorn's StatsD logger counts these levels as ``gunicorn.log.<level>``."""
        if self._statsd is not None:
            self._statsd.incr(LOG_LINES + level)

    def log(self, level: int | str, msg: object, *args: object, **kwargs: Any) -> None:
        """Log at ``level``: a number or a name (unknown names mean INFO)."""
        if isinstance(level, str):
            level = LOG_LEVELS.get(level.lower(), logging.INFO)
        self.error_log.log(level, msg, *args, **kwargs)

    # -- the access log ------------------------------------------------------

    @property
    def access_log_enabled(self) -> bool:
        """False when :meth:`access` does nothing: skip building the record."""
        return self._access_format is not None or self._statsd is not None

    def access(self, record: AccessRecord) -> None:
        """Write the access log line of ``record`` (never raises); count it in StatsD."""
        statsd = self._statsd
        if statsd is not None:
            # Gunicorn's three metrics per request, in its order.
            statsd.timing(REQUEST_DURATION, record.duration * 1000.0)
            statsd.incr(REQUESTS)
            statsd.incr(f"{REQUEST_STATUS}{record.status}")
        access_format = self._access_format
        if access_format is None:
            return
        log = self.access_log
        if log.disabled:
            self.keep_ours_enabled()
        if not log.isEnabledFor(logging.INFO):
            return
        try:
            atoms = access_format.atoms(record)
            if self._write_direct(log, access_format.fmt, atoms):
                return
            log.handle(_access_record(log, access_format.fmt, atoms))
        except Exception:
            self.exception("cannot log the access of %r", record.request_line)

    def _write_direct(self, log: logging.Logger, fmt: str, atoms: AccessAtoms) -> bool:
        """Write the line straight to our own handler's stream; False: use logging.

        With our plain handler as the access log's only one (no logging
        config, no filter added since), a LogRecord would be built only to
        be formatted as its message: skipping it halves the cost of an
        access log line. The line and the lock are the handler's, so the
        output is the same and a reopen (USR1) is never interleaved.
        """
        handlers = self._direct_handlers
        if handlers is None or log.handlers != handlers or log.filters:
            return False
        handler = handlers[0]
        if handler.filters:
            return False
        try:
            line = fmt % atoms + handler.terminator
        except Exception:
            return False  # a broken conversion: reported by logging, as Gunicorn's is
        with handler.lock:  # type: ignore[union-attr]
            stream = handler.stream
            if stream is None:
                # Closed under us (an app's logging.config call closes every
                # handler it finds): logging's FileHandler reopens it.
                return False
            try:
                stream.write(line)
                stream.flush()
            except Exception:
                # Reported as logging would (once: see ReportsOnce), not retried:
                # the line may be half-written already.
                handler.handleError(_access_record(log, fmt, atoms))
        return True

    def keep_ours_enabled(self) -> None:
        """Undo an app's logging config that disabled the server's own loggers.

        ``logging.config.dictConfig`` with ``disable_existing_loggers`` (its
        default: Flask's documented setup, many others) disables every
        logger it does not name, ``gunicorn.error`` and ``gunicorn.access``
        included, which silences the server's logs for good. They belong to
        the server, so they are enabled again (once said in the error log).
        A config that names them keeps what it says about them.
        """
        changed = [log.name for log in (self.error_log, self.access_log) if log.disabled]
        if not changed:
            return
        for log in (self.error_log, self.access_log):
            log.disabled = False
        self.info("The application's logging configuration disabled %s; enabled again "
                  "(they are the server's error and access logs)", " and ".join(changed))

    # -- files ---------------------------------------------------------------

    def reopen_files(self) -> None:
        """Reopen every log file (USR1): ours and any a logging config made.

        A file renamed away is created anew. A file that cannot be reopened
        is reported on the error log and the old one is kept.
        """
        failures: list[tuple[str, OSError]] = []
        if self._capturing:
            try:
                self._capture_into(self.cfg.errorlog, self.cfg)
            except OSError as exc:
                failures.append((self.cfg.errorlog, exc))
        seen: set[int] = set()
        for logger in all_loggers():
            for handler in list(logger.handlers):
                if isinstance(handler, logging.FileHandler) and id(handler) not in seen:
                    seen.add(id(handler))
                    error = reopen_file_handler(handler, self.cfg.user, self.cfg.group)
                    if error is not None:
                        failures.append((handler.baseFilename, error))
        for path, error in failures:
            message = f"cannot reopen the log file {path!r}, still writing to the old one: {error}"
            self.error("%s", message)
            # The old file may be unreachable (its directory gone): say it on
            # stderr too, where a supervisor (systemd, docker) collects it.
            try:
                os.write(2, f"workhorse[{os.getpid()}]: {message}\n".encode(errors="replace"))
            except OSError:
                pass

    def close_on_exec(self) -> None:
        """Mark the log files' descriptors close-on-exec (not fds 1 and 2)."""
        for logger in all_loggers():
            for handler in logger.handlers:
                if isinstance(handler, logging.FileHandler):
                    handler.acquire()
                    try:
                        if handler.stream is not None:
                            set_cloexec(handler.stream.fileno())
                    finally:
                        handler.release()

    def fileno_of_error_log(self) -> int | None:
        """The descriptor of the error log's first file or stream, if any.

        For writers that bypass ``logging``, such as ``faulthandler``.
        """
        for handler in self.error_log.handlers:
            stream = getattr(handler, "stream", None)
            if stream is None:
                continue
            try:
                return int(stream.fileno())
            except (AttributeError, OSError, ValueError):
                continue
        return None

    def close(self) -> None:
        """Remove and close the handlers this Logger added, and the StatsD socket."""
        self._drop_own_handlers()
        self._access_format = None
        self._use_statsd(None)


def _access_record(log: logging.Logger, fmt: str, atoms: AccessAtoms) -> logging.LogRecord:
    """The access log's record: Gunicorn's shape, the format as msg and the
    atoms mapping as args. makeRecord is log.info without the stack walk that
    finds the caller (1.5 us a request); the record names this module."""
    return log.makeRecord(log.name, logging.INFO, __file__, 0, fmt, (atoms,), None, "access")
