"""Load a WSGI application from a PasteDeploy ini file (``--paste``).

Strategy: the configuration turned ``--paste PATH[#NAME]`` and the
``--paste-global`` variables into one application URI
(:func:`workhorse.config.paste.app_uri`: ``config:`` + the absolute path,
percent-quoted, + ``?`` the variables + ``#`` the app section's name; a
unit test round-trips it through :func:`parse_app_uri` here, which keeps
this package free of the config package). Here it becomes the call
Gunicorn makes: ``paste.deploy.loadapp("config:PATH[#NAME]",
relative_to=<working directory>, global_conf=<variables>)``. PasteDeploy is
an optional extra: without it the error names the package and how to
install it. Failures become :class:`AppImportError`, like every other way
an app fails to load.
"""

from __future__ import annotations

import os
import traceback
from typing import Any
from urllib.parse import parse_qsl, unquote

from workhorse.wsgi.loader import AppImportError, WSGIApp

#: PasteDeploy's scheme for an ini file; followed by an absolute path here.
SCHEME = "config:"
INSTALL_HINT = "pip install 'workhorse[paste]'"


def parse_app_uri(uri: str) -> tuple[str, str, dict[str, str]] | None:
    """(path, app name, global_conf) of a ``config:/PATH[?VARS][#NAME]`` URI, else None."""
    if not uri.startswith(SCHEME + "/"):
        return None
    rest, _, name = uri[len(SCHEME) :].partition("#")
    path, _, query = rest.partition("?")
    return unquote(path), unquote(name), dict(parse_qsl(query, keep_blank_values=True))


def load_paste_app(uri: str) -> WSGIApp:
    """The application of the ini file a ``config:/PATH`` URI names."""
    parsed = parse_app_uri(uri)
    if parsed is None:
        raise AppImportError(f"{uri!r} is not a PasteDeploy application URI")
    path, name, global_conf = parsed
    loadapp = _loadapp()
    section = f"#{name}" if name else ""
    try:
        app: Any = loadapp(
            f"{SCHEME}{path}{section}", relative_to=os.getcwd(), global_conf=global_conf
        )
    except Exception as exc:
        raise AppImportError(
            f"PasteDeploy could not load {path}{section}: {type(exc).__name__}: {exc}",
            details=traceback.format_exc(),
        )
    if not callable(app):
        raise AppImportError(f"{path}{section} did not give a callable application: {app!r}")
    return app  # type: ignore[no-any-return]


def _loadapp() -> Any:
    try:
        from paste.deploy import loadapp  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise AppImportError(
            f"--paste needs PasteDeploy, which is not installed: {INSTALL_HINT}"
        ) from None
    return loadapp
