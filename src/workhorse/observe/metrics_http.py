"""``/metrics``, ``/healthz`` and ``/readyz``, served over HTTP by the master itself.

Strategy: one request per connection, in the master's loop, so it answers
while every worker is busy or stuck. The request head is parsed by the same
sans-I/O HTTP core as the workers' requests (with tighter limits: at most
8 KiB in all), so a malformed or hostile request gets the same 4xx a worker
would give it; the answer is built by the core's writer, with
``Connection: close`` and a Content-Length, and the connection is closed.
Bodies are ignored (no endpoint takes one). The answers come from one
snapshot:

- ``/metrics``: :mod:`workhorse.observe.prometheus`, in OpenMetrics when the
  ``Accept`` header prefers ``application/openmetrics-text``, else the text
  format 0.0.4, followed by the application's metrics if a source is given;
- ``/healthz``: 200 "ok" (the master's loop is alive: it answered), or 503
  once no worker has been able to boot for ``boot_failure_unhealthy_after``
  (so a liveness probe restarts an instance whose app cannot start);
- ``/readyz``: 200 when a ready worker has an idle request slot, i.e. a
  request sent now would be taken at once; else 503 with the reason (also
  while the server stops, from the TERM on);
- ``/status``, ``/status.json``, ``/status/history.json``: the status page
  for browsers (:mod:`workhorse.observe.status_page`, which builds them).
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from workhorse import SERVER_SOFTWARE
from workhorse.config.settings import Config
from workhorse.http import (
    Limits,
    ProtocolError,
    Request,
    ServerConnection,
    complete_response,
)
from workhorse.observe import status_page
from workhorse.observe.history import HistorySampler
from workhorse.observe.oneshot import CLIENT_TIMEOUT, MAX_CONNECTIONS, OneShotServer
from workhorse.observe.prometheus import (
    CONTENT_TYPE_OPENMETRICS,
    CONTENT_TYPE_TEXT,
    merge_app_metrics,
    render,
)
from workhorse.observe.schema import Snapshot
from workhorse.observe.sockets import FileIdentity, bind_address, unlink_if_ours

#: A scraper's request head is a few hundred bytes; browsers stay far below this.
MAX_HEAD = 8 * 1024
#: The HTTP core's limits for this listener: no line longer than the whole head.
LIMITS = Limits(max_request_line=MAX_HEAD, max_header_count=100,
                max_header_field_size=MAX_HEAD, max_head_size=MAX_HEAD)
OPENMETRICS_TYPE = "application/openmetrics-text"
TEXT_TYPES = ("text/plain", "text/*", "*/*")
METHODS = ("GET", "HEAD")
TEXT = "text/plain; charset=utf-8"

AppMetrics = Callable[[], bytes]


def response(status: int, body: bytes, *, content_type: str = TEXT, head_only: bool = False,
             extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A complete response that closes the connection, never cached."""
    return complete_response(status, body, content_type=content_type, head_only=head_only,
                             extra_headers=(("Cache-Control", "no-store"), *extra),
                             server_name=SERVER_SOFTWARE)


def read_request(data: bytes, *, eof: bool = False) -> Request | ProtocolError | None:
    """The request at the start of ``data``, the client's mistake, or None: no
    request yet, or none at all (the client closed before sending one)."""
    conn = ServerConnection(LIMITS)
    conn.receive_data(data)
    if eof:
        conn.receive_data(b"")
    try:
        event = conn.next_event()
    except ProtocolError as exc:
        return exc
    return event if isinstance(event, Request) else None


def liveness(snapshot: Snapshot, unhealthy_after: float) -> tuple[bool, str]:
    """Is the instance worth keeping: False once no worker could boot for too long."""
    failing_for = snapshot["summary"].get("unable_to_boot_for")
    if unhealthy_after and failing_for is not None and failing_for >= unhealthy_after:
        return False, (f"no worker has been able to boot for {failing_for:.0f}s "
                       f"({snapshot['summary']['boot_failures_in_a_row']} failures in a row)")
    return True, "ok"


def header(request: Request, name: str) -> str:
    """A request header's values joined by commas ("" if absent); ``name`` upper-case."""
    return ", ".join(value for field, value in request.headers if field == name)


def wants_openmetrics(accept: str) -> bool:
    """True when the Accept header rates OpenMetrics at least as high as plain text."""
    best_openmetrics = 0.0
    best_text = 0.0
    for media_range in accept.split(","):
        kind, *params = (part.strip() for part in media_range.split(";"))
        quality = _quality(params)
        if kind.lower() == OPENMETRICS_TYPE:
            best_openmetrics = max(best_openmetrics, quality)
        elif kind.lower() in TEXT_TYPES:
            best_text = max(best_text, quality)
    return best_openmetrics > 0 and best_openmetrics >= best_text


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return max(0.0, min(1.0, float(value)))
            except ValueError:
                return 0.0
    return 1.0


def readiness(snapshot: Snapshot) -> tuple[bool, str]:
    """Can a request be taken right now, and a one-line reason."""
    summary = snapshot["summary"]
    if summary.get("draining"):
        return False, "stopping: this instance takes no new work (TERM received)"
    if summary["idle"] > 0:
        return True, f"ready: {summary['idle']} idle request slot(s)"
    if summary["workers_ready"] == 0:
        return False, (f"no worker is ready ({summary['workers_booting']} booting, target"
                       f" {summary['target_workers']})")
    return False, f"all {summary['slots_total']} request slots are busy"


