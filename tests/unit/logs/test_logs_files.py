"""Log files under stress: reopening (USR1), vanished files, full disks, capture."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workhorse.logs import AccessRecord, Logger

Settings = Callable[..., Any]
Make = Callable[..., AccessRecord]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_reopen_after_rename_moves_to_a_new_file(
    settings: Settings, record: Make, tmp_path: Path
) -> None:
    err, acc = tmp_path / "error.log", tmp_path / "access.log"
    log = Logger(settings(errorlog=str(err), accesslog=str(acc), access_log_format="%(rid)s"))
    for i in range(3):
        log.access(record(request_id=f"r{i}"))
    log.info("before")
    os.rename(acc, tmp_path / "access.log.1")
    os.rename(err, tmp_path / "error.log.1")
    log.access(record(request_id="r3"))  # still the old (renamed) file
    log.reopen_files()
    assert acc.exists() and err.exists()  # created anew
    log.access(record(request_id="r4"))
    log.info("after")
    log.close()
    assert lines(tmp_path / "access.log.1") == ["r0", "r1", "r2", "r3"]
    assert lines(acc) == ["r4"]
    assert lines(tmp_path / "error.log.1")[0].endswith("before")
    assert [line.rsplit(" ", 1)[1] for line in lines(err)] == ["after"]


def test_no_line_is_lost_while_another_thread_writes(
    settings: Settings, record: Make, tmp_path: Path
) -> None:
    acc = tmp_path / "access.log"
    log = Logger(settings(accesslog=str(acc), access_log_format="%(rid)s"))
    stop, progress = threading.Event(), threading.Event()
    written: list[int] = []

    def writer() -> None:
        i = 0
        while not stop.is_set():
            log.access(record(request_id=str(i)))
            i += 1
            if i % 200 == 0:
                progress.set()
        written.append(i)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for generation in range(1, 4):
            progress.clear()
            assert progress.wait(10)
            os.rename(acc, tmp_path / f"access.log.{generation}")
            log.reopen_files()
        progress.clear()
        assert progress.wait(10)
    finally:
        stop.set()
        thread.join()
    log.close()
    files = [acc] + [tmp_path / f"access.log.{g}" for g in range(1, 4)]
    seen = [int(line) for path in files for line in lines(path)]
    assert sorted(seen) == list(range(written[0]))
    assert all(lines(path) for path in files)


def test_reopen_covers_file_handlers_from_logconfig_dict(
    settings: Settings, tmp_path: Path
) -> None:
    target = tmp_path / "app.log"
    config = {
        "root": {"handlers": []},
        "handlers": {"f": {"class": "logging.FileHandler", "filename": str(target)}},
        "loggers": {"gunicorn.error": {"handlers": ["f"], "propagate": False}},
    }
    log = Logger(settings(logconfig_dict=config))
    log.info("one")
    os.rename(target, tmp_path / "app.log.1")
    log.reopen_files()
    log.info("two")
    log.close()
    assert lines(tmp_path / "app.log.1") == ["one"]
    assert lines(target) == ["two"]


def test_a_failed_reopen_keeps_the_old_file_and_says_so(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    log = Logger(settings(errorlog=str(folder / "error.log")))
    log.info("one")
    os.rename(folder, tmp_path / "moved")  # the path's directory is gone
    log.reopen_files()  # does not raise
    log.info("two")
    log.close()
    text = lines(tmp_path / "moved" / "error.log")
    assert text[0].endswith("] one")
    assert "cannot reopen the log file" in text[1]
    assert "No such file or directory" in text[1]
    assert text[2].endswith("two")
    assert not folder.exists()


def test_a_deleted_log_file_does_not_raise_and_reopen_recreates_it(
    settings: Settings, record: Make, tmp_path: Path
) -> None:
    err, acc = tmp_path / "error.log", tmp_path / "access.log"
    log = Logger(settings(errorlog=str(err), accesslog=str(acc), access_log_format="%(s)s"))
    err.unlink()
    acc.unlink()
    log.info("into the void")
    log.access(record())
    log.reopen_files()
    log.info("back")
    log.access(record(status=204))
    log.close()
    assert lines(err)[0].endswith("back")
    assert lines(acc) == ["204"]


def test_a_full_disk_is_reported_once_per_open_and_never_raises(
    settings: Settings, record: Make, capfd: pytest.CaptureFixture[str]
) -> None:
    log = Logger(settings(errorlog="/dev/full", accesslog="/dev/full"))
    for i in range(200):
        log.info("line %d", i)
        log.access(record())
    err = capfd.readouterr().err
    assert err.count("cannot write to the log '/dev/full'") == 2  # one per log
    assert "No space left on device" in err
    log.reopen_files()
    log.info("again")
    log.close()
    assert capfd.readouterr().err.count("cannot write to the log") == 1


def test_a_closed_stdout_does_not_raise(
    settings: Settings,
    record: Make,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    stdout = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stdout)
    log = Logger(settings(accesslog="-", access_log_format="%(s)s"))
    log.access(record())
    stdout.close()
    log.access(record())
    log.access(record())
    log.close()
    assert capfd.readouterr().err.count("cannot write to the log") == 1


def test_a_broken_format_conversion_never_raises(
    settings: Settings, record: Make, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # "s" is a string, as in Gunicorn: %d fails when the line is formatted.
    log = Logger(settings(accesslog=str(tmp_path / "a.log"), access_log_format="%(s)d"))
    log.access(record())
    log.close()
    assert "Logging error" in capfd.readouterr().err


CAPTURE_SCRIPT = """
import os, sys
from workhorse.logs import Logger

import dataclasses
from workhorse.config.settings import Config

cfg = dataclasses.replace(Config(), accesslog=None, access_log_format="",
                          errorlog=sys.argv[1], capture_output=True)

print("buffered before setup")
log = Logger(cfg)
print("from print", flush=True)
sys.stderr.write("from stderr\\n")
sys.stderr.flush()
os.write(1, b"raw fd 1\\n")
os.system("echo from a child process")
log.info("logged")
os.rename(cfg.errorlog, cfg.errorlog + ".1")
log.reopen_files()
print("after reopen", flush=True)
log.info("logged after")
"""


def test_capture_output_sends_print_into_the_error_log(tmp_path: Path) -> None:
    path = tmp_path / "error.log"
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CAPTURE_SCRIPT), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "buffered before setup\n"  # flushed before the switch
    assert done.stderr == ""
    first = lines(tmp_path / "error.log.1")
    assert first[:4] == ["from print", "from stderr", "raw fd 1", "from a child process"]
    assert first[4].endswith("[INFO] logged")
    second = lines(path)
    assert second[0] == "after reopen"
    assert second[1].endswith("[INFO] logged after")
