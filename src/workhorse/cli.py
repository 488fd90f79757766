"""The ``workhorse`` command: Gunicorn's command line, plus ``workhorse status``.

Strategy: ``workhorse [OPTIONS] APP_MODULE`` loads the configuration exactly
as Gunicorn does (see :mod:`workhorse.config.loader`), prepares the process
(working directory, ``sys.path``, environment), sets up logging and hands
over to the master. Errors before the master runs are printed on stderr
with what to fix, and exit non-zero: 1 for configuration and startup
errors, 2 for command-line usage (as argparse), 4 when a preloaded app
fails to import (Gunicorn's "app failed to load").
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from workhorse import proctitle
from workhorse.config import ConfigError, LoadedConfig, load_config, print_config
from workhorse.config.loader import start_directory
from workhorse.config.settings import Config

USAGE_ERROR = 2
#: ``workhorse status`` and ``workhorse ctl`` talk to a running master; any
#: other first argument is Gunicorn's command line.
SUBCOMMANDS = ("status", "ctl")


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        from workhorse.observe import status

        command = status.main if args[0] == "status" else status.ctl_main
        sys.exit(command(args[1:]))
    sys.exit(run_server(args))


def run_server(args: list[str]) -> int:
    proctitle.prepare()  # before anything changes the environment
    environ = dict(os.environ)
    cwd = start_directory(environ)
    try:
        loaded = load_config(args, environ, cwd=cwd)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    cfg = loaded.config
    if cfg.print_config:
        print(print_config(cfg))
        return 0
    if not loaded.app_uri:
        print("workhorse: error: No application module specified (give APP_MODULE, e.g. "
              "myproject.wsgi:application, or set wsgi_app; try workhorse.demo:app).",
              file=sys.stderr)
        return USAGE_ERROR
    prepare_process(cfg)
    if cfg.check_config:
        return check_config(loaded)
    if cfg.daemon:
        from workhorse.master.process import daemonize

        daemonize(bool(cfg.enable_stdio_inheritance))
    from workhorse.logs import LogSetupError
    from workhorse.logs.custom import make_logger

    try:
        log = make_logger(cfg)
    except LogSetupError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    for warning in loaded.warnings:
        log.warning("%s", warning)
    from workhorse.master.arbiter import Arbiter
    from workhorse.observe.plugins import observe_plugins

    def reload_config() -> Config:
        return load_config(args, environ, cwd=cwd).config

    arbiter = Arbiter(cfg, loaded.app_uri, log, reload_config=reload_config, argv=args)
    arbiter.plugins.extend(observe_plugins(cfg))
    return arbiter.run()


def prepare_process(cfg: Config) -> None:
    """chdir, sys.path and raw_env, as Gunicorn does before loading anything."""
    chdir = cfg.chdir
    if chdir:
        os.chdir(chdir)
        if chdir not in sys.path:
            sys.path.insert(0, chdir)
    pythonpath = cfg.pythonpath
    if pythonpath:
        for path in reversed([p.strip() for p in str(pythonpath).split(",") if p.strip()]):
            if path not in sys.path:
                sys.path.insert(0, path)
    for key, value in cfg.env_vars.items():
        os.environ[key] = value


def check_config(loaded: LoadedConfig) -> int:
    """``--check-config``: the config is valid and the app imports."""
    from workhorse.wsgi.loader import AppImportError, load_app

    try:
        load_app(loaded.app_uri or "")
    except AppImportError as exc:
        detail = f"\n{exc.details}" if exc.details else ""
        print(f"Error: {exc}{detail}", file=sys.stderr)
        return 1
    print("Configuration and application OK.")
    return 0
