"""Find the WSGI application a user named on the command line.

Strategy: accept Gunicorn's forms unchanged: ``module``, ``module:name``,
``module:name.attr`` and ``module:factory(args)``, where the call's
arguments must be Python literals (they are read with :mod:`ast`, never
evaluated). Every failure becomes an :class:`AppImportError` whose message
says which of the steps failed (import, attribute lookup, factory call, not a
callable) with the original error, because "the app did not load" is the
first thing an operator has to debug after a deploy.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Callable
from typing import Any

WSGIApp = Callable[..., Any]

#: Gunicorn's default attribute when the app is given as a bare module.
DEFAULT_ATTRIBUTE = "application"


class AppImportError(Exception):
    """The application could not be loaded; the message says why."""

    def __init__(self, message: str, *, details: str = "") -> None:
        super().__init__(message)
        self.details = details


def parse_app_uri(uri: str) -> tuple[str, str, tuple[Any, ...] | None, dict[str, Any]]:
    """Split ``module:expr`` into (module, attribute path, call args or None, kwargs)."""
    module, _, expression = uri.partition(":")
    if not module:
        raise AppImportError(f"Invalid application {uri!r}: expected 'module:name'")
    expression = expression.strip() or DEFAULT_ATTRIBUTE
    if all(part.isidentifier() for part in expression.split(".")):
        return module, expression, None, {}  # the common case needs no parser
    import ast  # a factory call: read its literal arguments

    try:
        node = ast.parse(expression, mode="eval").body
    except SyntaxError:
        raise AppImportError(
            f"Invalid application {uri!r}: {expression!r} is neither a name nor a call"
        )
    args: tuple[Any, ...] | None = None
    kwargs: dict[str, Any] = {}
    if isinstance(node, ast.Call):
        args, kwargs = _literal_arguments(uri, node)
        node = node.func
    name = _dotted_name(node)
    if name is None:
        raise AppImportError(
            f"Invalid application {uri!r}: expected an attribute name or a call such as "
            f"'create_app()', got {expression!r}"
        )
    return module, name, args, kwargs


def _literal_arguments(uri: str, call: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    import ast

    try:
        args = tuple(ast.literal_eval(arg) for arg in call.args)
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}
    except ValueError:
        raise AppImportError(
            f"Invalid application {uri!r}: factory arguments must be Python literals"
        )
    if any(kw.arg is None for kw in call.keywords):
        raise AppImportError(f"Invalid application {uri!r}: **kwargs are not supported")
    return args, kwargs


def _dotted_name(node: Any) -> str | None:
    import ast

    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        parent = _dotted_name(node.value)
        return None if parent is None else f"{parent}.{node.attr}"
    return None


def load_app(uri: str) -> WSGIApp:
    """Import and return the WSGI callable named by ``uri``.

    ``uri`` is ``module[:expression]``, or the ``config:/PATH`` URI that
    ``--paste`` gives (the app of a PasteDeploy ini file).
    """
    if uri.startswith("config:/"):
        from workhorse.wsgi.paste import load_paste_app  # only with --paste

        return load_paste_app(uri)
    module_name, name, args, kwargs = parse_app_uri(uri)
    module = _import(module_name)
    obj: Any = module
    for part in name.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppImportError(f"Failed to find attribute {name!r} in {module_name!r}.")
    if args is not None:
        obj = _call_factory(uri, obj, args, kwargs)
    if obj is None:
        raise AppImportError(f"Failed to find application object: {uri!r} is None.")
    if not callable(obj):
        raise AppImportError(f"Application object {uri!r} must be callable, got {type(obj)}.")
    return obj  # type: ignore[no-any-return]


def _import(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name == module_name or (exc.name and module_name.startswith(exc.name + ".")):
            raise AppImportError(
                f"No module named {module_name!r} (sys.path[0] is {sys.path[0]!r}; "
                "use --chdir or --pythonpath to point at the project)",
                details=traceback.format_exc(),
            )
        raise AppImportError(
            f"Importing {module_name!r} failed: {exc}", details=traceback.format_exc()
        )
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise AppImportError(
            f"Importing {module_name!r} raised {type(exc).__name__}: {exc}",
            details=traceback.format_exc(),
        )


def _call_factory(uri: str, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not callable(factory):
        raise AppImportError(f"{uri!r}: the factory is not callable.")
    try:
        return factory(*args, **kwargs)
    except TypeError as exc:
        raise AppImportError(
            f"Error calling the application factory {uri!r}: {exc}",
            details=traceback.format_exc(),
        )
    except Exception as exc:
        raise AppImportError(
            f"The application factory {uri!r} raised {type(exc).__name__}: {exc}",
            details=traceback.format_exc(),
        )
