"""The Django project of bench/django/: its database, its server rows, a scripted login, its load.

Every row loads `benchsite.wsgi:application` from bench/django/ (on PYTHONPATH)
with 4 workers and the application loaded in the master before the fork:
`--preload` for workhorse and Gunicorn, uWSGI's default (without `--lazy-apps`
it loads the app once in its master). The database is a SQLite file made
once per run by `manage.py migrate` (the data migration writes the rows) and
copied for each server start, so sessions written during one start are not
read by the next.
"""

from __future__ import annotations

import http.client
import random
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .probes import HOST
from .servers import BENCH

PROJECT = BENCH / "django"
APP = "benchsite.wsgi:application"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "bench-admin-pw"  # a throw-away database on 127.0.0.1 only

_CTL = "--control-socket {tmp}/ctl.sock"
#: name -> command template ({bind} {workers} {tmp} as in servers.py; {extra}: the CLI's
#: --workhorse-args, so a setting can be measured without a new row).
ROWS: dict[str, str] = {
    "workhorse": (f"workhorse --bind {{bind}} --workers {{workers}} --preload {_CTL} {{extra}} "
                  f"{APP}"),
    "gunicorn": f"gunicorn --bind {{bind}} --workers {{workers}} --preload {_CTL} {APP}",
    "uwsgi": ("uwsgi --http-socket {bind} --master --processes {workers} --disable-logging "
              f"--die-on-term --module {APP}"),
    "workhorse-nopreload": (f"workhorse --bind {{bind}} --workers {{workers}} {_CTL} {{extra}} "
                            f"{APP}"),
    "gunicorn-nopreload": f"gunicorn --bind {{bind}} --workers {{workers}} {_CTL} {APP}",
}


def argv(row: str, *, bind: str, workers: int, tmp: Path, extra: str = "") -> list[str]:
    text = ROWS[row].format(bind=bind, workers=workers, tmp=tmp, extra=extra)
    return text.split()


def make_database(python: Path, dest: Path, env: dict[str, str]) -> None:
    """migrate (tables and the data migration's rows) and the admin user, into dest."""
    env = {**env, "BENCH_DJANGO_DB": str(dest), "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD}
    manage = [str(python), "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=PROJECT, env=env, check=True)
    subprocess.run([*manage, "createsuperuser", "--noinput", "--username", ADMIN_USER,
                    "--email", "admin@example.com"], cwd=PROJECT, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def copy_database(src: Path, dest: Path) -> None:
    shutil.copyfile(src, dest)


# --- HTTP ----------------------------------------------------------------------------
@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def request(port: int, path: str, *, method: str = "GET", cookie: str = "",
            body: str = "", timeout: float = 30.0) -> Reply:
    """One request on a new connection that says `Connection: close`."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    headers = {"Host": HOST, "Connection": "close"}
    if cookie:
        headers["Cookie"] = cookie
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["Referer"] = f"http://{HOST}:{port}/admin/login/"
    try:
        conn.request(method, path, body=body or None, headers=headers)
        resp = conn.getresponse()
        return Reply(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def _cookies(reply: Reply) -> dict[str, str]:
    found = {}
    for value in reply.headers.get_all("Set-Cookie") or []:
        name, _, rest = value.partition("=")
        found[name.strip()] = rest.split(";", 1)[0]
    return found


def login(port: int) -> str:
    """The admin's login form, scripted: returns the Cookie header of a logged-in session."""
    page = request(port, "/admin/login/")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    csrf = _cookies(page).get("csrftoken")
    if page.status != 200 or token is None or csrf is None:
        raise RuntimeError(f"admin login page: {page.status}, no CSRF token")
    form = (f"csrfmiddlewaretoken={token.group(1).decode()}&username={ADMIN_USER}"
            f"&password={ADMIN_PASSWORD}&next=/admin/")
    done = request(port, "/admin/login/", method="POST", cookie=f"csrftoken={csrf}", body=form)
    session = _cookies(done).get("sessionid")
    if done.status != 302 or not session:
        raise RuntimeError(f"admin login: {done.status}, no session cookie")
    return f"csrftoken={csrf}; sessionid={session}"


# --- the load ------------------------------------------------------------------------
#: (path, needs the admin session, weight): every kind of page the project has.
VIEWS: list[tuple[str, bool, int]] = [
    ("/", False, 2),  # a template, no query
    ("/books/?page={n12}", False, 2),  # an ORM list in a template
    ("/authors/{n60}/", False, 1),  # a detail page with an aggregate
    ("/api/books.json", False, 2),  # JSON from values()
    ("/api/stats.json", False, 1),  # JSON from aggregates
    ("/admin/login/", False, 1),  # the admin login page (anonymous)
    ("/admin/", True, 1),  # the admin index
    ("/admin/catalog/book/?p={n12}", True, 2),  # changelists
    ("/admin/catalog/author/", True, 1),
    ("/admin/catalog/review/?rating__exact={n5}", True, 1),
    ("/admin/catalog/author/{n60}/change/", True, 1),  # a change form with an inline
]


def paths(count: int, seed: int = 18) -> list[tuple[str, bool]]:
    """count requests, drawn from VIEWS by weight, the same sequence for every server."""
    rnd = random.Random(seed)
    weights = [w for _, _, w in VIEWS]
    out = []
    for path, auth, _ in rnd.choices(VIEWS, weights, k=count):
        path = path.format(n12=rnd.randint(1, 12), n60=rnd.randint(1, 60), n5=rnd.randint(1, 5))
        out.append((path, auth))
    return out


@dataclass
class LoadResult:
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    by_pid: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


def load(port: int, requests: list[tuple[str, bool]], cookie: str, clients: int) -> LoadResult:
    """Send every request, `clients` at a time, each on its own connection."""
    result = LoadResult()
    lock = threading.Lock()
    it = iter(requests)

    def client() -> None:
        while True:
            with lock:
                item = next(it, None)
            if item is None:
                return
            path, auth = item
            try:
                reply = request(port, path, cookie=cookie if auth else "")
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    result.failures.append(f"{path}: {exc!r}")
                continue
            with lock:
                result.statuses[reply.status] += 1
                result.by_pid[reply.headers.get("X-Worker-Pid", "?")] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.monotonic() - started
    return result
