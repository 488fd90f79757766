"""The servers table: one row per configuration measured, and how to find and start it.

A command is a template with these placeholders:
    {host} {port} {bind}=host:port {workers} {app}=apps:<callable> {tmp}=this start's
    scratch folder {metrics_port}=port+2
A template without {workers} is one process whatever the scenario asks; its
rows record the workers it really ran.

Executables are looked up in bench/.venv/bin, then next to the Python that runs
this harness, then on PATH; a server whose executable (or a module it needs)
is missing is skipped with a message.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
VENV_BIN = BENCH / ".venv" / "bin"

_WORKHORSE = "workhorse --bind {bind} --workers {workers}"
#: The WSGI apps of apps.py an ASGI row runs, as their ASGI twins (the same bytes).
ASGI_TWINS = {"hello": "hello_asgi", "json_small": "json_small_asgi", "echo": "echo_asgi"}
_GTHREAD = "--worker-class gthread --threads 4"
_GEVENT = "--worker-class gevent"
#: The gevent rows run hello keep-alive and the slow-requests load, side by side.
GEVENT_SCENARIOS = ("a", "slow500")
# Control sockets are on, as a user has them, but in this start's scratch folder,
# not in the working directory (workhorse) or ~/.gunicorn (gunicorn).
_CTL = "--control-socket {tmp}/ctl.sock"


@dataclass(frozen=True)
class Server:
    name: str
    kind: str  # "wsgi" or "asgi"
    command: str
    dists: tuple[str, ...]  # distributions whose versions the report names
    needs: tuple[str, ...] = ()  # modules that must import (checked before the run)
    only: tuple[str, ...] = ()  # scenarios this row runs in (empty: all it supports)
    note: str = ""
    own: bool = False  # a workhorse row: its failure fails the run

    @property
    def executable(self) -> str:
        return self.command.split()[0]

    @property
    def multi_process(self) -> bool:
        return "{workers}" in self.command

    def supports(self, scenario_name: str, app: str) -> bool:
        if self.only and scenario_name not in self.only:
            return False
        return self.kind == "wsgi" or app in ASGI_TWINS

    def workers_for(self, asked: int) -> int:
        return asked if self.multi_process else 1

    def argv(self, *, host: str, port: int, workers: int, app: str, tmp: Path) -> list[str]:
        callable_ = ASGI_TWINS[app] if self.kind == "asgi" else app
        values = {
            "host": host, "port": port, "bind": f"{host}:{port}", "workers": workers,
            "app": f"apps:{callable_}", "tmp": tmp, "metrics_port": port + 2,
        }
        return [part.format(**values) for part in self.command.split()]


def _supervision_off_and_on(label: str, kind: str, flags: str, dists: tuple[str, ...],
                            only: tuple[str, ...], loop: str,
                            needs: tuple[str, ...] = ()) -> list[Server]:
    """A loop worker's pair that measures what its supervision costs: -bare (no slot
    writes, no deadlines, no blocked-loop watchdog) and -obs-off (all of it on)."""
    return [
        Server(f"workhorse-{label}-bare", kind,
               f"python bare_workhorse.py --bind {{bind}} --workers {{workers}} {flags} "
               "--timeout 0 --blocked-loop-timeout 0 --no-control-socket {app}",
               dists, needs=needs, only=only, own=True,
               note=f"{label}, supervision off: no slot writes, no deadlines, no blocked-{loop} "
                    "watchdog (bench/bare_workhorse.py): the floor, not a way to run"),
        Server(f"workhorse-{label}-obs-off", kind,
               f"{_WORKHORSE} {flags} --no-control-socket {{app}}",
               dists, needs=needs, only=only, own=True,
               note=f"{label}, everything on but the control socket: compare with -bare"),
    ]


SERVERS: dict[str, Server] = {
    s.name: s
    for s in [
        Server("workhorse-sync", "wsgi", f"{_WORKHORSE} --worker-class sync {_CTL} {{app}}",
               ("workhorse",), own=True, note="closes after every response, as Gunicorn's sync"),
        Server("workhorse-gthread", "wsgi", f"{_WORKHORSE} {_GTHREAD} {_CTL} {{app}}",
               ("workhorse",), own=True, note="keep-alive 2 s (default)"),
        Server("workhorse-gthread1", "wsgi",
               f"{_WORKHORSE} --worker-class gthread --threads 1 {_CTL} {{app}}",
               ("workhorse",), own=True,
               note="gthread with one thread: served inline by its epoll loop"),
        Server("workhorse-asgi", "asgi",
               f"{_WORKHORSE} --worker-class asgi {_CTL} {{app}}",
               ("workhorse", "uvloop"), own=True, note="uvloop (asgi_loop auto)"),
        Server("workhorse-asgi-asyncio", "asgi",
               f"{_WORKHORSE} --worker-class asgi --asgi-loop asyncio {_CTL} {{app}}",
               ("workhorse",), own=True, note="the standard library's asyncio loop"),
        *_supervision_off_and_on("asgi", "asgi", "--worker-class asgi", ("workhorse", "uvloop"),
                                 ("a",), "loop"),
        Server("workhorse-gevent", "wsgi",
               f"{_WORKHORSE} {_GEVENT} {_CTL} {{app}}",
               ("workhorse", "gevent"), needs=("gevent",), only=GEVENT_SCENARIOS, own=True,
               note="gevent; worker_connections 1000, keep-alive 2 s (defaults)"),
        *_supervision_off_and_on("gevent", "wsgi", _GEVENT, ("workhorse", "gevent"),
                                 GEVENT_SCENARIOS, "hub", needs=("gevent",)),
        Server("gunicorn-gevent", "wsgi",
               f"gunicorn --bind {{bind}} --workers {{workers}} {_GEVENT} {_CTL} {{app}}",
               ("gunicorn", "gevent"), needs=("gevent",), only=GEVENT_SCENARIOS,
               note="Gunicorn 27's gevent worker; worker_connections 1000 (default)"),
        Server("workhorse-bare", "wsgi",
               "python bare_workhorse.py --bind {bind} --workers {workers} "
               f"{_GTHREAD} --no-control-socket {{app}}",
               ("workhorse",), only=("a",), own=True,
               note="gthread; scoreboard writes replaced by no-ops (bench/bare_workhorse.py), "
                    "no control socket, no metrics: the floor, not a way to run"),
        Server("workhorse-pure", "wsgi",
               "python pure_workhorse.py --bind {bind} --workers {workers} "
               f"{_GTHREAD} --no-control-socket {{app}}",
               ("workhorse",), only=("a",), own=True,
               note="gthread; scoreboard written by the Python writer instead of the C one "
                    "(bench/pure_workhorse.py), no control socket, no metrics"),
        Server("workhorse-obs-off", "wsgi",
               f"{_WORKHORSE} {_GTHREAD} --no-control-socket {{app}}",
               ("workhorse",), only=("a",), own=True,
               note="gthread; no control socket, no access log, no metrics"),
        Server("workhorse-obs-on", "wsgi",
               f"{_WORKHORSE} {_GTHREAD} {_CTL} --metrics-bind {{host}}:{{metrics_port}} {{app}}",
               ("workhorse",), only=("a",), own=True,
               note="gthread; control socket and metrics endpoint (the scoreboard is always on)"),
        Server("workhorse-access-log", "wsgi",
               f"{_WORKHORSE} {_GTHREAD} {_CTL} --access-logfile {{tmp}}/access.log {{app}}",
               ("workhorse",), only=("a",), own=True,
               note="gthread; access log to a file, default format"),
        Server("gunicorn-access-log", "wsgi",
               f"gunicorn --bind {{bind}} --workers {{workers}} {_GTHREAD} {_CTL} "
               "--access-logfile {tmp}/access.log {app}",
               ("gunicorn",), only=("a",),
               note="gthread; access log to a file, default format"),
        Server("gunicorn-sync", "wsgi",
               f"gunicorn --bind {{bind}} --workers {{workers}} --worker-class sync {_CTL} {{app}}",
               ("gunicorn",), note="closes after every response"),
        Server("gunicorn-gthread", "wsgi",
               f"gunicorn --bind {{bind}} --workers {{workers}} {_GTHREAD} {_CTL} {{app}}",
               ("gunicorn",), note="keep-alive 2 s (default)"),
        Server("uwsgi", "wsgi",
               "uwsgi --http-socket {bind} --master --processes {workers} --disable-logging "
               "--die-on-term --module {app}",
               ("uWSGI",),
               note="--http-socket: closes after every response without saying so "
                    "(wrk counts a read error per response: expected, not an error)"),
        Server("granian-wsgi", "wsgi",
               "granian --interface wsgi --host {host} --port {port} --workers {workers} "
               "--log-level warning {app}",
               ("granian",), note="default threads"),
        Server("waitress", "wsgi", "waitress-serve --host {host} --port {port} --threads 4 {app}",
               ("waitress",), note="one process, 4 threads, whatever the scenario asks"),
        Server("gunicorn-asgi", "asgi",
               f"gunicorn --bind {{bind}} --workers {{workers}} --worker-class asgi {_CTL} "
               "{app}",
               ("gunicorn", "uvloop"), note="Gunicorn 27's own asgi worker"),
        Server("granian-asgi", "asgi",
               "granian --interface asgi --host {host} --port {port} --workers {workers} "
               "--log-level warning {app}",
               ("granian",), note="default settings"),
        Server("uvicorn-asgi", "asgi",
               "uvicorn --host {host} --port {port} --workers {workers} --http httptools "
               "--loop uvloop --no-access-log --log-level warning {app}",
               ("uvicorn", "httptools", "uvloop"), needs=("httptools", "uvloop"),
               note="ASGI hello: the rate workhorse must reach"),
    ]
}
QUICK = ("workhorse-gthread", "gunicorn-gthread", "gunicorn-sync")
BASELINES = ("gunicorn-sync", "gunicorn-gthread")  # the ratios' denominators


def search_path() -> str:
    dirs = [str(VENV_BIN), str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    return os.pathsep.join(dirs)


def find_executable(server: Server) -> Path | None:
    found = shutil.which(server.executable, path=search_path())
    return Path(found) if found else None


def python_beside(executable: Path) -> Path:
    """The interpreter of the virtualenv an executable was installed into."""
    for name in ("python", "python3"):
        candidate = executable.parent / name
        if candidate.exists():
            return candidate
    return Path(sys.executable)


def missing_modules(server: Server, executable: Path) -> list[str]:
    missing = []
    for module in server.needs:
        probe = subprocess.run([str(python_beside(executable)), "-c", f"import {module}"],
                               capture_output=True, check=False)
        if probe.returncode != 0:
            missing.append(module)
    return missing


_VERSIONS_SCRIPT = """
import importlib.metadata as m, json, sys
out = {}
for d in sys.argv[1:]:
    try:
        out[d] = m.version(d)
    except m.PackageNotFoundError:
        out[d] = None
