"""``workhorse status`` and ``workhorse ctl``: the page, discovery, errors, commands."""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from workhorse.observe.client import ControlError, listening_unix_paths, socket_of_pid
from workhorse.observe.control import ControlServer
from workhorse.observe.schema import Snapshot
from workhorse.observe.status import CLEAR_SCREEN, ctl_main, main, watch
from workhorse.observe.view import render, render_table, seconds, size

Serve = Callable[..., Any]
MakeSnapshot = Callable[[], Snapshot]

EXPECTED_PAGE = """\
workhorse 0.1.0  master 4242 (shop)  up 2h03m  gthread, 2 thread(s), timeout 30s, generation 2

Workers    3 ready, 1 booting, 0 stopping (target 4)
Slots      3 busy, 3 idle of 6 ready (50% busy)
Backlog    127.0.0.1:8000           3 waiting (limit 2048)
           unix:/run/shop/app.sock  0 waiting (limit 128)
Last 60s   12.4 req/s (744 requests)
           duration  p50 12ms     p90 80ms     p99 1.20s
           queue     p50 0.40ms   p90 2.0ms    p99 40ms
Restarts   crash 1, max_requests 14, timeout 2
Timeouts   2; answered by the master: 504 x 2, 503 x 0; event loops blocked: 1

Map        A_ RW __ SS
Legend     "." empty slot (no worker)                  "S" starting (worker booting)
           "_" idle, waiting for a request             "R" reading the request
           "A" in the application                      "W" writing the response
           "G" gracefully finishing (worker stopping)

SLOT PID     STATE    ELAPSED REQS   RSS     AGE    REQUEST
0    4250    app      12.3s   1042   81.2M   2h03m  GET /reports/annual?year=2026&format=pdf HTTP...
1    4250    idle     -       998    81.2M   2h03m
2    4251    reading  4.0ms   1530   76.0M   2h02m  POST /api/orders HTTP/1.1
3    4251    writing  210ms   1497   76.0M   2h02m  GET /static/app.js HTTP/1.1
4    4312    idle     -       12     59.0M   1m35s
5    4312    idle     -       9      59.0M   1m35s
6    4400    booting  -       0      29.0M   1.50s
7    4400    booting  -       0      29.0M   1.50s
"""


# --- the page ------------------------------------------------------------------------------
def test_the_page_of_the_fixture(snapshot: MakeSnapshot) -> None:
    assert render(snapshot(), 100) == EXPECTED_PAGE


def test_request_lines_are_cut_to_the_width(snapshot: MakeSnapshot) -> None:
    rows = render_table(snapshot(), 70)
    assert all(len(row) <= 70 for row in rows)
    assert rows[1].endswith("GET /reports/an...")


def test_boot_backoff_and_unknown_figures_show(snapshot: MakeSnapshot) -> None:
    snap = snapshot()
    snap["summary"].update(boot_failures_in_a_row=3, next_spawn_in=4.0, busy_ratio=None)
    snap["listeners"][0].update(queued=None, limit=None)
    snap["window"].update(duration_p50=None, duration_p90=None, duration_p99=None)
    page = render(snap, 100)
    assert "Boot       3 failure(s) in a row; next spawn in 4.00s" in page
    assert "127.0.0.1:8000           ? waiting (limit ?)" in page
    assert "duration  p50 -        p90 -        p99 -" in page
    assert "3 busy, 3 idle of 6 ready\n" in page


@pytest.mark.parametrize(("value", "text"), [
    (None, "-"), (0.0004, "0.40ms"), (0.004, "4.0ms"), (0.21, "210ms"), (1.5, "1.50s"),
    (12.34, "12.3s"), (185, "3m05s"), (7384, "2h03m"), (273600, "3d04h"),
])
def test_durations_for_people(value: float | None, text: str) -> None:
    assert seconds(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (None, "-"), (512, "512B"), (2048, "2.0K"), (85_196_800, "81.2M"), (3 << 30, "3.0G"),
])
def test_sizes_for_people(value: int | None, text: str) -> None:
    assert size(value) == text


# --- talking to a master -------------------------------------------------------------------
@pytest.fixture
def control(master: Any, serve: Serve, tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "workhorse.ctl")
    with serve(master, ControlServer(path)):
        yield path


