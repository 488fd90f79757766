"""Ways to reach an app in the interop tests: workhorse directly, or behind nginx.

A :class:`StackPool` starts, lazily, one workhorse server per worker kind
(``sync``, ``gthread``, ``gevent`` for a WSGI app, ``asgi`` for an ASGI one),
bound to both a TCP port and a UNIX socket, and one nginx per (kind, path)
where the path is ``direct``, ``nginx-tcp`` or ``nginx-unix``;
:meth:`StackPool.close` stops all of them by pid.
:func:`start_app_server` starts one such server on its own, for tests that
need particular settings or send signals.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nginx_support import Nginx, require_nginx, unix_socket_path
from support import Server, free_port, wait_for

#: The worker kinds that serve a WSGI app.
KINDS: dict[str, list[str]] = {
    "sync": ["-k", "sync"],
    "gthread": ["-k", "gthread", "--threads", "4"],
    "gevent": ["-k", "gevent"],
}
#: Every kind :func:`start_app_server` starts: the WSGI ones, and asgi for an ASGI app.
SERVER_KINDS: dict[str, list[str]] = {**KINDS, "asgi": ["-k", "asgi"]}
VIAS = ("direct", "nginx-tcp", "nginx-unix")
ALL_STACKS = [(kind, via) for kind in KINDS for via in VIAS]
NGINX_STACKS = [(kind, via) for kind, via in ALL_STACKS if via != "direct"]
ASGI_STACKS = [("asgi", via) for via in VIAS]
#: The access log format of the pool's servers: status, request id, queue time.
ACCESS_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s rid=%(rid)s queue_ms=%(queue_ms)s'


def stack_id(param: tuple[str, str]) -> str:
    return "-".join(param)


@dataclass
class Stack:
    """One way to reach the app: a workhorse server, maybe behind an nginx."""

    kind: str
    via: str
    server: Server
    nginx: Nginx | None
    sock_path: str

    @property
    def url(self) -> str:
        return self.nginx.url if self.nginx is not None else self.server.url

    @property
    def port(self) -> int:
        return self.nginx.port if self.nginx is not None else self.server.port

    @property
    def proxied(self) -> bool:
        return self.nginx is not None


def start_app_server(args: Sequence[str], directory: Path, *, kind: str, cwd: Path,
                     workers: int = 2, extra: Sequence[str] = (),
                     env: dict[str, str] | None = None) -> tuple[Server, str]:
    """A workhorse server bound to a free TCP port and a UNIX socket; returns (server, sock)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    sock = unix_socket_path(directory, f"{kind}.sock")
    server = Server([*SERVER_KINDS[kind], "-w", str(workers), "-b", f"127.0.0.1:{port}",
                     "-b", f"unix:{sock}", "--chdir", str(cwd),
                     "--access-logfile", str(directory / f"{kind}-access.log"),
                     "--access-logformat", ACCESS_FORMAT, *extra, *args],
                    cwd=cwd, port=port, env=env, log_path=directory / f"{kind}-server.log")
    try:
        server.start(wait=False)
        wait_serving(server)
    except BaseException:
        server.stop()
        raise
    return server, sock


def wait_serving(server: Server, timeout: float = 15.0) -> None:
    """Like ``Server.wait_ready``, but fails at once if the app cannot be imported."""
    def answering() -> bool:
        if server.proc is not None and server.proc.poll() is not None:
            raise AssertionError(f"server exited with {server.proc.returncode}:\n{server.log()}")
        if "failed to load the application" in server.log():
            raise AssertionError(f"the app does not load:\n{server.log()}")
        return server.request_ok("/")

    wait_for(answering, timeout, message=f"server on port {server.port}")


class StackPool:
    """The servers and nginxes of one test module, started on first use."""

    def __init__(self, directory: Path, app_args: Sequence[str], cwd: Path,
                 nginx_options: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.dir = directory
        self.app_args = list(app_args)
        self.cwd = cwd
        self.env = env
        self.nginx_options = {"pass_request_id": True, **(nginx_options or {})}
        self.servers: dict[str, tuple[Server, str]] = {}
        self.nginxes: dict[tuple[str, str], Nginx] = {}
        self.failed: dict[str, str] = {}

    def server(self, kind: str) -> tuple[Server, str]:
        if kind in self.failed:  # do not retry a boot that failed for every test
            pytest.fail(self.failed[kind])
        if kind not in self.servers:
            try:
                self.servers[kind] = start_app_server(self.app_args, self.dir / kind,
                                                      kind=kind, cwd=self.cwd, env=self.env)
            except AssertionError as exc:
                self.failed[kind] = f"workhorse ({kind}) did not start: {exc}"
                raise
        return self.servers[kind]

    def get(self, kind: str, via: str) -> Stack:
        server, sock = self.server(kind)
        nginx = None
        if via != "direct":
            key = (kind, via)
            if key not in self.nginxes:
                binary = require_nginx()
                upstream = f"127.0.0.1:{server.port}" if via == "nginx-tcp" else f"unix:{sock}"
                nginx = Nginx(upstream, self.dir / f"{kind}-{via}", binary=binary,
                              **self.nginx_options)
                self.nginxes[key] = nginx
                nginx.start()
            nginx = self.nginxes[key]
        return Stack(kind, via, server, nginx, sock)

    def close(self) -> None:
        errors: list[BaseException] = []
        for item in [*self.nginxes.values(), *(s for s, _ in self.servers.values())]:
            try:
                item.stop()
            except Exception as exc:  # stop every one, then report
                errors.append(exc)
        if errors:
            raise errors[0]


@contextlib.contextmanager
def stack_pool(directory: Path, app_args: Sequence[str], cwd: Path, **kwargs: Any) -> Any:
    pool = StackPool(directory, app_args, cwd, **kwargs)
    try:
        yield pool
    finally:
        pool.close()
