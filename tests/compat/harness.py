"""Run one published Gunicorn configuration under workhorse and under Gunicorn 27.

Strategy: a corpus case (``tests/compat/corpus/NN-name/``) is data: the
command line as published (``command``, starting with ``gunicorn`` or
``python -m gunicorn``), the config files it names, ``case.json`` (the
environment the deployment sets, the worker family, where to send the probe)
and ``source.md``. Only what cannot exist here is substituted, and
``source.md`` says what: the application module (by one of the stand-in
apps in ``tests/compat/apps``), ports and paths (``@PORT@``: a free port,
``@PORT2@``: a second one, for a port the configuration itself opens,
``@DIR@``: the run directory), and the worker count (1, to keep the run
short). What a deployment's supervisor provides is provided the same way:
sockets systemd would pass (``LISTEN_FDS``, ``LISTEN_PID``, fds from 3 on)
and its notification socket (``NOTIFY_SOCKET``; what the master sends there
is one more output, ``notify``).

Each server runs in its own copy of the case directory, as its working
directory, with the word ``gunicorn`` of the command line replaced by the
server's name -- the promise under test. The harness then records what an
operator would see (:class:`Observation`): does it start, does it answer a
request, where does the access log line of that request go, where do the
error log's routine lines (and any error line) go, what the process titles
of the master and its children are (as ``ps`` and psutil read them), does
TERM stop it with exit code 0, and which UNIX socket files are left once it
has stopped (those it bound itself go; those systemd passes stay); where a
case asks, also what a second request, to a port the configuration opens
itself, answers. Both servers of a case run at the same time; every wait
polls with a deadline;
every process is stopped by its process group, which it never leaves --
except a daemon's, which makes its own: that one is found through its
pidfile and stopped by its own process group. A daemon's exit code cannot be
read (it is not our child): its ``term_exit`` is 0 when it exited before the
deadline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

COMPAT_DIR = Path(__file__).resolve().parent
CORPUS_DIR = COMPAT_DIR / "corpus"
#: Cases ready for the corpus but held back by a workhorse bug (``blocked_by``).
PENDING_DIR = COMPAT_DIR / "pending"
APPS_DIR = COMPAT_DIR / "apps"
REPO = COMPAT_DIR.parent.parent

#: The control and the server under test, as ``python -m NAME`` runs them.
CONTROL = "gunicorn"
SUBJECT = "workhorse"
#: Files of a case directory that are not copied into the run directory.
CASE_FILES = frozenset({"command", "case.json", "source.md"})

#: Seconds a server gets to answer its first connection (Django or an ASGI
#: stack imported on a busy two-core machine), to answer the probe, and to
#: exit after TERM (an idle server stops at once; graceful_timeout is only
#: an upper bound).
START_TIMEOUT = 20.0
REQUEST_TIMEOUT = 10.0
STOP_TIMEOUT = 20.0
POLL_INTERVAL = 0.05

#: A line of Gunicorn's (and workhorse's) error log format.
ERROR_LOG_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[[A-Z]+\] ")
#: Routine error-log lines both servers write at info, by what they mean, and
#: what says something failed: a line at level ERROR (a worker that failed, a
#: hook that raised) and a traceback, whatever the log format.
MILESTONES = {
    "listening": "Listening at: ",
    "booting": "Booting worker with pid: ",
    "term": "Handling signal: term",
    "error": "] [ERROR] ",
    "traceback": "Traceback (most recent call last):",
}
#: Variables of the test runner's environment a deployment must not inherit.
SCRUBBED_ENV = (
    "WEB_CONCURRENCY", "PORT", "GUNICORN_CMD_ARGS", "WORKHORSE_CMD_ARGS",
    "FORWARDED_ALLOW_IPS", "SENDFILE", "DJANGO_SETTINGS_MODULE",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Case:
    """One published configuration, as stored under tests/compat/corpus."""

    name: str
    directory: Path
    #: The command line as published (shell words), ``gunicorn`` first.
    command: list[str]
    env: dict[str, str]
    #: sync, gthread, uvicorn, asgi, gevent, eventlet, meinheld ...
    worker: str
    #: ``HOST:PORT`` or ``unix:PATH`` (placeholders allowed) to send the probe to.
    probe: str
    project: str
    source: str
    #: Lines the configuration itself writes (its hooks' log calls), looked for
    #: in every output besides the routine ones.
    log_lines: tuple[str, ...] = ()
    #: For a configuration that daemonizes: the pidfile it writes (placeholders
    #: allowed). The launcher exits 0 at once; the master is found there.
    daemon_pidfile: str | None = None
    #: Addresses of sockets the harness binds and passes as systemd does
    #: (``LISTEN_FDS``/``LISTEN_PID``, fds from 3 on): socket activation.
    listen_fds: tuple[str, ...] = ()
    #: Whether a ``NOTIFY_SOCKET`` is given, as systemd does for Type=notify.
    notify: bool = False
    #: A second request, to a port the configuration opens (``address``,
    #: ``path``), and the strings its response must be searched for (``expect``).
    extra_probe: dict[str, Any] | None = None
    #: A pending case's bug: ``bug`` (what workhorse does wrong) and ``fields``
    #: (the observations it makes differ).
    blocked_by: dict[str, Any] | None = None
    #: The control's own behaviour varies from start to start (a race in the
    #: configuration under Gunicorn): ``why``, and the ``fields`` that then differ.
    #: A run whose difference is exactly those fields passes.
    control_varies: dict[str, Any] | None = None

    def argv(self, server: str) -> list[str]:
        """The command line with the word ``gunicorn`` replaced by ``server``.

        ``gunicorn`` runs the server's console script, as in a deployment
        (``python -m gunicorn`` would import a ``gunicorn.py`` config file
        of the working directory instead of Gunicorn); ``python -m
        gunicorn`` runs ``python -m SERVER``.
        """
        words = list(self.command)
        if words[:3] == ["python", "-m", CONTROL]:
            return [sys.executable, "-m", server, *words[3:]]
        if words[0] != CONTROL:
            raise ValueError(f"{self.name}: the command must start with gunicorn: {words}")
        return [str(Path(sys.executable).parent / server), *words[1:]]


def load_case(directory: Path) -> Case:
    meta: dict[str, Any] = json.loads((directory / "case.json").read_text())
    command = (directory / "command").read_text().strip()
    project, source = _source_fields((directory / "source.md").read_text())
    return Case(
        name=directory.name,
        directory=directory,
        command=shlex.split(command),
        env=dict(meta.get("env", {})),
        worker=str(meta["worker"]),
        probe=str(meta.get("probe", "127.0.0.1:@PORT@")),
        project=project,
        source=source,
        log_lines=tuple(meta.get("log_lines", ())),
        daemon_pidfile=meta.get("daemon_pidfile"),
        listen_fds=tuple(meta.get("listen_fds", ())),
        notify=bool(meta.get("notify", False)),
        extra_probe=meta.get("extra_probe"),
        blocked_by=meta.get("blocked_by"),
        control_varies=meta.get("control_varies"),
    )


def _source_fields(text: str) -> tuple[str, str]:
    fields = dict(re.findall(r"^- (project|source): (.+)$", text, re.MULTILINE))
    return fields["project"].strip(), fields["source"].strip()


def load_cases(directory: Path = CORPUS_DIR) -> list[Case]:
    if not directory.is_dir():
        return []
    return [
        load_case(path)
        for path in sorted(directory.iterdir())
        if path.is_dir() and not path.name.startswith(".")  # .ruff_cache and the like
    ]


# -- what is observed ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Observation:
    """What one server did with one configuration."""

    started: bool
    #: When it did not start: its exit code and the line of its output that says why.
    exit_code: int | None = None
    error: str = ""
    #: Status of the probe request (None: no answer).
    status: int | None = None
    #: The probe response's Server header: "default" when it is the server's
    #: own name (gunicorn, uvicorn, workhorse/VERSION), else as sent ("" when absent).
    server_header: str = ""
    #: Where the probe's access log line was written: stdout, stderr, file:PATH.
    access_log: tuple[str, ...] = ()
    #: Which routine error-log lines, and which of the case's own log lines,
    #: were written where ("stderr: listening").
    error_log: tuple[str, ...] = ()
    #: The probe's access log line with what must vary masked: the probe's
    #: token, the time, every number (the status is compared on its own).
    access_line: str = ""
    #: Exit code after TERM (None: still running at the deadline).
    term_exit: int | None = None
    #: The process titles (``/proc/PID/cmdline``'s first word, as psutil's
    #: ``cmdline()[0]``) of the master, then of each of its children, sorted,
    #: with the server's own name masked as ``SERVER`` (``gunicorn: worker
    #: [NAME]`` and ``workhorse: worker [NAME]`` are the same title), read
    #: once the probe is answered.
    titles: tuple[str, ...] = ()
    #: The second request's status and which of the expected strings its
    #: response had (``extra_probe``).
    extra: tuple[str, ...] = ()
    #: The UNIX socket files in the run directory once the server has stopped.
    sockets_left: tuple[str, ...] = ()


#: The fields compared between the two servers of a case.
COMPARED = (
    "started", "exit_code", "status", "server_header", "access_log", "access_line",
    "error_log", "term_exit", "titles", "extra", "sockets_left",
)  # fmt: skip


def differences(control: Observation, subject: Observation) -> list[str]:
    """The compared fields in which the two differ; a refusal to start is one difference."""
    if control.started != subject.started:
        return ["started"]
    return [name for name in COMPARED if getattr(control, name) != getattr(subject, name)]


# -- running a server ------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """One server started on one case: its directory, port and process."""

    case: Case
    server: str
    root: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    #: A daemonized master's pid (from its pidfile), once it runs.
    daemon: int | None = None
    #: A second free port (``@PORT2@``).
    port2: int = 0
    #: The notification socket given as ``NOTIFY_SOCKET`` (``notify``).
    notify_sock: socket.socket | None = None
    #: What the master sent there, one line per field (``READY=1``).
    notified: list[str] = dataclasses.field(default_factory=list)

    @property
    def directory(self) -> Path:
        return self.root / self.server

    @property
    def stdout(self) -> Path:
        return self.root / f"{self.server}.stdout"

    @property
    def stderr(self) -> Path:
        return self.root / f"{self.server}.stderr"

    @property
    def notify_path(self) -> Path:
        return self.root / f"{self.server}.notify"

    def expand(self, text: str) -> str:
        text = text.replace("@PORT@", str(self.port)).replace("@PORT2@", str(self.port2))
        return text.replace("@DIR@", str(self.directory))

    @property
    def master(self) -> int | None:
        """The master's pid: the daemon's, else the process started."""
        if self.daemon is not None:
            return self.daemon
        return self.proc.pid if self.proc is not None else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prepare(run: Run) -> list[str]:
    """Copy the case into the run directory, placeholders expanded; return the argv."""
    run.directory.mkdir(parents=True)
    for path in run.case.directory.rglob("*"):
        relative = path.relative_to(run.case.directory)
        if relative.name in CASE_FILES or "__pycache__" in relative.parts:
            continue
        target = run.directory / relative
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(run.expand(path.read_text()))
    return [run.expand(word) for word in run.case.argv(run.server)]


def _environment(run: Run) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED_ENV}
    env["PYTHONPATH"] = str(APPS_DIR)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # Gunicorn 27's control socket defaults to $XDG_RUNTIME_DIR/gunicorn.ctl:
    # one per run, so two controls never share one.
    env["XDG_RUNTIME_DIR"] = str(run.directory)
    env.update({key: run.expand(value) for key, value in run.case.env.items()})
    return env


#: Run as ``python -c LAUNCHER ARGV...`` when sockets are passed: moves them to
#: fds 3, 4, ... and execs ARGV with ``LISTEN_PID`` set to its own pid, which
#: only the process itself knows (as systemd does between fork and exec).
LAUNCHER = """\
import os, sys
held = [int(fd) for fd in os.environ.pop("COMPAT_PASSED_FDS").split(",")]
for index, fd in enumerate(held):
    os.dup2(fd, 3 + index)
    os.close(fd)
