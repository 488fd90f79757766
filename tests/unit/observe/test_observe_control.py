"""The control socket with real UNIX sockets, real peers and a running loop."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from workhorse.observe.client import ControlError, request
from workhorse.observe.control import MAX_REQUEST, ControlServer
from workhorse.observe.oneshot import RETRY_OPEN_SECONDS

Serve = Callable[..., Any]
Until = Callable[..., Any]
NOBODY = 65534


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "workhorse.ctl")


def raw_exchange(path: str, data: bytes, timeout: float = 3.0) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(data)
        received = b""
        while not received.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    answer: dict[str, Any] = json.loads(received)
    return answer


def test_status_returns_the_snapshot(master: Any, serve: Serve, path: str) -> None:
    with serve(master, ControlServer(path)):
        answer = request(path, {"command": "status"})
    assert answer == {"ok": True, "status": json.loads(json.dumps(master.current))}


def test_ping_names_the_master(master: Any, serve: Serve, path: str) -> None:
    with serve(master, ControlServer(path)):
        answer = request(path, {"command": "ping"})
    assert answer["ok"] is True and answer["pid"] == os.getpid() and answer["version"]


@pytest.mark.parametrize(("payload", "call", "reply"), [
    ({"command": "reload"}, "reload", {"ok": True}),
    ({"command": "reopen"}, "reopen", {"ok": True}),
    ({"command": "stop"}, ("stop", True), {"ok": True, "stopping": "graceful"}),
    ({"command": "stop", "graceful": False}, ("stop", False), {"ok": True, "stopping": "quick"}),
    ({"command": "scale", "workers": 6}, ("scale", 6), {"ok": True, "workers": 6, "previous": 4}),
    ({"command": "scale", "delta": 1}, ("scale", 5), {"ok": True, "workers": 5, "previous": 4}),
    ({"command": "scale", "delta": -1}, ("scale", 3), {"ok": True, "workers": 3, "previous": 4}),
])
def test_commands_reach_the_master(master: Any, serve: Serve, path: str,
                                   payload: dict[str, Any], call: Any,
                                   reply: dict[str, Any]) -> None:
    with serve(master, ControlServer(path)):
        answer = request(path, payload)
    assert answer == reply
    assert master.calls == [call]


@pytest.mark.parametrize(("data", "error"), [
    (b'{"command": "dance"}\n', "unknown command 'dance'; accepted commands: ping, reload,"
                                " reopen, scale, status, stop"),
    (b"{}\n", "unknown command None"),
    (b"status\n", "not valid JSON"),
    (b"[1, 2]\n", "must be a JSON object"),
    (b'{"command": "scale"}\n', 'give either "workers": N or "delta"'),
    (b'{"command": "scale", "workers": "ten"}\n', "'ten' is not a whole number"),
    (b'{"command": "scale", "workers": true}\n', "True is not a whole number"),
    (b'{"command": "scale", "delta": -4}\n', "at least 1 worker is needed"),
    (b'{"command": "stop", "graceful": "yes"}\n', "graceful must be true or false"),
])
def test_bad_requests_get_an_error_that_says_why(master: Any, serve: Serve, path: str,
                                                 data: bytes, error: str) -> None:
    with serve(master, ControlServer(path)):
        answer = raw_exchange(path, data)
    assert answer["ok"] is False and error in answer["error"], answer
    assert master.calls == []


def test_a_request_split_over_writes_or_ended_by_eof_is_heard(
        master: Any, serve: Serve, path: str) -> None:
    with serve(master, ControlServer(path)):
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(3)
            sock.connect(path)
            sock.sendall(b'{"comm')
            time.sleep(0.05)
            sock.sendall(b'and": "ping"}\n')
            assert json.loads(sock.makefile("rb").readline())["ok"] is True
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(3)
            sock.connect(path)
            sock.sendall(b'{"command": "ping"}')
            sock.shutdown(socket.SHUT_WR)
            assert json.loads(sock.makefile("rb").readline())["ok"] is True


def test_a_request_over_the_limit_is_refused(master: Any, serve: Serve, path: str) -> None:
    with serve(master, ControlServer(path)), socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(3)
        sock.connect(path)
        try:
            sock.sendall(b"x" * (MAX_REQUEST + 10))
        except BrokenPipeError:
            pass  # the server answered and closed before we finished
        answer = json.loads(sock.makefile("rb").readline())
    assert answer["ok"] is False and "too large" in answer["error"]


def test_a_silent_client_is_dropped_and_never_holds_up_others(
        master: Any, serve: Serve, path: str, until: Until) -> None:
    server = ControlServer(path, client_timeout=0.3)
    with serve(master, server), socket.socket(socket.AF_UNIX) as silent:
        silent.connect(path)
        silent.sendall(b'{"command": "sta')  # and then nothing
        started = time.monotonic()
        assert request(path, {"command": "ping"})["ok"] is True
        assert time.monotonic() - started < 0.25
        silent.settimeout(3)
        assert silent.recv(100) == b""  # closed by the master after its deadline
        assert until(lambda: server.connections == 0)


def test_connections_beyond_the_cap_are_told_busy(master: Any, serve: Serve, path: str,
                                                  until: Until) -> None:
    server = ControlServer(path, max_connections=2)
    with serve(master, server), socket.socket(socket.AF_UNIX) as a, \
            socket.socket(socket.AF_UNIX) as b:
        a.connect(path)
        b.connect(path)
        until(lambda: server.connections == 2)
        answer = request(path, {"command": "ping"})
    assert answer["ok"] is False and "busy" in answer["error"]


def test_socket_mode_and_removal_at_stop(master: Any, serve: Serve, path: str) -> None:
    server = ControlServer(path, mode=0o600)
    with serve(master, server):
        info = os.stat(path)
        assert stat.S_ISSOCK(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert server.listener is not None and server.listener.fileno() in server.fds()
    assert not os.path.exists(path)


def test_a_stale_socket_file_is_replaced(master: Any, serve: Serve, path: str) -> None:
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(path)  # bound, never listening, then closed: what a killed master leaves
    with serve(master, ControlServer(path)):
        assert request(path, {"command": "ping"})["ok"] is True


def _answered_by(listener: socket.socket, path: str) -> bool:
    """Does a connection to ``path`` land in ``listener``'s queue?"""
    with socket.socket(socket.AF_UNIX) as probe:
        probe.connect(path)
        listener.settimeout(1)
        conn, _ = listener.accept()
        conn.close()
        return True


