"""The one error type of configuration, and how the CLI reports it.

Strategy: everything that is wrong with a configuration (a bad value, an
unknown flag, a broken config file, an unsupported worker class) becomes a
:class:`ConfigError` whose message names the setting or the file and says
what is accepted. Usage errors (an unknown flag, a missing flag value) carry
the parser's usage line and exit code 2, like argparse; everything else exits
with 1, like Gunicorn.
"""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration problem, with the message to show the user."""

    def __init__(self, message: str, *, usage: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: The usage line to print first, for command-line usage errors.
        self.usage = usage

    @property
    def exit_code(self) -> int:
        return 2 if self.usage is not None else 1

    def render(self, prog: str = "workhorse") -> str:
        """The text for stderr: argparse's shape for usage errors, else Gunicorn's."""
        if self.usage is not None:
            return f"{self.usage}{prog}: error: {self.message}\n"
        return f"Error: {self.message}\n"