os.environ["LISTEN_FDS"] = str(len(held))
os.environ["LISTEN_PID"] = str(os.getpid())
os.execve(sys.argv[1], sys.argv[1:], dict(os.environ))
"""
#: Passed sockets are held above this fd in the harness, so that moving them
#: to 3, 4, ... in the launcher never overwrites one not yet moved.
HELD_FD_FLOOR = 100


def _bind(address: str) -> socket.socket:
    """A listening socket on ``unix:PATH`` or ``HOST:PORT``, as a .socket unit makes it."""
    if address.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(address[len("unix:") :])
    else:
        host, _, port = address.rpartition(":")
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), int(port)))
    sock.listen(128)
    return sock


def _start(run: Run) -> None:
    argv = _prepare(run)
    env = _environment(run)
    if run.case.notify:
        run.notify_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        run.notify_sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        run.notify_sock.bind(str(run.notify_path))
        run.notify_sock.setblocking(False)
        env["NOTIFY_SOCKET"] = str(run.notify_path)
    held: list[int] = []
    try:
        for address in run.case.listen_fds:
            with _bind(run.expand(address)) as sock:
                held.append(fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, HELD_FD_FLOOR))
        if held:
            argv = [sys.executable, "-c", LAUNCHER, *argv]
            env["COMPAT_PASSED_FDS"] = ",".join(map(str, held))
        with open(run.stdout, "wb") as out, open(run.stderr, "wb") as err:
            run.proc = subprocess.Popen(
                argv, cwd=run.directory, env=env, stdout=out, stderr=err,
                stdin=subprocess.DEVNULL, start_new_session=True, pass_fds=held,
            )  # fmt: skip
    finally:
        for fd in held:  # the server has them now
            os.close(fd)


def _connect(run: Run, timeout: float) -> socket.socket:
    address = run.expand(run.case.probe)
    if address.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(timeout)
        try:
            sock.connect(address[len("unix:") :])
        except OSError:
            sock.close()
            raise
        return sock
    host, _, port = address.rpartition(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def _poll(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll until ``predicate()`` is true; False when ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(POLL_INTERVAL)
    return predicate()


def _answering(run: Run) -> bool:
    """True once the server answers, or once waiting longer is pointless."""
    assert run.proc is not None
    exited = run.proc.poll()
    if exited is not None and (run.case.daemon_pidfile is None or exited != 0):
        return True  # it exited (a daemon's launcher exits 0 and goes on)
    with contextlib.suppress(OSError), _connect(run, 1.0):
        return True
    return False


def _started(run: Run) -> bool:
    assert run.proc is not None
    if run.case.daemon_pidfile is None:
        return run.proc.poll() is None
    run.daemon = _daemon_pid(run)
    return run.proc.poll() == 0 and run.daemon is not None


def _daemon_pid(run: Run) -> int | None:
    """The daemon master's pid from its pidfile, while it runs."""
    if run.case.daemon_pidfile is None:
        return None
    with contextlib.suppress(OSError, ValueError):
        pid = int(Path(run.expand(run.case.daemon_pidfile)).read_text().strip())
        return pid if _alive(pid) else None
    return None


