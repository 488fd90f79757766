"""Shared fixtures: a factory of real workhorse servers stopped after each test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import Server


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    """``start(args, **kw)`` starts a server and returns it; all are stopped at teardown."""
    started: list[Server] = []

    def start(args: list[str], *, wait: bool = True, **kwargs: Any) -> Server:
        kwargs.setdefault("log_path", tmp_path / f"server{len(started)}.log")
        server = Server(args, **kwargs)
        started.append(server)
        server.start(wait=wait)
        return server

    yield start
    for server in started:
        server.stop()
