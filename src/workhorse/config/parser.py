"""The command-line parser, derived from the registry.

Strategy: one argparse option per setting flag, grouped by section, with
``dest`` set to the setting's name and every default suppressed, so the
parsed namespace holds exactly the settings the user gave. Values stay raw
strings: the loader converts them with the setting's converter, so a bad
value gets the same error from the command line, the environment and a config
file. argparse's own errors (unknown flag, missing value) become a
:class:`ConfigError` that carries the usage line and exit code 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from workhorse import __version__
from workhorse.config.errors import ConfigError
from workhorse.config.registry import SettingInfo, Support, iter_settings
from workhorse.config.sections import SECTIONS

PROG = "workhorse"
USAGE = "%(prog)s [OPTIONS] [APP_MODULE]"


class _Parser(argparse.ArgumentParser):
    """argparse that raises ConfigError instead of printing and exiting."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message, usage=self.format_usage())


@dataclass(frozen=True)
class ParsedArgs:
    """One command line: the settings it gives (raw) and its positional arguments."""

    source: str
    options: dict[str, Any]
    positional: list[str]


def default_text(info: SettingInfo) -> str:
    """The default as --help and the docs show it."""
    if info.spec.default_doc is not None:
        return info.spec.default_doc
    return repr(info.default_value())


def _support_note(info: SettingInfo) -> str:
    if info.spec.support is not Support.ACCEPTED:
        return ""
    if info.spec.honoured:
        return " (some values not implemented by workhorse)"
    return " (not implemented by workhorse)"


def _help(info: SettingInfo) -> str:
    text = f"{info.spec.help}{_support_note(info)} [{default_text(info)}]"
    return text.replace("%", "%%")


def _action_kwargs(info: SettingInfo) -> dict[str, Any]:
    spec = info.spec
    if spec.action in ("store_true", "store_false"):
        return {"action": "store_const", "const": spec.action == "store_true"}
    if spec.action == "store_const":
        return {"action": "store_const", "const": spec.const}
    kwargs: dict[str, Any] = {"action": spec.action, "metavar": spec.metavar}
    if spec.nargs is not None:
        kwargs.update(nargs=spec.nargs, const=spec.const)
    return kwargs


def _add_setting(group: argparse._ArgumentGroup, info: SettingInfo) -> None:
    group.add_argument(
        *info.spec.flags,
        dest=info.name,
        default=argparse.SUPPRESS,
        help=_help(info),
        **_action_kwargs(info),
    )


def make_cli_parser() -> argparse.ArgumentParser:
    """The ``workhorse`` parser: every setting flag, grouped by section."""
    parser = _Parser(prog=PROG, usage=USAGE)
    parser.add_argument(
        "-v",
        "--version",
        action="version",
        version=f"%(prog)s (version {__version__})",
        help="show the version and exit",
    )
    parser.add_argument("args", nargs="*", metavar="APP_MODULE", help=argparse.SUPPRESS)
    for section in SECTIONS:
        infos = [info for info in iter_settings(section) if info.spec.flags]
        if infos:
            group = parser.add_argument_group(infos[0].spec.section)
            for info in infos:
                _add_setting(group, info)
    return parser


def parse_args(parser: argparse.ArgumentParser, args: Sequence[str], source: str) -> ParsedArgs:
    """Parse one command line; ``source`` names it in errors and in LoadedConfig.sources."""
    try:
        namespace = parser.parse_args(list(args))
    except ConfigError as exc:
        if source == "command line":
            raise
        raise ConfigError(f"{exc.message} (in {source})", usage=exc.usage) from None
    options = vars(namespace)
    positional = options.pop("args", [])
    return ParsedArgs(source, options, list(positional))
