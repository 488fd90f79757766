"""A real nginx in front of a workhorse server, for tests (no root paths, no leaks).

:class:`Nginx` writes a config into a per-test directory (prefix, pid file,
error and access logs, every ``*_temp_path``, the lock file) so it runs
without touching ``/var`` or ``/run``; it listens on a free ``127.0.0.1``
port and proxies to an upstream that is ``127.0.0.1:PORT`` or
``unix:/path.sock``, in the shape of Gunicorn's documented nginx deployment::

    upstream app_server { server ... fail_timeout=0; }
    location / { try_files $uri @proxy_to_app; }
    location @proxy_to_app {
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header Host $http_host;
        proxy_set_header X-Request-Start "t=${msec}";
        proxy_redirect off;
        proxy_buffering on;
        proxy_pass http://app_server;
    }

nginx runs in the foreground (``daemon off;``) with ``master_process on``
and one worker, in its own session. :meth:`Nginx.stop` sends ``QUIT``
(graceful), then ``TERM``, then ``KILL`` to the master by pid, then kills
any worker pid it ever saw that is still alive, and checks they are gone.

The access log is one JSON object per line (:meth:`Nginx.access_entries`)
with ``status``, ``upstream_status``, ``request_time``,
``upstream_response_time``, ``request_id`` (nginx's ``$request_id``),
``upstream_request_id`` (the ``X-Request-ID`` the upstream answered with),
``connection`` and ``connection_requests`` (to see client keep-alive).

Use from any test folder (``tests/`` is on ``sys.path`` via tests/conftest.py)::

    # tests/<folder>/conftest.py
    from nginx_support import nginx_factory  # noqa: F401  (re-exports the fixture)

    # a test
    def test_behind_nginx(server_factory, nginx_factory):
        server = server_factory(["testapp:app"])
        nginx = nginx_factory(f"127.0.0.1:{server.port}")      # or "unix:/path.sock"
        assert requests.get(nginx.url + "/", timeout=5).text == "ok"

WebSocket through nginx: ``extra_locations=websocket_location("/ws")``.

``nginx_factory(upstream, **options)`` takes the keyword arguments of
:class:`Nginx` (``proxy_read_timeout``, ``extra_locations``, ``extra_server``,
``extra_http``, ``upstream_keepalive``, ``pass_request_id``, ``root``,
``tls``) and
starts it; every nginx it started is stopped at teardown. Tests using it
are skipped (with the reason) when no nginx binary exists; set ``NGINX`` to
use a binary that is not on ``PATH`` or in ``/usr/sbin``.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import textwrap
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from support import alive, children_of, free_port, wait_for

#: Where to look for nginx when it is not on PATH (Debian puts it in /usr/sbin).
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")

#: One JSON object per request; ``escape=json`` makes every value a valid string.
LOG_FORMAT = (
    '{"remote_addr":"$remote_addr","request":"$request","status":"$status",'
    '"body_bytes_sent":"$body_bytes_sent","request_time":"$request_time",'
    '"upstream_addr":"$upstream_addr","upstream_status":"$upstream_status",'
    '"upstream_response_time":"$upstream_response_time","request_id":"$request_id",'
    '"upstream_request_id":"$upstream_http_x_request_id","connection":"$connection",'
    '"connection_requests":"$connection_requests"}'
)

#: The location nginx answers itself, to know it is up whatever the upstream does.
READY_PATH = "/__nginx_ready"
#: What nginx logs when its port is taken (by a parallel test, between choice and bind).
ADDRESS_IN_USE = "(98: Address already in use)"
#: A UNIX socket path must fit in sockaddr_un.sun_path (108 bytes with the NUL).
MAX_UNIX_PATH = 100


def websocket_location(prefix: str, read_timeout: float = 60) -> str:
    """An ``extra_locations`` block that passes WebSocket upgrades under ``prefix``.

    nginx speaks HTTP/1.0 upstream and drops hop-by-hop headers unless told:
    an upgrade needs HTTP/1.1 and ``Upgrade``/``Connection`` set again (nginx's
    documented WebSocket proxying); the proxy headers of ``@proxy_to_app`` are
    repeated because a location's ``proxy_set_header`` replaces inherited ones.
    """
    timeout = f"{max(1, round(read_timeout * 1000))}ms"
    return (f"location {prefix} {{ {Nginx.PROXY_HEADERS} "
            "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
            'proxy_set_header Connection "upgrade"; '
            f"proxy_read_timeout {timeout}; proxy_pass http://app_server; }}")


def nginx_binary() -> str | None:
    """The nginx executable to use, or None if there is none."""
    configured = os.environ.get("NGINX")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in NGINX_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


@lru_cache(maxsize=4)
def nginx_version(binary: str) -> tuple[int, ...]:
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out.stderr + out.stdout)
    return tuple(int(x) for x in match.groups()) if match else (0, 0, 0)


def require_nginx() -> str:
    """The nginx binary; skips the calling test when there is none."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip("no nginx binary (looked at $NGINX, PATH, " + ", ".join(NGINX_CANDIDATES) + ")")
    return binary