print(json.dumps(out))
"""


def versions(server: Server, executable: Path) -> str:
    """`gunicorn 27.0.1`, `uvicorn 0.54.0 (httptools 0.9.0, uvloop 0.23.0)`."""
    probe = subprocess.run([str(python_beside(executable)), "-c", _VERSIONS_SCRIPT, *server.dists],
                           capture_output=True, text=True, check=False)
    try:
        found = json.loads(probe.stdout)
    except ValueError:
        found = {}
    parts = [f"{d} {found.get(d) or '?'}" for d in server.dists]
    text = parts[0] + (f" ({', '.join(parts[1:])})" if parts[1:] else "")
    if server.own:
        text += workhorse_origin(python_beside(executable))
    return text


def workhorse_origin(python: Path) -> str:
    """` @ <commit> (editable: <path>)`: which code the workhorse rows ran."""
    probe = subprocess.run([str(python), "-c", "import workhorse; print(workhorse.__file__)"],
                           capture_output=True, text=True, check=False)
    path = Path(probe.stdout.strip()) if probe.returncode == 0 else None
    if path is None:
        return ""
    repo = path.parent.parent.parent
    commit = ""
    if (repo / ".git").exists() and shutil.which("git"):
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=False)
        commit = head.stdout.strip()
    return f" @ {commit or '?'} ({path.parent})"