def _alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _probe(run: Run, token: str) -> bytes:
    """Send one request that names ``token`` three ways; the response."""
    request = (
        f"GET /?compat-probe={token} HTTP/1.1\r\nHost: localhost\r\n"
        f"User-Agent: compat-probe-{token}\r\nX-Request-Id: {token}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return _exchange(run, request)


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the peer sends until it closes (or resets: what came before)."""
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _stop(run: Run) -> int | None:
    """TERM the master; its exit code, or None if it was still running at the deadline."""
    assert run.proc is not None
    daemon = run.daemon
    if daemon is not None:
        os.kill(daemon, signal.SIGTERM)
        return 0 if _poll(lambda: not _alive(daemon), STOP_TIMEOUT) else None
    with contextlib.suppress(ProcessLookupError):
        os.kill(run.proc.pid, signal.SIGTERM)
    try:
        return run.proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None


def _reap(run: Run) -> None:
    """Kill whatever is left of the run's process group (workers of a master that died)."""
    if run.proc is None:
        return
    groups = [run.proc.pid] + ([run.daemon] if run.daemon is not None else [])
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        run.proc.wait(STOP_TIMEOUT)

    def groups_gone() -> bool:
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, 0)
                return False
        return True

    _poll(groups_gone, STOP_TIMEOUT)


