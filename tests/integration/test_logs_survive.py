"""The access and error logs keep every line whatever the app does to logging.

An app's own logging setup (Django's, Flask's documented one, structlog's)
runs ``logging.config``, which closes every handler it finds and, unless
told otherwise, disables every logger it does not name; an app may also
close handlers itself; and operators rotate files with USR1. Each case is
run on a real server; every request's access line must be in the file, and
no "--- Logging error ---" may appear.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import requests

from support import wait_for

MODES = ["django", "flask", "structlog", "close"]
KINDS = {"sync": ["-k", "sync"], "gthread": ["-k", "gthread", "--threads", "2"]}


def lines(path: Path, marker: str) -> int:
    return path.read_text().count(marker) if path.exists() else 0


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("mode", MODES)
def test_every_access_line_survives_the_apps_logging_setup(server_factory, tmp_path: Path,
                                                           mode: str, kind: str):
    access, errors = tmp_path / "access.log", tmp_path / "error.log"
    server = server_factory([*KINDS[kind], "-w", "1", "--access-logfile", str(access),
                             "--error-logfile", str(errors), "logging_app:app"],
                            env={"LOGGING_APP_MODE": mode})
    for index in range(20):
        assert requests.get(server.url + f"/r{index}", timeout=5).status_code == 200
    wait_for(lambda: all(lines(access, f"GET /r{i} HTTP/1.1") == 1 for i in range(20)), 10,
             message="every access line in the file")
    server.signal(signal.SIGHUP)  # the error log keeps working too
    wait_for(lambda: "Reloading" in errors.read_text(), message="the error log still written")
    assert "Logging error" not in server.log() + errors.read_text()
    if mode == "flask":
        assert "disabled gunicorn.error and gunicorn.access; enabled again" in errors.read_text()


def test_every_access_line_survives_a_reopen(server_factory, tmp_path: Path):
    access = tmp_path / "access.log"
    server = server_factory(["-k", "gthread", "-w", "2", "--access-logfile", str(access),
                             "logging_app:app"], env={"LOGGING_APP_MODE": "django"})
    for index in range(10):
        requests.get(server.url + f"/before{index}", timeout=5)
    wait_for(lambda: lines(access, "GET /before9 ") == 1, message="the first lines")
    access.rename(tmp_path / "access.log.1")
    server.signal(signal.SIGUSR1)
    wait_for(access.exists, message="the reopened file")
    for index in range(10):
        requests.get(server.url + f"/after{index}", timeout=5)
    wait_for(lambda: all(lines(access, f"GET /after{i} ") == 1 for i in range(10)), 10,
             message="the new lines in the new file")
    assert lines(tmp_path / "access.log.1", "GET /before") == 10
