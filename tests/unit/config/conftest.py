"""Shared helpers: load a configuration in a temporary working directory."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from workhorse.config import LoadedConfig, load_config

Load = Callable[..., LoadedConfig]


@pytest.fixture
def load(tmp_path: Path) -> Load:
    """``load(argv, environ)`` with ``tmp_path`` as the working directory at start."""

    def run(argv: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> LoadedConfig:
        return load_config(argv, environ or {}, cwd=str(tmp_path))

    return run


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """``write(name, text)`` creates a file in ``tmp_path`` and returns its path."""

    def run(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return run


@pytest.fixture
def clean_modules() -> Iterator[None]:
    """Forget modules a test imported from its temporary directory."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]
