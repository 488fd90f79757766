"""What the logs read from the configuration, and how setting them up fails.

Strategy: the logs depend on a Protocol naming the Gunicorn settings they
read, not on the settings package, so any object with these attributes
(the real ``Config``, a test dataclass) will do. Members are read-only
properties so frozen dataclasses satisfy it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class LogSettings(Protocol):
    """The settings :class:`workhorse.logs.Logger` reads (Gunicorn's names)."""

    @property
    def accesslog(self) -> str | None:
        """Access log path, ``"-"`` for stdout, ``None`` for no access log."""

    @property
    def access_log_format(self) -> str: ...

    @property
    def errorlog(self) -> str:
        """Error log path, ``"-"`` for stderr."""

    @property
    def loglevel(self) -> str: ...

    @property
    def capture_output(self) -> bool: ...

    @property
    def logconfig(self) -> str | None:
        """Path of a ``logging.config.fileConfig`` ini file."""

    @property
    def logconfig_dict(self) -> Mapping[str, Any]: ...

    @property
    def logconfig_json(self) -> str | None: ...

    @property
    def disable_redirect_access_to_syslog(self) -> bool: ...

    @property
    def syslog(self) -> bool: ...

    @property
    def syslog_addr(self) -> str: ...

    @property
    def syslog_prefix(self) -> str | None: ...

    @property
    def syslog_facility(self) -> str: ...

    @property
    def proc_name(self) -> str | None: ...

    @property
    def daemon(self) -> bool:
        """Not read by the logs today (as in Gunicorn); kept for the contract."""

    @property
    def user(self) -> int:
        """Log files are chowned to this uid so workers can reopen them."""

    @property
    def group(self) -> int: ...


class LogSetupError(RuntimeError):
    """The logs cannot be set up as configured; the message says why.

    ``setting`` names the setting at fault, ``path`` the file or address (if
    any) and ``reason`` the operating system's or the parser's reason.
    """

    def __init__(self, setting: str, reason: str, path: str | None = None) -> None:
        self.setting = setting
        self.reason = reason
        self.path = path
        where = f" {path!r}" if path is not None else ""
        super().__init__(f"{setting}{where}: {reason}")
