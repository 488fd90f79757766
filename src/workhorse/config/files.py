"""Config files: finding one, executing it, and reporting its errors by line.

Strategy: a config file is Python, read the way Gunicorn reads it: executed as
a module named ``__config__`` (registered in ``sys.modules``, ``__file__``
set) whose top-level names are the candidate settings. ``-c python:MODULE``
imports a module instead. While either runs, the working directory at start
is importable, as it is in Gunicorn (which puts it on ``sys.path`` before
reading the file); the config file's own directory is not added. Any
exception becomes a :class:`ConfigError` naming the file and the line of
the config file that raised it. No bytecode is written next to the file.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import traceback
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from workhorse.config.errors import ConfigError

#: Looked for in the working directory at start when no -c is given, in order.
DEFAULT_FILES = ("workhorse.conf.py", "gunicorn.conf.py")
MODULE_NAME = "__config__"
TYPO_CUTOFF = 0.85


@dataclass
class ConfigSource:
    """What a config file or module defined, and how to name it."""

    #: ``file:/abs/path`` or ``python:module``, as LoadedConfig.sources shows it.
    label: str
    #: The value the ``config`` setting takes: the location that was read.
    location: str
    namespace: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def where(self, name: str) -> str:
        """``", line N"``: the last top-level assignment of ``name``, or "" if unknown."""
        path = self.namespace.get("__file__")
        line = assignment_line(path, name) if isinstance(path, str) else None
        return "" if line is None else f", line {line}"


def assignment_line(path: str, name: str) -> int | None:
    """The line of the last assignment to the module-level ``name`` in the file ``path``.

    Assignments inside ``if``/``try``/``with``/``for`` blocks count (a config
    file often sets a setting in both branches of an ``if``); functions and
    classes are not entered. None when the file cannot be read or parsed.
    """
    import ast  # only for an error message: keep it out of the happy path

    try:
        with open(path, "rb") as handle:
            tree = ast.parse(handle.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None
    lines = [
        node.lineno
        for node in _module_level(tree.body)
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign))
        and name in _assigned_names(node)
    ]
    return lines[-1] if lines else None


def _module_level(body: list[Any]) -> Iterator[Any]:
    import ast

    for node in body:
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for block in ("body", "orelse", "finalbody", "handlers"):
            yield from _module_level(getattr(node, block, []))


def _assigned_names(node: Any) -> set[str]:
    import ast

    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return {
        leaf.id for target in targets for leaf in ast.walk(target) if isinstance(leaf, ast.Name)
    }


def discover(cwd: str) -> tuple[str | None, list[str]]:
    """The default config file in ``cwd``, and a warning if both names exist."""
    found = [os.path.join(cwd, name) for name in DEFAULT_FILES]
    existing = [path for path in found if os.path.isfile(path)]
    if not existing:
        return None, []
    warnings = []
    if len(existing) > 1:
        warnings.append(f"both {existing[0]} and {existing[1]} exist; reading only {existing[0]}")
    return existing[0], warnings


def read(location: str, cwd: str) -> ConfigSource:
    """Read ``PATH``, ``file:PATH`` or ``python:MODULE`` (paths relative to ``cwd``)."""
    if location.startswith("python:"):
        return _read_module(location[len("python:") :], cwd)
    path = location[len("file:") :] if location.startswith("file:") else location
    return _read_file(os.path.join(cwd, path), cwd)


@contextlib.contextmanager
def _importable(directory: str) -> Iterator[None]:
    """Let ``directory``'s modules be imported for the duration of the block."""
    added = directory not in sys.path
    if added:
        sys.path.insert(0, directory)
    try:
        yield
    finally:
        if added and directory in sys.path:
            sys.path.remove(directory)


def _read_file(path: str, cwd: str) -> ConfigSource:
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path!r} does not exist")
    source = ConfigSource(f"file:{path}", path, _execute(path, cwd))
    if not path.endswith(".py"):
        source.warnings.append(f"config file {path} should have a .py extension")
    return source


def _execute(path: str, cwd: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            code = compile(handle.read(), path, "exec")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except (SyntaxError, ValueError) as exc:
        raise ConfigError(_describe(exc, f"config file {path}", path)) from None
    module = types.ModuleType(MODULE_NAME)
    module.__file__ = path
    sys.modules[MODULE_NAME] = module
    try:
        with _importable(cwd):
            exec(code, module.__dict__)
    except Exception as exc:
        raise ConfigError(_describe(exc, f"config file {path}", path)) from None
    return dict(vars(module))


def _read_module(name: str, cwd: str) -> ConfigSource:
    what = f"config module {name!r}"
    with _importable(cwd):
        try:
            spec = importlib.util.find_spec(name)
        except Exception as exc:
            raise ConfigError(_describe(exc, what, None)) from None
        if spec is None:
            raise ConfigError(f"{what} not found (looked on sys.path and in {cwd})")
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            raise ConfigError(_describe(exc, what, spec.origin)) from None
    return ConfigSource(f"python:{name}", f"python:{name}", dict(vars(module)))


def _error_line(exc: BaseException, filename: str | None) -> int | None:
    """The line of ``filename`` that raised ``exc`` (the deepest one), if any."""
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        return exc.lineno
    frames = traceback.extract_tb(exc.__traceback__)
    lines = [frame.lineno for frame in frames if frame.filename == filename]
    return lines[-1] if lines else None


def _describe(exc: BaseException, what: str, filename: str | None) -> str:
    line = _error_line(exc, filename)
    where = f"{what}, line {line}" if line is not None else what
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return f"error in {where}: {type(exc).__name__}: {message}"


def typo_warnings(namespace: dict[str, Any], spellings: Mapping[str, str], label: str) -> list[str]:
    """Warnings for names that look like a misspelt setting (``worker = 4``).

    ``spellings`` maps each way of writing a setting (its name, and its long
    flag with underscores, e.g. ``preload``) to the setting's name.
    """
    warnings = []
    for name, value in namespace.items():
        if not _could_be_setting(name, value, spellings):
            continue
        import difflib  # only when a config file has names that are not settings

        close = difflib.get_close_matches(name, spellings, n=1, cutoff=TYPO_CUTOFF)
        if close:
            setting = spellings[close[0]]
            warnings.append(
                f"{label}: {name!r} is not a setting and is ignored; did you mean {setting!r}?"
            )
    return warnings


def _could_be_setting(name: str, value: Any, spellings: Mapping[str, str]) -> bool:
    if spellings.get(name) == name or name.startswith("_") or name != name.lower():
        return False
    return not callable(value) and not isinstance(value, types.ModuleType)