def test_a_live_socket_is_not_taken_over_until_it_goes(master: Any, path: str) -> None:
    other = socket.socket(socket.AF_UNIX)
    other.bind(path)
    other.listen(1)
    server = ControlServer(path)
    server.start(master)
    try:
        assert server.listener is None
        errors = master.log.text("error")
        assert f"{path} is in use by pid {os.getpid()}; not replacing a live socket" in errors
        assert _answered_by(other, path)
        server.tick(master, time.monotonic() + RETRY_OPEN_SECONDS + 1)
        assert master.log.text("error") == errors  # reported once, not at every retry
        other.close()
        server.tick(master, time.monotonic() + 2 * RETRY_OPEN_SECONDS + 2)
        assert server.listener is not None
        assert _answered_by(server.listener, path)
    finally:
        server.stop(master)
        other.close()


def test_stop_leaves_a_socket_file_that_is_no_longer_ours(master: Any, path: str) -> None:
    server = ControlServer(path)
    server.start(master)
    os.unlink(path)
    with socket.socket(socket.AF_UNIX) as successor:
        successor.bind(path)  # e.g. a new master took the path over
        server.stop(master)
        assert os.path.exists(path)


def test_a_file_that_is_not_a_socket_is_left_alone(master: Any, path: str) -> None:
    Path(path).write_text("precious")
    server = ControlServer(path)
    server.start(master)
    assert server.listener is None
    assert f"{path} exists and is not a socket; not replacing it" in master.log.text("error")
    server.stop(master)
    assert Path(path).read_text() == "precious"


def test_a_path_too_long_is_reported(master: Any, tmp_path: Path) -> None:
    server = ControlServer(str(tmp_path / ("x" * 120)))
    server.start(master)
    assert server.listener is None
    assert "too long for a UNIX socket" in master.log.text("error")


def test_nothing_listening_is_a_clear_client_error(path: str) -> None:
    with pytest.raises(ControlError, match=r"no workhorse master answers on .*: no such socket"
                       r" file; is it running"):
        request(path, {"command": "ping"})
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(path)
    with pytest.raises(ControlError, match="connection refused"):
        request(path, {"command": "ping"})


@pytest.fixture
def open_dir() -> Iterator[str]:
    """A directory another user can reach (pytest's tmp_path is private to root)."""
    directory = tempfile.mkdtemp(prefix="workhorse-ctl-")
    os.chmod(directory, 0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def _ask_as(uid: int, path: str) -> tuple[int, bytes]:
    """Send "stop" from a child process running as ``uid``; its pid and the answer."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become another user, ask, report through the pipe
        status = 1
        try:
            os.close(reader)
            os.setgid(uid)
            os.setuid(uid)
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(3)
                sock.connect(path)
                sock.sendall(b'{"command": "stop"}\n')
                os.write(writer, sock.makefile("rb").readline())
            status = 0
        finally:
            os._exit(status)
    os.close(writer)
    with os.fdopen(reader, "rb") as answer:
        data = answer.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return pid, data


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user")
def test_other_users_are_refused_by_peer_credentials(master: Any, serve: Serve,
                                                     open_dir: str) -> None:
    path = os.path.join(open_dir, "workhorse.ctl")
    with serve(master, ControlServer(path, mode=0o666)):
        pid, data = _ask_as(NOBODY, path)
    assert json.loads(data) == {
        "ok": False, "error": f"permission denied: uid {NOBODY} may not use this control socket"}
    assert master.calls == []
    assert f"refused pid {pid} running as uid {NOBODY}" in master.log.text("warning")
