"""Fixtures of the hardening tests (servers of the recording app, nginx).

``tests/`` is on ``sys.path`` (tests/conftest.py); this folder and the HTTP
corpus loader (tests/unit/http/http_corpus.py) are added here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent / "unit" / "http"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from hardening_support import Records, ServerPool, start_server  # noqa: E402

from nginx_support import nginx_factory  # noqa: E402

__all__ = ["nginx_factory"]  # the fixture, for the tests of this folder


@pytest.fixture(scope="module")
def server_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    """Servers shared by a module's tests, one per (kind, flags), all stopped at its end."""
    pool = ServerPool(tmp_path_factory.mktemp("pool"))
    yield pool
    pool.stop_all()


@pytest.fixture
def app_server(tmp_path: Path) -> Iterator[Any]:
    """``start(kind, *flags)`` starts a server of the recording app for one test.

    Returns ``(server, records)``; every server started is stopped (with its
    workers, by pid) at teardown.
    """
    started: list[Any] = []

    def start(kind: str, *flags: str, **kwargs: Any) -> tuple[Any, Records]:
        server, records = start_server(tmp_path, kind, *flags, name=f"server{len(started)}",
                                       **kwargs)
        started.append(server)
        return server, records

    yield start
    for server in started:
        server.stop()
