"""Warm-up requests in the master (the ``warmup`` setting), before the first fork.

Strategy: with ``preload_app``, once the app is loaded the master calls it
once per configured path, with the environ a worker would build for a GET
of it on the first listener (the same builder; no socket, no body), and
reads and closes the response. What a WSGI app builds on its first request
(Django: the URL resolver, compiled templates, translation catalogs, view
modules imported lazily, model metadata caches) is then built once, in pages
every worker inherits, instead of once per worker in memory of its own; the
master's gc.freeze() runs after it, so it is frozen with the rest.

The app runs in the master, so whatever it leaves open there is inherited by
every worker: a database connection shared by several processes corrupts its
protocol, and a thread does not survive fork(). A :class:`Guard` notes the
master's file descriptors and threads before the warm-up; the master refuses
to fork while one the warm-up opened is still open (it may be closed in
``when_ready``). A request that raises or answers 5xx is logged as a warning
and the start goes on: the workers run the same code as they would have.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from workhorse.http import Request
from workhorse.wsgi.environ import EnvironBuilder, EnvironPolicy, ListenerInfo
from workhorse.wsgi.filewrapper import FileWrapper
from workhorse.wsgi.trust import TrustedPeers

#: The Host a warm-up request says when the listener is a wildcard or a Unix socket.
DEFAULT_HOST = "localhost"
WILDCARDS = ("0.0.0.0", "::", "")
#: Where the warm-up requests say they come from.
PEER = ("127.0.0.1", 0)


def request_for(spec: str, listener: ListenerInfo) -> tuple[Request, str | None]:
    """A warmup entry as the request a client would send: '/path?query' or a full URL.

    A path says the listener's address as Host (localhost for a wildcard or a
    Unix socket); a URL says its own host and, for the returned scheme, its
    scheme (None: the listener's).
    """
    scheme = None
    if "://" in spec:
        parts = urlsplit(spec)
        scheme = parts.scheme
        host = parts.netloc.rpartition("@")[2]
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    else:
        host = _listener_host(listener)
        target = spec
    path, _, query = target.partition("?")
    request = Request(method="GET", target=target, path=path or "/", query=query,
                      version=(1, 1), headers=[("HOST", host), ("USER-AGENT", "workhorse-warmup")],
                      content_length=None, chunked=False, keep_alive=False,
                      expect_continue=False, absolute_scheme=None, absolute_authority=None,
                      head_size=0, line=f"GET {target} HTTP/1.1")
    return request, scheme


def _listener_host(listener: ListenerInfo) -> str:
    name = listener.server_name
    if listener.is_unix or name in WILDCARDS:
        name = DEFAULT_HOST
    elif ":" in name:
        name = f"[{name}]"
    default_port = "443" if listener.is_ssl else "80"
    if listener.is_unix or listener.server_port in ("", default_port):
        return name
    return f"{name}:{listener.server_port}"


def builder(listener: ListenerInfo | None, *, script_name: str, is_ssl: bool,
            multithread: bool, multiprocess: bool) -> EnvironBuilder:
    """The environ builder a worker would use on the first listener (no trusted peers)."""
    if listener is None:
        listener = ListenerInfo(server_name="", server_port="", is_unix=True, is_ssl=is_ssl)
    policy = EnvironPolicy(trusted_forwarders=TrustedPeers([]), secure_scheme_headers={},
                           forwarder_headers=frozenset(), header_map="drop",
                           script_name=script_name, multithread=multithread,
                           multiprocess=multiprocess)
    return EnvironBuilder(policy, listener, sys.stderr, FileWrapper)


def environ_for(spec: str, build: EnvironBuilder) -> dict[str, Any]:
    """The environ a worker would build for GET spec, with no body."""
    request, scheme = request_for(spec, build.listener)
    environ = build.build(request, PEER, io.BytesIO())
    if scheme:
        environ["wsgi.url_scheme"] = scheme
    environ["workhorse.warmup"] = True
    return environ


def call(app: Callable[..., Any], environ: dict[str, Any]) -> int:
    """Call the app, read the whole body, close it; returns the status code."""
    status: list[str] = []

    def start_response(line: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        status[:] = [line]
        return lambda data: None

    body: Iterable[bytes] = app(environ, start_response)
    try:
        for _ in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return int(status[0].split(None, 1)[0]) if status else 0


def run(app: Callable[..., Any], specs: Sequence[str], build: EnvironBuilder, log: Any) -> None:
    """Each warm-up request in turn; a failure is logged, never raised."""
    for spec in specs:
        started = time.monotonic()
        try:
            code = call(app, environ_for(spec, build))
        except Exception:
            log.warning("Warm-up GET %s failed (the workers will run it cold):\n%s", spec,
                        traceback.format_exc())
            continue
        ms = (time.monotonic() - started) * 1000
        if code >= 500 or code == 0:
            log.warning("Warm-up GET %s answered %s in %.0f ms", spec, code or "nothing", ms)
        else:
            log.info("Warm-up GET %s: %s in %.0f ms", spec, code, ms)


class Guard:
    """What the warm-up opened, to find what of it is still open at the first fork.

    Built before the warm-up; ``done()`` after it keeps what it opened (the
    master opens descriptors of its own afterwards: those are not suspects).
    """

    def __init__(self) -> None:
        self._before = open_fds()
        self._threads_before = {t.ident for t in threading.enumerate()}
        self.fds: dict[int, tuple[int, int]] = {}
        self.threads: list[threading.Thread] = []

    def done(self) -> None:
        self.fds = {fd: identity for fd, identity in open_fds().items()
                    if self._before.get(fd) != identity}
        self.threads = [t for t in threading.enumerate() if t.ident not in self._threads_before]

    def leftovers(self) -> list[str]:
        """What the warm-up opened and is still open: each described for the log."""
        now = open_fds()
        found = [f"file descriptor {fd} ({describe_fd(fd)})"
                 for fd, identity in self.fds.items() if now.get(fd) == identity]
        found += [f"thread {t.name!r}" for t in self.threads if t.is_alive()]
        return found


def open_fds() -> dict[int, tuple[int, int]]:
    """Every open descriptor of this process, with the identity (device, inode) of its file."""
    found = {}
    for entry in os.listdir("/proc/self/fd"):
        fd = int(entry)
        try:
            st = os.fstat(fd)
        except OSError:
            continue  # the directory's own descriptor, closed again
        found[fd] = (st.st_dev, st.st_ino)
    return found


def describe_fd(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"
