"""The loader: argv + environment + config file -> a validated Config.

Strategy: layers are applied in Gunicorn's order, each overriding the last:

    defaults < setting env vars (PORT, WEB_CONCURRENCY, FORWARDED_ALLOW_IPS,
    SENDFILE) < config file < GUNICORN_CMD_ARGS < WORKHORSE_CMD_ARGS < CLI

Every value goes through its setting's converter and the loader records
which layer set it (``LoadedConfig.sources``). The command line and the
*_CMD_ARGS variables are parsed first only to learn ``-c``; their values are
applied after the config file. Nothing here changes the process: no chdir,
no environment changes, and ``sys.path`` is only borrowed while a config
file runs. Problems that should not stop the server (a likely typo in the
config file, a Gunicorn setting workhorse ignores) become warnings.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import sys
from argparse import ArgumentParser
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workhorse.config import files
from workhorse.config.errors import ConfigError
from workhorse.config.parser import ParsedArgs, make_cli_parser, parse_args
from workhorse.config.registry import SettingInfo
from workhorse.config.settings import Config, all_settings

#: Environment variables holding extra command-line arguments, weakest first.
CMD_ARGS_VARS = ("GUNICORN_CMD_ARGS", "WORKHORSE_CMD_ARGS")
COMMAND_LINE = "command line"
DEFAULT = "default"
#: Shorter flag names (name, env, pid) are too common as helper variables to warn about.
MIN_FLAG_ALIAS = 6


@dataclass
class LoadedConfig:
    """A loaded configuration and how it came to be."""

    config: Config
    #: The APP_MODULE argument, else the ``wsgi_app`` setting, else None.
    app_uri: str | None
    #: Setting name -> "default", "env:VAR", "file:/path", "python:module",
    #: "GUNICORN_CMD_ARGS", "WORKHORSE_CMD_ARGS" or "command line".
    sources: dict[str, str]
    warnings: list[str] = field(default_factory=list)


def load_config(
    argv: Sequence[str], environ: Mapping[str, str], *, cwd: str | None = None
) -> LoadedConfig:
    """Build the configuration from ``argv`` (without the program name) and ``environ``.

    ``cwd`` is the working directory at start (default: the current one, as
    $PWD spells it when that is the same directory); relative paths are taken
    from it and ``chdir`` defaults to it. Raises :class:`ConfigError`.
    """
    builder = _Builder(os.path.abspath(cwd or start_directory(environ)))
    builder.apply_env(environ)
    parser = make_cli_parser()
    cli = parse_args(parser, argv, COMMAND_LINE)
    env_args = [_parse_env_args(parser, environ, var) for var in CMD_ARGS_VARS if var in environ]
    builder.apply_config_file(_config_location(cli, env_args))
    for parsed in [*env_args, cli]:
        builder.apply_args(parsed)
    return builder.finish(cli)


def start_directory(environ: Mapping[str, str]) -> str:
    """The working directory, spelt as $PWD when that names it (keeps symlinks, as Gunicorn)."""
    cwd = os.getcwd()
    pwd = environ.get("PWD", "")
    if os.path.isabs(pwd):
        with contextlib.suppress(OSError):
            if os.path.samefile(pwd, cwd):
                return pwd
    return cwd


def _parse_env_args(parser: ArgumentParser, environ: Mapping[str, str], var: str) -> ParsedArgs:
    try:
        args = shlex.split(environ[var])
    except ValueError as exc:
        raise ConfigError(f"{var}: cannot split {environ[var]!r}: {exc}") from None
    return parse_args(parser, args, var)


def _config_location(cli: ParsedArgs, env_args: list[ParsedArgs]) -> tuple[str, str] | None:
    """The -c value that wins (command line, then the strongest variable) and its source."""
    for parsed in [cli, *reversed(env_args)]:
        if "config" in parsed.options:
            return str(parsed.options["config"]), parsed.source
    return None


def _anchor(raw: Any, cwd: str) -> Any:
    """Relative path strings (alone or in a list) taken from ``cwd``."""
    if isinstance(raw, str) and raw.strip() and not os.path.isabs(raw.strip()):
        return os.path.join(cwd, raw.strip())
    if isinstance(raw, (list, tuple)):
        return [_anchor(item, cwd) for item in raw]
    return raw


def _spellings(settings: Iterable[SettingInfo]) -> dict[str, str]:
    """Setting names, and long flags written as names (``preload``), to setting names."""
    infos = list(settings)
    spellings = {info.name: info.name for info in infos}
    for info in infos:
        for flag in info.spec.flags:
            alias = flag.lstrip("-").replace("-", "_")
            if flag.startswith("--") and len(alias) >= MIN_FLAG_ALIAS:
                spellings.setdefault(alias, info.name)
    return spellings


def _origin(source: str) -> str:
    return "" if source == COMMAND_LINE else f" (from {source})"


def _invalid(info: SettingInfo, shown: Any, source: str, exc: Exception) -> ConfigError:
    return ConfigError(f"Invalid value for {info.label}: {shown!r}: {exc}{_origin(source)}")


class _Builder:
    """Applies the layers to one Config and keeps the sources and warnings."""

    def __init__(self, cwd: str) -> None:
        self.cwd = cwd
        self.config = Config()
        self.settings = {info.name: info for info in all_settings()}
        self.sources = dict.fromkeys(self.settings, DEFAULT)
        self.warnings: list[str] = []
        for info in self.settings.values():
            if info.spec.anchored:
                self.set(info, info.default_value(), DEFAULT)

    def set(
        self,
        info: SettingInfo,
        raw: Any,
        source: str,
        shown: Any = None,
        locate: Callable[[], str] = str,
    ) -> None:
        """Convert ``raw`` for ``info`` and store it, or raise a ConfigError.

        ``locate()`` (", line N"), called only for an error or a warning, is
        added to the source in its message.
        """
        if info.spec.anchored:
            raw = _anchor(raw, self.cwd)
        try:
            value = info.spec.convert(raw)
        except (TypeError, ValueError) as exc:
            shown = raw if shown is None else shown
            raise _invalid(info, shown, source + locate(), exc) from None
        advice = info.spec.convert.advice(raw)
        if advice:
            self.warnings.append(f"{info.label}: {advice}{_origin(source + locate())}")
        setattr(self.config, info.name, value)
        self.sources[info.name] = source

    def apply_env(self, environ: Mapping[str, str]) -> None:
        for info in self.settings.values():
            var = info.spec.env
            if var is None or var not in environ:
                continue
            text = environ[var]
            raw = info.spec.from_env(text) if info.spec.from_env else text
            self.set(info, raw, f"env:{var}", shown=text)

    def apply_config_file(self, given: tuple[str, str] | None) -> None:
        if given is None:
            path, warnings = files.discover(self.cwd)
            self.warnings += warnings
            if path is None:
                return
            given = (path, DEFAULT)
        location, source = given
        read = files.read(location, self.cwd)
        self.warnings += read.warnings
        self._apply_namespace(read)
        self.config.config = read.location
        self.sources["config"] = source

    def _apply_namespace(self, read: files.ConfigSource) -> None:
        for name, value in read.namespace.items():
            if name == "config":
                self.warnings.append(f"{read.label}: 'config' in a config file has no effect")
            elif name in self.settings:
                locate = functools.partial(read.where, name)
                self.set(self.settings[name], value, read.label, locate=locate)
        spellings = _spellings(self.settings.values())
        self.warnings += files.typo_warnings(read.namespace, spellings, read.label)

    def apply_args(self, parsed: ParsedArgs) -> None:
        for name, raw in parsed.options.items():
            if name != "config":
                self.set(self.settings[name], raw, parsed.source)
        if parsed.positional and parsed.source != COMMAND_LINE:
            self.warnings.append(
                f"{parsed.source}: positional arguments are ignored: {' '.join(parsed.positional)}"
            )

    def finish(self, cli: ParsedArgs) -> LoadedConfig:
        app_uri = self._app_uri(cli.positional)
        # Refuses gevent and co. now, not at fork time. A project's own worker
        # class (a uvicorn worker subclass) is imported from where the app is:
        # the working directory and pythonpath, as the server will see them.
        with _on_sys_path(self._import_dirs()):
            _ = self.config.worker_class_name
        self.warnings += self._ignored_settings()
        return LoadedConfig(self.config, app_uri, self.sources, self.warnings)

    def _import_dirs(self) -> list[str]:
        """Where the server will import from (see cli.prepare_process)."""
        dirs = [os.path.join(self.cwd, str(self.config.chdir or "."))]
        dirs += [p.strip() for p in str(self.config.pythonpath or "").split(",") if p.strip()]
        return dirs

    def _app_uri(self, positional: list[str]) -> str | None:
        if self.config.paste:
            return self._paste_app_uri(positional)
        if not positional:
            return self.config.wsgi_app
        if len(positional) > 1:
            self.warnings.append(f"extra arguments are ignored: {' '.join(positional[1:])}")
        # As in Gunicorn, the application names the processes unless proc_name is set.
        self.config.default_proc_name = positional[0]
        self.sources["default_proc_name"] = COMMAND_LINE
        return positional[0]

    def _paste_app_uri(self, positional: list[str]) -> str:
        """The app comes from the ini file named by ``paste``, as in Gunicorn."""
        # Imported only here: configparser and its helpers are 3 ms of every start.
        from workhorse.config import paste as pastedeploy

        location, name = pastedeploy.split_location(str(self.config.paste))
        path = os.path.normpath(os.path.join(self.cwd, location))
        if not os.path.isfile(path):
            raise ConfigError(f"paste (--paste): {path!r} not found")
        if pastedeploy.paste_deploy_missing():
            raise ConfigError(
                "paste (--paste): loading an application from a PasteDeploy ini file needs"
                f" PasteDeploy, which is not installed: {pastedeploy.INSTALL_HINT}"
            )
        if positional:
            self.warnings.append(
                f"APP_MODULE {positional[0]!r} is ignored: the application comes from {path}"
            )
        self.config.default_proc_name = path
        self.sources["default_proc_name"] = self.sources["paste"]
        if self.sources["logconfig"] == DEFAULT and pastedeploy.has_logging_config(path):
            self.config.logconfig = path
            self.sources["logconfig"] = self.sources["paste"]
        return pastedeploy.app_uri(path, name, self.config.paste_global_conf)

    def _ignored_settings(self) -> list[str]:
        return [
            f"{info.name}: accepted for Gunicorn compatibility but not implemented"
            f" by workhorse: {info.spec.note}"
            for info in self.settings.values()
            if not info.is_honoured(getattr(self.config, info.name))
        ]


@contextlib.contextmanager
def _on_sys_path(dirs: list[str]) -> Iterator[None]:
    """``dirs`` importable for the duration (what is added is removed again)."""
    added = [d for d in dirs if d not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for directory in added:
            if directory in sys.path:
                sys.path.remove(directory)