def unix_socket_path(directory: Path, name: str = "app.sock") -> str:
    """A UNIX socket path in ``directory``, or in a short /tmp dir if that is too long."""
    path = str(directory / name)
    if len(path) <= MAX_UNIX_PATH:
        return path
    import tempfile  # only for unusually deep temp dirs

    return str(Path(tempfile.mkdtemp(prefix="wh-")) / name)


def make_self_signed_cert(cert: Path, key: Path) -> None:
    """A certificate for 127.0.0.1 and localhost, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a test certificate")
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)


def _is_nginx(pid: int) -> bool:
    """Whether ``pid`` is (still) an nginx process, not an unrelated one that reused it."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().startswith(b"nginx")
    except OSError:
        return False


def _user_directive() -> str:
    # As root, nginx's workers would switch to "nobody", which can read neither
    # the per-test directory (0700) nor connect to the app's UNIX socket.
    if os.geteuid() != 0:
        return ""
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return f"user {user} {group};"


class Nginx:
    """One real nginx (master + 1 worker) proxying to one upstream."""

    #: The headers ``@proxy_to_app`` sets, for extra locations that proxy too.
    PROXY_HEADERS = ("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; "
                     "proxy_set_header X-Forwarded-Proto $scheme; "
                     "proxy_set_header Host $http_host; "
                     'proxy_set_header X-Request-Start "t=${msec}"; '
                     "proxy_redirect off;")

    def __init__(self, upstream: str, directory: Path, *, binary: str | None = None,
                 port: int | None = None, proxy_read_timeout: float = 60,
                 extra_locations: str = "", extra_server: str = "", extra_http: str = "",
                 upstream_keepalive: int = 0, pass_request_id: bool = False,
                 root: Path | None = None, tls: bool = False,
                 more_upstreams: tuple[str, ...] = (), proxy_next_upstream: str = "") -> None:
        if upstream.startswith("unix:") or re.fullmatch(r"[\w.\-\[\]:]+:\d+", upstream):
            self.upstream = upstream
        else:
            raise ValueError(f"upstream must be HOST:PORT or unix:/path, not {upstream!r}")
        self.binary = binary or require_nginx()
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port if port is not None else free_port()
        self._port_given = port is not None
        self.proxy_read_timeout = proxy_read_timeout
        self.extra_locations = extra_locations
        self.extra_server = extra_server
        self.extra_http = extra_http
        self.upstream_keepalive = upstream_keepalive
        #: Further servers of the upstream block (a fleet of instances).
        self.more_upstreams = more_upstreams
        #: nginx's proxy_next_upstream value ("" keeps nginx's default: error timeout).
        self.proxy_next_upstream = proxy_next_upstream
        self.pass_request_id = pass_request_id
        self.root = Path(root) if root is not None else self.dir / "html"
        #: With ``tls``: a second listener speaking HTTPS with a self-signed
        #: certificate for 127.0.0.1 (``cert_path`` is its own CA for clients).
        self.tls = tls
        self.tls_port = free_port() if tls else 0
        self.cert_path = self.dir / "cert.pem"
        self.key_path = self.dir / "key.pem"
        self.conf_path = self.dir / "nginx.conf"
        self.pid_path = self.dir / "nginx.pid"
        self.error_log_path = self.dir / "error.log"
        self.access_log_path = self.dir / "access.log"
        self.stderr_path = self.dir / "nginx.stderr"
        self.proc: subprocess.Popen[bytes] | None = None
        self.seen_pids: set[int] = set()

    # -- configuration ---------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def https_url(self) -> str:
        assert self.tls, "this nginx was made without tls=True"
        return f"https://127.0.0.1:{self.tls_port}"

    def config_text(self) -> str:
        d = self.dir
        keepalive = ""
        upstream_http11 = ""
        if self.upstream_keepalive:
            keepalive = f"keepalive {self.upstream_keepalive};"
            upstream_http11 = 'proxy_http_version 1.1; proxy_set_header Connection "";'
        request_id = "proxy_set_header X-Request-ID $request_id;" if self.pass_request_id else ""
        more_servers = " ".join(f"server {address} fail_timeout=0;"
                                for address in self.more_upstreams)
        next_upstream = (f"proxy_next_upstream {self.proxy_next_upstream};"
                         if self.proxy_next_upstream else "")
        timeout = f"{max(1, round(self.proxy_read_timeout * 1000))}ms"
        tls = ""
        if self.tls:
            tls = (f"listen 127.0.0.1:{self.tls_port} ssl; "
                   f"ssl_certificate {self.cert_path}; ssl_certificate_key {self.key_path};")
        text = textwrap.dedent(f"""\
            # Written by tests/nginx_support.py for one test.
            daemon off;
            master_process on;
            worker_processes 1;
            {_user_directive()}
            pid {d}/nginx.pid;
            lock_file {d}/nginx.lock;
            error_log {self.error_log_path} info;

            events {{
                worker_connections 512;
            }}

            http {{
                default_type application/octet-stream;
                sendfile on;
                keepalive_timeout 5;
                client_body_temp_path {d}/client_body_temp;
                proxy_temp_path {d}/proxy_temp;
                fastcgi_temp_path {d}/fastcgi_temp;
                uwsgi_temp_path {d}/uwsgi_temp;
                scgi_temp_path {d}/scgi_temp;
                log_format interop escape=json '{LOG_FORMAT}';
                access_log {self.access_log_path} interop;
                #@extra_http

                upstream app_server {{
                    # fail_timeout=0: always retry the upstream even after a failure.
                    server {self.upstream} fail_timeout=0;
                    {more_servers}
                    {keepalive}
                }}

                server {{
                    listen 127.0.0.1:{self.port} deferred;
                    {tls}
                    server_name _;
                    client_max_body_size 4G;
                    root {self.root};

                    location = {READY_PATH} {{
                        access_log off;
                        return 204;
                    }}
                    #@extra_server
                    #@extra_locations

                    location / {{
                        try_files $uri @proxy_to_app;
                    }}

                    location @proxy_to_app {{
                        {self.PROXY_HEADERS}
                        {request_id}
                        {upstream_http11}
                        proxy_buffering on;
                        {next_upstream}
                        proxy_read_timeout {timeout};
                        proxy_pass http://app_server;
                    }}
                }}
            }}
            """)
        for name in ("extra_http", "extra_server", "extra_locations"):
            text = text.replace(f"#@{name}", getattr(self, name).strip())
        return text

    def write_config(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.tls and not self.cert_path.exists():
            make_self_signed_cert(self.cert_path, self.key_path)
        self.conf_path.write_text(self.config_text())
        return self.conf_path

    def check_config(self) -> None:
        """``nginx -t`` on the written config; raises with nginx's output if it is bad."""
        self.write_config()
        out = subprocess.run(self._command("-t"), capture_output=True, text=True, timeout=20)
        if out.returncode != 0:
            raise AssertionError(f"nginx -t failed:\n{out.stderr}{out.stdout}")

    def _command(self, *extra: str) -> list[str]:
        cmd = [self.binary, "-p", f"{self.dir}/", "-c", str(self.conf_path)]
        if nginx_version(self.binary) >= (1, 19, 5):
            # The error log nginx opens before it has read the config.
            cmd += ["-e", str(self.error_log_path)]
        return [*cmd, *extra]

    # -- lifecycle -------------------------------------------------------

    def start(self, *, wait: bool = True, attempts: int = 3) -> Nginx:
        """Start nginx; retries on another port if a parallel test took this one."""
        for attempt in range(attempts):
            self.write_config()
            for path in (self.stderr_path, self.error_log_path):
                path.unlink(missing_ok=True)
            with open(self.stderr_path, "ab") as err:
                self.proc = subprocess.Popen(self._command(), cwd=self.dir,
                                             stdin=subprocess.DEVNULL, stdout=err,
                                             stderr=subprocess.STDOUT, start_new_session=True)
            if not wait:
                return self
            try:
                self.wait_ready()
                return self
            except AssertionError:
                lost_port = ADDRESS_IN_USE in self.logs()
                self.stop()
                if not lost_port or self._port_given or attempt == attempts - 1:
                    raise
                self.port = free_port()
                if self.tls:
                    self.tls_port = free_port()
        raise AssertionError("unreachable")

    @property
    def pid(self) -> int:
        assert self.proc is not None, "nginx was not started"
        return self.proc.pid

    def read_pid_file(self) -> int | None:
        try:
            return int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None

    def worker_pids(self) -> list[int]:
        if self.proc is None or self.proc.poll() is not None:
            return []
        pids = [p for p in children_of(self.pid) if alive(p)]
        self.seen_pids.update(pids)
        return pids

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(f"GET {READY_PATH} HTTP/1.0\r\nHost: ready\r\n\r\n".encode())
                return sock.recv(64).startswith(b"HTTP/1.1 204")
        except OSError:
            return False

    def wait_ready(self, timeout: float = 15.0) -> None:
        """Poll until the master wrote its pid file, a worker runs and nginx answers."""
        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"nginx exited with {self.proc.returncode}:\n{self.logs()}")
            if ADDRESS_IN_USE in self.logs():  # nginx would retry bind() for 2 s, then exit
                raise AssertionError(f"nginx could not bind:\n{self.logs()}")
            return (self.read_pid_file() == self.pid and bool(self.worker_pids())
                    and self._answers())

        wait_for(ready, timeout, message=f"nginx on port {self.port}")

    def logs(self) -> str:
        parts = []
        for path in (self.stderr_path, self.error_log_path):
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    def error_log(self) -> str:
        return self.error_log_path.read_text(errors="replace") if self.error_log_path.exists() \
            else ""

    def access_entries(self) -> list[dict[str, str]]:
        """The access log so far, one dict per request (complete lines only)."""
        if not self.access_log_path.exists():
            return []
        text = self.access_log_path.read_text(errors="replace")
        lines = text.split("\n")[:-1]  # the last piece is empty or a partial line
        return [json.loads(line) for line in lines if line.strip()]

    def wait_access_entries(self, count: int, timeout: float = 10.0) -> list[dict[str, str]]:
        """Poll until at least ``count`` requests are in the access log."""
        return wait_for(lambda: (e := self.access_entries()) and len(e) >= count and e,
                        timeout, message=f"{count} nginx access log entries")

    def stop(self, timeout: float = 10.0) -> None:
        """QUIT, then TERM, then KILL the master by pid; make sure every worker is gone."""
        if self.proc is None:
            return
        self.worker_pids()
        steps = [(signal.SIGQUIT, timeout / 2), (signal.SIGTERM, timeout / 2),
                 (signal.SIGKILL, 5.0)]
        if self.read_pid_file() != self.pid:
            # Still starting (no signal handlers yet): QUIT's default action dumps core.
            steps = steps[1:]
        for signum, wait in steps:
            if self.proc.poll() is not None:
                break
            self.worker_pids()
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(wait)
        self.proc.wait(5)
        killed = []
        for pid in self.seen_pids:
            if alive(pid) and _is_nginx(pid):  # orphaned by a master that died
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        # A killed process loses its command line while it exits, before it is
        # a zombie: wait for the ones killed here by pid, not by name.
        wait_for(lambda: not any(alive(p) for p in killed)
                 and not any(alive(p) and _is_nginx(p) for p in self.seen_pids), 10,
                 message="nginx workers to be gone")

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def nginx_factory(tmp_path: Path) -> Iterator[Any]:
    """``start(upstream, **options)`` starts an :class:`Nginx`; all are stopped at teardown."""
    binary = require_nginx()
    started: list[Nginx] = []

    def start(upstream: str, **options: Any) -> Nginx:
        nginx = Nginx(upstream, tmp_path / f"nginx{len(started)}", binary=binary, **options)
        started.append(nginx)
        return nginx.start()

    yield start
    errors = []
    for nginx in started:
        try:
            nginx.stop()
        except AssertionError as exc:  # stop every one, then report
            errors.append(exc)
    if errors:
        raise errors[0]