def run(entry: Callable[..., int], argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = entry(argv, out, err)
    return code, out.getvalue(), err.getvalue()


def test_status_prints_the_page(control: str, master: Any) -> None:
    code, out, err = run(main, ["--socket", control])
    assert (code, err) == (0, "")
    assert out == render(master.current, 100)


def test_status_json(control: str, master: Any) -> None:
    code, out, _ = run(main, ["--socket", control, "--json"])
    assert code == 0 and json.loads(out) == json.loads(json.dumps(master.current))


def test_nothing_answering_at_the_default_path_says_what_to_try(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(main, [])
    assert (code, out) == (1, "")
    assert err == ("workhorse status: no workhorse master answers on ./workhorse.ctl: no such"
                   " socket file; is it running? try --pid or --socket\n")
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind("workhorse.ctl")
    code, _, err = run(main, [])
    assert code == 1 and "./workhorse.ctl: connection refused; is it running?" in err


def test_found_from_the_pid(control: str) -> None:
    assert control in listening_unix_paths(os.getpid())
    assert socket_of_pid(os.getpid()) == control
    code, out, _ = run(main, ["--pid", str(os.getpid())])
    assert code == 0 and out.startswith("workhorse 0.1.0  master 4242")


def test_found_from_the_pidfile(control: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "workhorse.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    code, _, err = run(main, ["--pidfile", str(pidfile)])
    assert (code, err) == (0, "")


@pytest.fixture
def decoy(tmp_path: Path) -> Iterator[str]:
    """A listening UNIX socket of this process that hangs up without answering."""
    path = str(tmp_path / "aaa-decoy.ctl")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(4)
    listener.settimeout(0.2)
    stop = threading.Event()

    def hang_up() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    yield path
    stop.set()
    thread.join(2)
    listener.close()


def test_discovery_skips_sockets_that_do_not_answer_like_a_master(control: str,
                                                                  decoy: str) -> None:
    paths = listening_unix_paths(os.getpid())
    assert decoy in paths and control in paths
    assert socket_of_pid(os.getpid()) == control


def test_discovery_resolves_a_relative_socket_path(master: Any, serve: Serve, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with serve(master, ControlServer("relative.ctl")):
        assert socket_of_pid(os.getpid()) == str(tmp_path / "relative.ctl")


@pytest.mark.parametrize(("argv", "message"), [
    (["--pid", "999999999"], "no process 999999999 (is the master running?"),
    (["--pidfile", "/nonexistent/w.pid"], "cannot read the pidfile /nonexistent/w.pid:"
                                           " no such file or directory"),
])
def test_discovery_errors(argv: list[str], message: str) -> None:
    code, _, err = run(main, argv)
    assert code == 1 and message in err


def test_a_pidfile_with_junk(tmp_path: Path) -> None:
    pidfile = tmp_path / "w.pid"
    pidfile.write_text("hello")
    code, _, err = run(main, ["--pidfile", str(pidfile)])
    assert code == 1 and "holds 'hello', not a process id" in err


def test_a_process_without_a_control_socket() -> None:
    with subprocess.Popen(["sleep", "30"]) as sleeper:
        try:
            with pytest.raises(ControlError, match=f"process {sleeper.pid} listens on no UNIX"
                               " socket; is it a workhorse master"):
                socket_of_pid(sleeper.pid)
        finally:
            sleeper.kill()


def test_watch_redraws_and_survives_a_failed_fetch(snapshot: MakeSnapshot) -> None:
    answers: list[Any] = [snapshot(), ControlError("no workhorse master answers on x")]

    def fetch() -> Snapshot:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        result: Snapshot = answer
        return result

    out = io.StringIO()
    args = argparse.Namespace(interval=0.1, json=False)
    assert watch(fetch, args, out, io.StringIO(), rounds=2) == 0
    frames = out.getvalue().split(CLEAR_SCREEN)[1:]
    assert len(frames) == 2
    assert frames[0].startswith("workhorse 0.1.0") and "Ctrl-C to quit" in frames[0]
    assert frames[1].startswith("no workhorse master answers on x")


def test_watch_json_prints_one_document_per_line(snapshot: MakeSnapshot) -> None:
    out = io.StringIO()
    args = argparse.Namespace(interval=0.1, json=True)
    watch(snapshot, args, out, io.StringIO(), rounds=2)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["map"] == "A_RW__SS"


# --- workhorse ctl -------------------------------------------------------------------------
@pytest.mark.parametrize(("argv", "said", "call"), [
    (["reload"], "reload started", "reload"),
    (["reopen"], "log files reopened", "reopen"),
    (["scale", "6"], "workers: 4 -> 6", ("scale", 6)),
    (["scale", "+1"], "workers: 4 -> 5", ("scale", 5)),
    (["scale", "-1"], "workers: 4 -> 3", ("scale", 3)),
    (["stop"], "stopping (graceful)", ("stop", True)),
    (["stop", "--quick"], "stopping (quick)", ("stop", False)),
])
def test_ctl_commands(control: str, master: Any, argv: list[str], said: str,
                      call: Any) -> None:
    code, out, err = run(ctl_main, ["--socket", control, *argv])
    assert (code, err) == (0, "")
    assert out.startswith(said)
    assert master.calls == [call]


def test_ctl_ping(control: str) -> None:
    code, out, _ = run(ctl_main, ["--socket", control, "ping"])
    assert code == 0 and out == f"master {os.getpid()} answers (workhorse 0.1.0)\n"


def test_ctl_shows_the_masters_refusal(control: str, master: Any) -> None:
    code, out, err = run(ctl_main, ["--socket", control, "scale", "-9"])
    assert (code, out) == (1, "")
    assert "at least 1 worker is needed" in err and master.calls == []


def test_ctl_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        ctl_main(["scale", "many"])
    assert stopped.value.code == 2
    assert "'many' is not N, +N or -N" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ctl_main(["dance"])
