"""Trust boundaries: who may speak for the client, who may command the master, who the app is.

- Proxy headers (``X-Forwarded-Proto`` and the other scheme headers, the
  ``SCRIPT_NAME`` forwarder header, ``X-Request-ID``, ``X-Request-Start``)
  change nothing unless the peer is in ``forwarded_allow_ips``: with
  ``--forwarded-allow-ips 10.0.0.1`` a client on 127.0.0.1 is ignored, with
  the default (127.0.0.1) it is honoured.
- A PROXY protocol header is honoured only from ``proxy_allow_ips``; from
  anyone else it is not a header but a bad request, and no address is spoofed.
- The control socket is created 0600 for the master's user, and another
  user (``nobody``) can neither connect through the file's mode nor, when the
  mode lets it connect, be heard (peer credentials). Root only.
- With ``user``/``group``, the workers drop privileges after the listeners
  are bound (a privileged port) and before the app is imported: the app,
  at import, is ``nobody`` and cannot write a root-owned file. Root only.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hardening_support import KINDS, exchange, parse_responses

from support import Server, free_port, wait_for

NOBODY = 65534
CLIENT_REQUEST_ID = "client-chosen-id-0123"
#: X-Request-Start 2.5 s in the past: a trusted proxy's queue time.
QUEUED_FOR = 2.5


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (to switch users)")


def _environ(port: int, path: str, headers: dict[str, str]) -> tuple[dict, dict]:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    result = exchange(port, f"GET {path} HTTP/1.1\r\nHost: t\r\n{head}Connection: close\r\n\r\n"
                      .encode(), half_close=False)
    (response,), _ = parse_responses(result.received, ["GET"])
    assert response.status == 200, result
    return json.loads(response.body), dict(response.headers)


# --- proxy headers --------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["gthread"])  # the policy itself: tests/unit/wsgi
@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
def test_proxy_headers_count_only_from_forwarded_allow_ips(app_server, kind, trusted):
    flags = [] if trusted else ["--forwarded-allow-ips", "10.0.0.1"]
    server, _ = app_server(kind, "-w", "1", *flags, "--access-logfile", "-",
                           "--access-logformat", "ACCESS %(U)s q=%(queue_ms)s rid=%(rid)s")
    start_ms = (time.time() - QUEUED_FOR) * 1000
    env, headers = _environ(server.port, "/mounted/environ", {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Ssl": "on",
        "SCRIPT_NAME": "/mounted",
        "X-Request-ID": CLIENT_REQUEST_ID,
        "X-Request-Start": f"t={start_ms:.0f}",
    })
    line = wait_for(lambda: next((x for x in server.log().splitlines()
                                  if x.startswith("ACCESS ") and "/environ" in x), None),
                    message="the access log line")
    queue_ms = line.split(" q=")[1].split()[0]
    assert env["REMOTE_ADDR"] == "127.0.0.1"  # never taken from a header
    if trusted:
        assert env["wsgi.url_scheme"] == "https"
        assert env["SCRIPT_NAME"] == "/mounted"
        assert env["workhorse.request_id"] == CLIENT_REQUEST_ID
        assert headers["X-Request-Id"] == CLIENT_REQUEST_ID
        assert QUEUED_FOR * 1000 - 1000 < float(queue_ms) < QUEUED_FOR * 1000 + 5000, line
    else:
        assert env["wsgi.url_scheme"] == "http"
        assert env["SCRIPT_NAME"] == ""
        assert env["PATH_INFO"] == "/mounted/environ"
        assert env["workhorse.request_id"] != CLIENT_REQUEST_ID
        assert headers["X-Request-Id"] == env["workhorse.request_id"]
        assert queue_ms == "-", line


@pytest.mark.parametrize("kind", ["sync"])  # the policy itself: tests/unit/wsgi
def test_contradictory_scheme_headers_from_a_trusted_proxy_are_refused(app_server, kind):
    server, records = app_server(kind, "-w", "1")
    mark = records.mark()
    result = exchange(server.port, b"GET /environ HTTP/1.1\r\nHost: t\r\n"
                      b"X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n\r\n",
                      half_close=False)
    assert result.received.startswith(b"HTTP/1.1 400"), result
    assert result.closed
    assert not records.since(mark)


# --- PROXY protocol ----------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
def test_proxy_protocol_counts_only_from_proxy_allow_ips(app_server, kind, trusted):
    allow = "127.0.0.1" if trusted else "10.0.0.1"
    server, records = app_server(kind, "-w", "1", "--proxy-protocol", "--proxy-allow-from",
                                 allow)
    mark = records.mark()
    spoof = (b"PROXY TCP4 203.0.113.7 192.0.2.1 4567 443\r\n"
             b"GET /environ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    result = exchange(server.port, spoof, half_close=False)
    responses, _ = parse_responses(result.received, ["GET"])
    if trusted:
        assert json.loads(responses[0].body)["REMOTE_ADDR"] == "203.0.113.7"
        return
    # Not a header from this peer: "PROXY ..." is a malformed request line.
    assert [r.status for r in responses] == [400], result
    assert result.closed
    assert not records.since(mark)
    env, _ = _environ(server.port, "/environ", {})  # and no header is expected from it
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["PROXY_PROTOCOL"] is None


# --- the control socket -----------------------------------------------------------------

def _python_for_nobody() -> str:
    """An interpreter user ``nobody`` can run (the venv's may live under /root)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", sys.executable):
        if not os.path.exists(candidate):
            continue
        try:
            done = subprocess.run([candidate, "-c", "pass"], user=NOBODY, group=NOBODY,
                                  extra_groups=[], capture_output=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return candidate
    pytest.skip("no Python interpreter that user nobody may run")


CONNECT_AS_NOBODY = textwrap.dedent("""\
    import json, os, socket, sys
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(10)
    try:
        sock.connect(sys.argv[1])
    except OSError as exc:
        print(json.dumps({"uid": os.getuid(), "connect": exc.strerror}))
        sys.exit(0)
    sock.sendall(b'{"command": "ping"}\\n')
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    print(json.dumps({"uid": os.getuid(), "connect": "ok", "answer": data.decode()}))
""")


def _as_nobody(path: Path) -> dict:
    done = subprocess.run([_python_for_nobody(), "-c", CONNECT_AS_NOBODY, str(path)],
                          user=NOBODY, group=NOBODY, extra_groups=[], capture_output=True,
                          text=True, timeout=30, check=True)
    return json.loads(done.stdout)


def _ping_as_self(path: Path) -> dict:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(b'{"command": "ping"}\n')
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return json.loads(data)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A short directory every user may traverse (sun_path is 108 bytes)."""
    directory = Path(tempfile.mkdtemp(prefix="wh-trust-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@needs_root
def test_control_socket_is_0600_and_other_users_cannot_connect(app_server, open_dir):
    path = open_dir / "ctl"
    app_server("sync", "-w", "1", "--control-socket", str(path))
    wait_for(path.exists, message="the control socket")
    info = os.stat(path)
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.geteuid()
    assert _ping_as_self(path)["ok"] is True
    seen = _as_nobody(path)
    assert seen["uid"] == NOBODY
    assert seen["connect"] == "Permission denied"


@needs_root
def test_control_socket_open_to_all_still_hears_only_its_user(app_server, open_dir):
    path = open_dir / "ctl"
    server, _ = app_server("sync", "-w", "1", "--control-socket", str(path),
                           "--control-socket-mode", "0666")
    wait_for(path.exists, message="the control socket")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666
    seen = _as_nobody(path)
    assert seen["connect"] == "ok"
    answer = json.loads(seen["answer"])
    assert answer["ok"] is False and "permission denied" in answer["error"]
    assert "pid" not in answer
    wait_for(lambda: f"running as uid {NOBODY}" in server.log(), message="the refusal logged")
    assert _ping_as_self(path)["ok"] is True


# --- dropping privileges -------------------------------------------------------------------

PRIVAPP = textwrap.dedent("""\
    import os

    def _can_write(path):
        try:
            with open(path, "a") as handle:
                handle.write("written by the app")
            return "yes"
        except OSError as exc:
            return exc.strerror

    # Evaluated at import: in the worker, after it dropped privileges (or not).
    AT_IMPORT = "uid=%d;gid=%d;groups=%s;root_file=%s;group_file=%s" % (
        os.getuid(), os.getgid(), ",".join(map(str, sorted(os.getgroups()))) or "-",
        _can_write(os.path.join(os.path.dirname(__file__), "root-owned-0644")),
        _can_write(os.path.join(os.path.dirname(__file__), "root-group-0660")))

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [AT_IMPORT.encode()]
""")

#: The master starts with these supplementary groups (as under ``sudo``).
MASTER_GROUPS = [0]
WITH_GROUPS = ("import os, sys; os.setgroups({groups}); "
               "os.execv(sys.executable, [sys.executable, '-m', 'workhorse', *sys.argv[1:]])")


def _privileged_port() -> int:
    for port in range(1023, 900, -1):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port below 1024")


@pytest.fixture
def project(open_dir: Path) -> Path:
    (open_dir / "privapp.py").write_text(PRIVAPP)
    for name, mode in (("root-owned-0644", 0o644), ("root-group-0660", 0o660)):
        (open_dir / name).write_text("")
        (open_dir / name).chmod(mode)
        os.chown(open_dir / name, 0, 0)
    return open_dir


def _start_dropping(project: Path, port: int, master_groups: list[int]) -> Server:
    command = [sys.executable, "-c", WITH_GROUPS.format(groups=master_groups),
               "-b", f"127.0.0.1:{port}", "-u", "nobody", "-g", "nogroup", "--no-control-socket",
               "privapp:app"]
    server = Server([], cwd=project, port=port, command=command,
                    log_path=project / "server.log")
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


def _at_import(server: Server) -> dict[str, str]:
    result = exchange(server.port, b"GET / HTTP/1.0\r\n\r\n", half_close=False)
    (response,), _ = parse_responses(result.received, ["GET"])
    return dict(item.split("=", 1) for item in response.body.decode().split(";"))


@needs_root
def test_workers_drop_privileges_after_binding_and_before_loading_the_app(project):
    port = _privileged_port()
    server = _start_dropping(project, port, [])
    try:
        seen = _at_import(server)
        with open(f"/proc/{server.pid}/status") as handle:
            master_uid = next(x for x in handle if x.startswith("Uid:")).split()[1]
    finally:
        server.stop()
    # Bound as root (port < 1024), the master stays root; the app was imported as nobody.
    assert port < 1024 and master_uid == "0"
    assert (seen["uid"], seen["gid"]) == (str(NOBODY), str(NOBODY))
    assert seen["root_file"] == "Permission denied"
    assert (project / "root-owned-0644").read_text() == ""


@needs_root
def test_workers_drop_the_masters_supplementary_groups(project):
    server = _start_dropping(project, free_port(), MASTER_GROUPS)
    try:
        seen = _at_import(server)
    finally:
        server.stop()
    assert seen["groups"] in ("-", str(NOBODY)), seen
    assert seen["group_file"] == "Permission denied", seen
    assert (project / "root-group-0660").read_text() == ""
