"""Load the ASGI application a user named, as an ASGI 3 callable.

Strategy: finding the object is the WSGI loader's job (the same ``module:name``
and ``module:factory(args)`` forms, the same :class:`AppImportError` messages).
What is ASGI's is the calling convention. An ASGI 2 application, "double
callable" (``app(scope)`` returns the coroutine function that takes
``receive, send``), is wrapped into ASGI 3, told apart as asgiref and uvicorn
do: asgiref's ``_asgi_single_callable``/``_asgi_double_callable`` hints first,
then a class is double, an object whose ``__call__`` is a coroutine function
single, any other callable double unless it is a coroutine function. The
user chose the worker, so a WSGI app is not expected; one that gets here
would pass the ASGI 2 test and fail on every request, so a plain callable
that needs two positional arguments (``environ, start_response``) is
refused with a message that names the worker classes that run it.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

from workhorse.wsgi.loader import AppImportError, load_app

from .types import ASGIApp, Receive, Scope, Send

if sys.version_info >= (3, 12):  # inspect knows markcoroutinefunction() from 3.12 on
    from inspect import iscoroutinefunction
else:  # and asyncio's knows asgiref's marker before it (deprecated from 3.14)
    from asyncio import iscoroutinefunction


class ASGI2App:
    """An ASGI 2 (double-callable) application seen as ASGI 3."""

    __slots__ = ("app",)
    _asgi_single_callable = True

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        instance = self.app(scope)
        await instance(receive, send)


def load_asgi_app(uri: str) -> ASGIApp:
    """Import the application named by ``uri`` and return it as ASGI 3."""
    return as_asgi3(load_app(uri), uri)


def as_asgi3(app: Any, name: str = "the application") -> ASGIApp:
    """``app`` as a single-callable ASGI 3 application; AppImportError if it cannot be one."""
    if not callable(app):
        raise AppImportError(f"Application object {name!r} must be callable, got {type(app)}.")
    if not is_double_callable(app):
        return app  # type: ignore[no-any-return]
    if needs_two_arguments(app):
        raise AppImportError(
            f"Application object {name!r} looks like a WSGI application (it takes environ and "
            "start_response), not an ASGI one: serve it with the sync or gthread worker "
            "(-k sync, -k gthread), or wrap it for ASGI.")
    return ASGI2App(app)


def is_double_callable(app: Any) -> bool:
    """Is ``app`` an ASGI 2 application (``app(scope)(receive, send)``)?"""
    if getattr(app, "_asgi_single_callable", False):
        return False
    if getattr(app, "_asgi_double_callable", False):
        return True
    if inspect.isclass(app):
        return True
    if iscoroutinefunction(app.__call__):  # an instance whose __call__ is async
        return False
    return not iscoroutinefunction(app)


def needs_two_arguments(app: Any) -> bool:
    """Does calling ``app`` need two positional arguments or more (WSGI's shape)?"""
    try:
        signature = inspect.signature(app)
    except (TypeError, ValueError):  # a builtin or an extension type: cannot tell
        return False
    required = 0
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_POSITIONAL:
            return False
        if (parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
                and parameter.default is parameter.empty):
            required += 1
    return required >= 2
