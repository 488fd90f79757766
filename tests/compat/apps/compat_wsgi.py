"""The plain WSGI application that stands in for a project's own app in the corpus.

Every name a corpus command line points at is here (``app``, ``application``,
``APP``, the ``create_app()`` factory), so only the module part of APP_MODULE is
substituted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BODY = b"ok\n"


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [BODY]


application = app
#: Some projects name their callable in capitals (``dispatcher:APP``).
APP = app


def create_app() -> Callable[..., Iterable[bytes]]:
    """A factory, as ``'module:create_app()'`` command lines call it."""
    return app
