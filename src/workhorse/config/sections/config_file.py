"""Config File: where the configuration and the application come from."""

# setting() returns a dataclasses.field (a copied default for lists and dicts).

from __future__ import annotations

from dataclasses import dataclass

from workhorse.config import converters as c
from workhorse.config.registry import setting

SECTION = "Config File"


@dataclass(init=False, repr=False, eq=False)
class ConfigFile:
    config: str = setting(
        "./gunicorn.conf.py",
        section=SECTION,
        flags=("-c", "--config"),
        metavar="CONFIG",
        convert=c.string,
        help="Config file to read: PATH, file:PATH or python:MODULE_NAME.",
        details=(
            "Given on the command line or in `GUNICORN_CMD_ARGS`/`WORKHORSE_CMD_ARGS`."
            " Without it, `./workhorse.conf.py` is read if it exists, else"
            " `./gunicorn.conf.py` (both relative to the working directory at start;"
            " when both exist `workhorse.conf.py` wins and a warning names the other)."
            " After loading, this setting holds the location that was read."
            " The file is Python: every top-level name that is a setting sets it,"
            " other names are ignored (a name very close to a setting gets a"
            " did-you-mean warning). Setting `config` inside a config file has no effect."
        ),
    )
    wsgi_app: str | None = setting(
        None,
        section=SECTION,
        metavar="STRING",
        convert=c.optional_string,
        help="The WSGI application as MODULE:VARIABLE, used when no APP_MODULE is given.",
    )
