"""Shared fixtures: a factory of real workhorse servers stopped after each test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import Server

#: Folders whose tests start real servers (processes, sockets, signals).
LIVE_FOLDERS = ("integration", "interop", "hardening", "compat", "fleet")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test outside tests/unit ``live``: ``-m "not live"`` runs in seconds."""
    tests = Path(__file__).resolve().parent
    for item in items:
        where = Path(str(item.fspath)).resolve().relative_to(tests).parts
        if where and where[0] in LIVE_FOLDERS:
            item.add_marker(pytest.mark.live)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    """``start(args, **kw)`` starts a server and returns it; all are stopped at teardown."""
    started: list[Server] = []

    def start(args: list[str], *, wait: bool = True, bind: bool = True, **kwargs: Any) -> Server:
        kwargs.setdefault("log_path", tmp_path / f"server{len(started)}.log")
        server = Server(args, **kwargs)
        started.append(server)
        server.start(wait=wait, bind=bind)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def stuck_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/stuck/stuck.c compiled into a shared library (a C compiler is required)."""
    import shutil
    import subprocess

    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.fail("a C compiler (gcc) is needed to build the stuck-code models")
    source = Path(__file__).resolve().parent / "stuck" / "stuck.c"
    target = tmp_path_factory.mktemp("stuck") / "libstuck.so"
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-o", str(target), str(source)],
                   check=True)
    return target


@pytest.fixture
def stuck_env(stuck_lib: Path, tmp_path: Path) -> dict[str, str]:
    marks = tmp_path / "marks"
    marks.mkdir()
    return {"STUCK_LIB": str(stuck_lib), "STUCK_MARK_DIR": str(marks)}