def observe(case: Case, server: str, root: Path) -> Observation:
    """Start ``server`` on ``case``, probe it, TERM it; what it did."""
    run = Run(case, server, root, free_port(), port2=free_port())
    token = f"{server}-{run.port}"
    try:
        _start(run)
        assert run.proc is not None
        _poll(lambda: _answering(run), START_TIMEOUT)
        if not _started(run):
            return Observation(False, run.proc.poll(), _why(run))
        response = _probe(run, token)
        titles = _titles(run)
        extra = _extra_probe(run) if case.extra_probe else ()
        term_exit = _stop(run)
    finally:
        _reap(run)
        _read_notifications(run)
    outputs = dict(_outputs(run))
    return Observation(
        started=True,
        status=_status(response),
        server_header=_server_header(response, server),
        access_log=_access_destinations(outputs, token),
        error_log=_milestones(outputs, token, case.log_lines),
        access_line=_access_line(outputs, token),
        term_exit=term_exit,
        titles=titles,
        extra=extra,
        sockets_left=_sockets_left(run),
    )


def _sockets_left(run: Run) -> tuple[str, ...]:
    """The UNIX socket files in the run directory."""
    return tuple(
        str(path.relative_to(run.directory))
        for path in sorted(run.directory.rglob("*"))
        if path.is_socket()
    )


