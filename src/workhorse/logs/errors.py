"""How setting up the logs fails: an error that names the setting at fault."""

from __future__ import annotations


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