class MetricsServer(OneShotServer):
    """The master plugin serving the metrics and health endpoints on ``bind``.

    ``app_metrics`` returns the application's metrics in the text format
    0.0.4 (e.g. ``prometheus_client.generate_latest`` over a multiprocess
    registry); ``app_metrics_openmetrics`` the same in OpenMetrics. A
    scraper that prefers OpenMetrics gets it only when every part can be
    written in it, i.e. when there are no app metrics or both are given.
    """

    name = "metrics endpoint"
    max_request = MAX_HEAD

    def __init__(self, bind: str, app_metrics: AppMetrics | None = None, *,
                 app_metrics_openmetrics: AppMetrics | None = None,
                 client_timeout: float = CLIENT_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS,
                 history: HistorySampler | None = None,
                 unhealthy_after: float = 0.0) -> None:
        super().__init__(client_timeout=client_timeout, max_connections=max_connections)
        self.bind = bind
        self.unhealthy_after = unhealthy_after
        self.app_metrics = app_metrics
        self.app_metrics_openmetrics = app_metrics_openmetrics
        self.history = history
        self._identity: FileIdentity | None = None
        self._path = ""

    @classmethod
    def from_config(cls, cfg: Config, app_metrics: AppMetrics | None = None, *,
                    app_metrics_openmetrics: AppMetrics | None = None,
                    history: HistorySampler | None = None) -> MetricsServer | None:
        """The server ``metrics_bind`` asks for; None when it is unset."""
        if not cfg.metrics_bind:
            return None
        return cls(cfg.metrics_bind, app_metrics,
                   app_metrics_openmetrics=app_metrics_openmetrics, history=history,
                   unhealthy_after=cfg.boot_failure_unhealthy_after)

    # --- socket ----------------------------------------------------------------------
    def open_listener(self) -> socket.socket:
        sock, self._identity = bind_address(self.bind)
        if sock.family == socket.AF_UNIX:
            self._path = str(sock.getsockname())
        return sock

    def close_listener(self, sock: socket.socket) -> None:
        try:
            unlink_if_ours(self._path, self._identity)
        except OSError as exc:
            self._log().warning("metrics endpoint: cannot remove %s: %s", self._path, exc)
        self._identity = None
        sock.close()

    @property
    def address(self) -> str:
        """Where it listens now ("host:port" or a path), "" when not listening."""
        if self.listener is None:
            return ""
        name = self.listener.getsockname()
        if isinstance(name, str):
            return name
        host, port = name[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    # --- HTTP ------------------------------------------------------------------------
    def request_length(self, data: bytearray, eof: bool) -> int | None:
        """All of it once the head is complete, or the client made a mistake."""
        return None if read_request(bytes(data), eof=eof) is None else len(data)

    def answer(self, data: bytes) -> bytes:
        request = read_request(data, eof=True)
        if not isinstance(request, Request):
            problem = request or ProtocolError(400, "Bad Request", "no request")
            self._log().info("metrics endpoint: invalid request: %s (%d)",
                             problem.detail or problem, problem.status)
            return response(problem.status, f"{problem.reason}\n".encode())
        if request.method not in METHODS:
            return response(405, b"only GET and HEAD\n", extra=(("Allow", "GET, HEAD"),))
        head_only = request.method == "HEAD"
        path = request.path
        if path == "/metrics":
            return self._metrics(header(request, "ACCEPT"), head_only)
        if path == "/healthz":
            return self._healthz(head_only)
        if path == "/readyz":
            return self._readyz(head_only)
        if status_page.serves(path):
            return self._status_page(path, head_only)
        return response(404, b"not found: try /metrics, /healthz, /readyz or /status\n",
                        head_only=head_only)

    def _metrics(self, accept: str, head_only: bool) -> bytes:
        assert self._arbiter is not None
        openmetrics = wants_openmetrics(accept) and (
            self.app_metrics is None or self.app_metrics_openmetrics is not None)
        body = render(self._arbiter.snapshot(), openmetrics=openmetrics)
        source = self.app_metrics_openmetrics if openmetrics else self.app_metrics
        if source is not None:
            body = merge_app_metrics(body, self._app_text(source), openmetrics=openmetrics)
        content_type = CONTENT_TYPE_OPENMETRICS if openmetrics else CONTENT_TYPE_TEXT
        return response(200, body, content_type=content_type, head_only=head_only)

    def _app_text(self, source: AppMetrics) -> bytes:
        try:
            return source()
        except Exception:
            self._log().exception("metrics endpoint: the application's metrics failed;"
                                  " serving workhorse's alone")
            return b""

    def _healthz(self, head_only: bool) -> bytes:
        """The master's loop answered: alive, unless no worker could boot for too long
        (a broken snapshot does not make the master unhealthy)."""
        assert self._arbiter is not None
        live, reason = True, "ok"
        if self.unhealthy_after:
            try:
                live, reason = liveness(self._arbiter.snapshot(), self.unhealthy_after)
            except Exception:
                self._log().exception("metrics endpoint: no snapshot for /healthz")
        return response(200 if live else 503, f"{reason}\n".encode(), head_only=head_only)

    def _readyz(self, head_only: bool) -> bytes:
        assert self._arbiter is not None
        ready, reason = readiness(self._arbiter.snapshot())
        return response(200 if ready else 503, f"{reason}\n".encode(), head_only=head_only)

    def _status_page(self, path: str, head_only: bool) -> bytes:
        assert self._arbiter is not None
        history = self.history.document if self.history is not None else None
        page = status_page.answer(path, self._arbiter.snapshot, history)
        return response(page.status, page.body, content_type=page.content_type,
                        head_only=head_only, extra=page.headers)

    def too_large(self) -> bytes:
        return response(431, f"request head larger than {MAX_HEAD} bytes\n".encode())

    def busy(self) -> bytes:
        return response(503, b"too many connections\n", extra=(("Retry-After", "1"),))

    def failure(self) -> bytes:
        return response(500, b"internal error; see the master's error log\n")
