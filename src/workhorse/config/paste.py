"""``--paste``: the application comes from a PasteDeploy ini file, as in Gunicorn.

Strategy: the loader turns ``paste = PATH[#NAME]`` into an application URI
that the master and the workers hand to :func:`workhorse.wsgi.loader.load_app`
like any other: ``config:`` (PasteDeploy's own scheme) followed by the
absolute path, percent-quoted, the ``--paste-global`` variables as a query
string and the app section's name as the fragment. An absolute path after
``config:`` cannot be a ``module:attribute``, so the two forms never clash.
This module makes the URI and holds the other facts of Gunicorn's paste
handling; reading the URI and loading the app with PasteDeploy is
:mod:`workhorse.wsgi.paste`'s job (a test round-trips the URI between them).
Gunicorn's behaviour, kept here:

- the ini path is taken from the working directory at start; a missing file
  is an error at start;
- the positional APP_MODULE is ignored, and the processes are named after
  the ini file;
- when the ini has a ``[loggers]`` section, it is also the ``logconfig``
  (``logging.config.fileConfig``) unless another logging config is given;
- ``--paste-global KEY=VALUE`` entries are PasteDeploy's ``global_conf``;
  ``\\=`` stands for a literal ``=`` in a key or a value;
- the ini's ``[server:*]`` sections are not read: server settings come from
  the command line and the config file only.
"""

from __future__ import annotations

import configparser
import importlib.util
import re
from urllib.parse import quote, urlencode

#: The scheme PasteDeploy's loadapp() takes for an ini file.
SCHEME = "config:"
#: The first ``=`` not escaped by a backslash splits KEY=VALUE.
_UNESCAPED_EQUALS = re.compile(r"(?<!\\)=")
#: The install command named when PasteDeploy is missing.
INSTALL_HINT = "pip install 'workhorse[paste]'"


def split_global(entry: str) -> tuple[str, str]:
    """``KEY=VALUE`` (``\\=`` is a literal ``=``) -> (key, value); ValueError if no ``=``."""
    parts = _UNESCAPED_EQUALS.split(entry, maxsplit=1)
    if len(parts) != 2:
        raise ValueError(f"{entry!r} is not KEY=VALUE")
    key, value = (part.replace("\\=", "=") for part in parts)
    return key, value


def global_conf(entries: list[str]) -> dict[str, str]:
    """The ``--paste-global`` entries as PasteDeploy's ``global_conf``."""
    return dict(split_global(entry) for entry in entries)


def app_uri(path: str, name: str, variables: dict[str, str]) -> str:
    """The application URI for the ini file ``path`` (absolute) and app section ``name``."""
    query = f"?{urlencode(variables)}" if variables else ""
    fragment = f"#{quote(name, safe='')}" if name else ""
    return f"{SCHEME}{quote(path)}{query}{fragment}"


def split_location(value: str) -> tuple[str, str]:
    """``PATH[#NAME]`` -> (path, name)."""
    path, _, name = value.partition("#")
    return path, name


def has_logging_config(path: str) -> bool:
    """Whether the ini file has a ``[loggers]`` section (then it is also the logconfig)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read([path])
    except configparser.Error:
        return False
    return parser.has_section("loggers")


def paste_deploy_missing() -> bool:
    """True when PasteDeploy (the ``paste`` extra) is not installed."""
    try:
        return importlib.util.find_spec("paste.deploy") is None
    except ModuleNotFoundError:  # no "paste" package at all
        return True