def _children(pid: int) -> list[int]:
    """The pids of the live children of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _title(pid: int, server: str) -> str:
    """The first word of a process's command line (its title), the server's name masked."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.split(b"\0", 1)[0].decode(errors="replace").replace(server, "SERVER")


def _titles(run: Run) -> tuple[str, ...]:
    """The master's title, then its children's (sorted)."""
    master = run.master
    assert master is not None
    children = sorted(_title(pid, run.server) for pid in _children(master))
    return (_title(master, run.server), *children)


def _extra_probe(run: Run) -> tuple[str, ...]:
    """The second request's status and the expected strings its response has.

    Polled until all are there or the deadline passes: what a hook's thread
    publishes may come a moment after the server answers.
    """
    spec = run.case.extra_probe
    assert spec is not None
    expected = [run.expand(text) for text in spec.get("expect", ())]
    request = (
        f"GET {spec.get('path', '/')} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    ).encode()
    address = run.expand(spec["address"])
    host, _, port = address.rpartition(":")
    found: tuple[str, ...] = ()

    def answered() -> bool:
        nonlocal found
        try:
            with socket.create_connection((host, int(port)), timeout=REQUEST_TIMEOUT) as sock:
                sock.sendall(request)
                response = _read_until_closed(sock)
        except OSError:
            return False
        text = response.decode("latin-1")
        found = (f"status {_status(response)}", *(x for x in expected if x in text))
        return len(found) == len(expected) + 1

    _poll(answered, REQUEST_TIMEOUT)
    return found


def _read_notifications(run: Run) -> None:
    """What the master sent to NOTIFY_SOCKET (NotifyAccess=main: others' are dropped)."""
    sock = run.notify_sock
    if sock is None:
        return
    credentials = struct.calcsize("3i")
    with sock:
        while True:
            try:
                data, ancillary, _flags, _address = sock.recvmsg(
                    4096, socket.CMSG_SPACE(credentials)
                )
            except BlockingIOError:
                break
            sender = None
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    sender = struct.unpack("3i", value[:credentials])[0]
            if sender == run.master:
                run.notified.extend(data.decode(errors="replace").splitlines())
    run.notify_sock = None


@contextlib.contextmanager
def running(case: Case, server: str, root: Path) -> Iterator[Run]:
    """``server`` started on ``case`` and answering; stopped (TERM, then KILL) afterwards."""
    run = Run(case, server, root, free_port(), port2=free_port())
    try:
        _start(run)
        assert run.proc is not None
        _poll(lambda: _answering(run), START_TIMEOUT)
        if not _started(run):
            raise AssertionError(f"{server} did not start ({run.proc.poll()}): {_why(run)}")
        yield run
        _stop(run)
    finally:
        _reap(run)
        _read_notifications(run)


def status_of(run: Run, request: bytes) -> int | None:
    """Send ``request`` on a new connection; the response's status, if any."""
    return _status(_exchange(run, request))


def _exchange(run: Run, request: bytes) -> bytes:
    """Send ``request`` on a new connection; the whole response (b"" if none).

    A server may answer and close before a large request is all sent: the
    answer is read all the same.
    """
    try:
        with _connect(run, REQUEST_TIMEOUT) as sock:
            with contextlib.suppress(OSError):
                sock.sendall(request)
            return _read_until_closed(sock)
    except OSError:
        return b""


def _status(response: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", response)
    return int(match.group(1)) if match else None


#: What each server sends as its Server header unless told otherwise: for the
#: control, Gunicorn's name (``gunicorn/asgi`` from its asgi worker), or
#: uvicorn's when its uvicorn worker serves.
_OWN_SERVER_NAMES = {
    CONTROL: re.compile(r"gunicorn(/[\w.]+)?|uvicorn"),
    SUBJECT: re.compile(r"workhorse(/\S+)?"),
}


def _server_header(response: bytes, server: str) -> str:
    lines = response.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    prefix = "server:"
    values = [line[len(prefix) :].strip() for line in lines if line.lower().startswith(prefix)]
    if not values:
        return ""
    return "default" if _OWN_SERVER_NAMES[server].fullmatch(values[0]) else values[0]


def observe_both(case: Case, root: Path) -> tuple[Observation, Observation]:
    """The control's and the subject's observations, run side by side."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        control = pool.submit(observe, case, CONTROL, root)
        subject = pool.submit(observe, case, SUBJECT, root)
        return control.result(), subject.result()


# -- reading what was written --------------------------------------------------------------


def _why(run: Run) -> str:
    """The line of a failed start's output that says why (the last error-like line)."""
    lines = [
        line.strip()
        for path in (run.stderr, run.stdout)
        for line in path.read_text(errors="replace").splitlines()
        if line.strip()
    ]
    telling = [line for line in lines if re.search(r"Error|error:|invalid|not supported", line)]
    return (telling or lines or [""])[-1][:300]


def _outputs(run: Run) -> Iterator[tuple[str, list[str]]]:
    """Every place a server may have logged to: its stdout, its stderr, files it wrote."""
    yield "stdout", run.stdout.read_text(errors="replace").splitlines()
    yield "stderr", run.stderr.read_text(errors="replace").splitlines()
    if run.case.notify:
        yield "notify", run.notified
    copied = {p.relative_to(run.case.directory) for p in run.case.directory.rglob("*")}
    for path in sorted(run.directory.rglob("*")):
        relative = path.relative_to(run.directory)
        if relative in copied or not path.is_file() or "__pycache__" in relative.parts:
            continue
        with contextlib.suppress(UnicodeDecodeError, OSError):
            yield f"file:{relative}", path.read_text().splitlines()


def _is_access_line(line: str, token: str) -> bool:
    return token in line and not ERROR_LOG_LINE.match(line)


def _access_destinations(outputs: dict[str, list[str]], token: str) -> tuple[str, ...]:
    return tuple(
        where for where, lines in outputs.items() if any(_is_access_line(x, token) for x in lines)
    )


def _milestones(
    outputs: dict[str, list[str]], token: str, own: tuple[str, ...]
) -> tuple[str, ...]:
    wanted = {**MILESTONES, **{text: text for text in own}}
    found = {
        f"{where}: {name}"
        for where, lines in outputs.items()
        for line in lines
        if not _is_access_line(line, token)
        for name, text in wanted.items()
        if text in line
    }
    return tuple(sorted(found))


_ACCESS_TIME = re.compile(r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]")
_NUMBER = re.compile(r"\d+(\.\d+)?")


def _access_line(outputs: dict[str, list[str]], token: str) -> str:
    lines = [line for lines in outputs.values() for line in lines if _is_access_line(line, token)]
    if not lines:
        return ""
    masked = _ACCESS_TIME.sub("[TIME]", lines[0].replace(token, "TOKEN"))
    return _NUMBER.sub("N", masked)


def fresh_root(base: Path, case: Case) -> Path:
    root = base / case.name
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    return root
