"""Serve requests on one client connection: the path every worker kind shares.

Strategy: a worker's I/O loop decides *when* a connection has work (the
sync worker right after ``accept``, the threaded worker when its poller
says a parked keep-alive connection is readable) and then calls
:meth:`RequestHandler.serve`. Everything from there is here, once: reading
the request head through the sans-I/O HTTP core, building the environ,
the Gunicorn hooks, running the app, sending its response (coalesced head
and body, ``sendfile`` for file wrappers), error answers (4xx for a bad
request, 500 for a broken app), the access log and the scoreboard updates
that the master's watchdog and the status views read.

The scoreboard is written at fixed points: ``begin`` when the first bytes
of a request are taken (the deadline starts, the client becomes visible),
``in_app`` when the head is parsed (request line, request id and queue time
become visible, the 504 rescue becomes possible), ``writing`` before the
first byte of the response (a 504 is no longer possible) and ``end`` when
the exchange is over (the request is counted: at once by the C slot
writer, in batches by the Python one).
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from workhorse.http import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    LocalProtocolError,
    ProtocolError,
    Request,
    error_response,
)
from workhorse.logs import AccessRecord
from workhorse.scoreboard import RequestSlot
from workhorse.workers.connection import ClientGone, Connection, ReadTimeout, client_text
from workhorse.workers.hook_objects import HookRequest
from workhorse.workers.identity import RequestIds, parse_request_start, printable
from workhorse.wsgi.environ import EnvironBuilder
from workhorse.wsgi.filewrapper import FileWrapper
from workhorse.wsgi.input import EMPTY_INPUT, RequestBody
from workhorse.wsgi.response import AppError, Response
from workhorse.wsgi.trust import TrustedPeers

#: Unread request body the server will read and drop to keep a connection
#: alive after the app answered without reading it; more than this and the
#: connection is closed instead (reading a large upload nobody wants is waste).
MAX_DRAIN = 256 * 1024
#: What the busy/idle access-log atoms see when the format does not use them.
NO_BUSY_IDLE: tuple[int | None, int | None] = (None, None)

Hook = Callable[..., Any]
#: The 504 body of a request its worker ended itself (past its deadline).
TIMED_OUT = "The request took longer than the server's timeout and was stopped."


class DeadlinePassed(BaseException):
    """Raised into a request by a worker that keeps its own deadlines (gevent).

    A BaseException, as ``gevent.Timeout`` is, so that an app's ``except
    Exception`` does not swallow it: the handler answers 504 (or cuts a
    response already started) and the worker serves on.
    """


@dataclass
class HandlerSettings:
    """What the handler reads from the config, resolved once per worker."""

    header_timeout: float
    body_timeout: float
    send_timeout: float
    keepalive: float
    sendfile: bool
    #: Upper-cased; "" when request_id_header is off: ids are still made for
    #: the logs and the status, but not read from proxies nor sent back.
    request_id_header: str
    trusted_forwarders: TrustedPeers
    access_log: bool
    server_header: str
    #: PROXY protocol versions expected from trusted proxies (empty: off).
    proxy_versions: frozenset[int]
    proxy_peers: TrustedPeers
    #: A request that waited longer than this is answered 503 unrun (0: off).
    max_queue_time: float = 0.0


class RequestHandler:
    """Runs the app for the requests of a connection (one instance per thread)."""

    def __init__(
        self,
        *,
        worker: Any,
        app: Callable[..., Any],
        builders: list[EnvironBuilder],
        settings: HandlerSettings,
        slot: RequestSlot,
        log: Any,
        timeout: float,
        pre_request: Hook | None,
        post_request: Hook | None,
        busy_idle: Callable[[], tuple[int, int]] | None,
        slot_id: int,
    ) -> None:
        self.worker = worker
        self.app = app
        self.builders = builders
        self.settings = settings
        self.slot = slot
        self.log = log
        self.timeout = timeout
        self.pre_request = pre_request
        self.post_request = post_request
        self.busy_idle = busy_idle
        self.slot_id = slot_id
        self.ids = RequestIds()
        self.pid = os.getpid()
        # Resolved once: the request path reads these on every request.
        self.hooks = pre_request is not None or post_request is not None
        self.access_log = settings.access_log
        self.gunicorn_access = bool(getattr(log, "gunicorn_access", False))
        self._extend_deadline = _deadline_extender(slot)
        rid = settings.request_id_header
        self._rid_key = "HTTP_" + rid.replace("-", "_") if rid else ""
        self._rid_name = rid.title()
        self._rid_lower = rid.lower()

    # --- entry points ----------------------------------------------------------
    def adopt(self, client: Connection) -> None:
        """A new connection: expect a PROXY header first if its peer is a trusted proxy."""
        versions = self.settings.proxy_versions
        if versions and (client.peer is None or client.peer[0] in self.settings.proxy_peers):
            client.expect_proxy_header(versions)

    def begin(self, client: Connection) -> None:
        """A request starts arriving on ``client``: its deadline starts now."""
        client.on_progress = self._progress if self.timeout else None
        now = time.monotonic()
        self.slot.begin(client.fd, client.label, now, now + self.timeout if self.timeout else 0.0)

    def serve(self, client: Connection, *, may_wait_for_head: bool) -> bool:
        """Serve the requests available on ``client``.

        Returns True when the connection should be kept (keep-alive, parked
        until it is readable again), False when it must be closed. The slot's
        ``begin`` must already have been called. With ``may_wait_for_head``
        False (the threaded worker, which received before calling) an
        incomplete head is not waited for: the connection goes back to the
        poller with what it has so far.
        """
        conn = client.conn
        header_timeout = self.settings.header_timeout
        while True:
            try:
                event = conn.next_event()
                if event is NEED_DATA:
                    if not may_wait_for_head:
                        self.slot.abandon()
                        return True
                    head_deadline = time.monotonic() + header_timeout
                    while event is NEED_DATA:
                        client.receive()
                        event = conn.next_event()
                        if event is NEED_DATA and header_timeout:
                            # The head is partial: each further wait gets only
                            # what is left of header_timeout.
                            left = head_deadline - time.monotonic()
                            if left <= 0:
                                raise ReadTimeout("request head not complete in time")
                            client.set_read_timeout(left)
            except ProtocolError as exc:
                self.reject(client, exc)
                return False
            except ClientGone:
                self.slot.abandon()
                return False
            except ReadTimeout:
                self._head_timeout(client)
                return False
            if type(event) is not Request:
                # The client closed between requests (ConnectionClosed).
                self.slot.abandon()
                return False
            if not self.handle(client, event):
                return False
            conn.start_next_cycle()
            if not conn.trailing_data:
                # (end() left the slot idle.) A worker that waits for heads
                # (sync) serves one request per connection; only the threaded
                # worker parks them.
                return not may_wait_for_head
            # A pipelined request is already buffered: serve it now.
            self.begin(client)

    def _progress(self) -> None:
        """The exchange moved (a body chunk in or out, a slow reader took some):
        the deadline means stuck, not long, so it moves on by ``timeout``."""
        if self.timeout:
            self.slot.extend_deadline(self.timeout)

    # --- one request ---------------------------------------------------------
    def handle(self, client: Connection, request: Request) -> bool:
        """Run the app for ``request`` and send its response. True = keep alive."""
        now_wall = time.time()
        client.requests += 1
        body: Any
        if request.content_length or request.chunked:
            body = RequestBody(self._body_source(client))
        else:
            body = EMPTY_INPUT
        conn = client.conn
        try:
            environ = self.builders[client.listener_index].build(
                request, client.peer, body, client.proxy_environ)
        except ProtocolError as exc:
            self.reject(client, exc)
            return False
        request_id, queue_time = self._request_identity(environ, client, now_wall)
        if self._too_late(queue_time):
            return self._shed(client, request, environ, now_wall, queue_time, request_id, body)
        environ["workhorse.request_id"] = request_id
        environ["workhorse.extend_deadline"] = self._extend_deadline
        hook_req = None
        if self.hooks:
            hook_req = HookRequest(request, client.peer, environ["wsgi.url_scheme"], body,
                                   number=client.requests, proxy_info=client.proxy_environ)
            if self.pre_request is not None:
                self._run_hook("pre_request", self.pre_request, self.worker, hook_req)
            if hook_req.must_close:
                client.conn.close_after_response()
        busy_idle = self.busy_idle() if self.busy_idle is not None else NO_BUSY_IDLE
        self.slot.in_app(request.line.encode("latin-1"), request_id.encode("latin-1"), queue_time)
        # Counted before the app runs (as Gunicorn does), so the response that
        # reaches max_requests already says Connection: close, and so does
        # every response of a worker on its way out.
        worker = self.worker
        worker.count_request()
        if worker.closes_connections():
            conn.close_after_response()
        response = Response(conn, client.send, client.send_parts)
        keep = self._run_app(client, environ, response, request_id)
        if not conn.request_body_complete:
            if keep:
                keep = self._drain(client, body)
            if not conn.request_body_complete:
                client.linger = True
        if hook_req is not None and self.post_request is not None:
            self._run_hook("post_request", self.post_request, self.worker, hook_req, environ,
                           response)
        duration = self.slot.end(response.status_code or 500, time.monotonic(),
                                 client.bytes_in, response.written)
        client.bytes_in = 0
        if self.access_log:
            self._access(client, request, response, environ, now_wall, duration, queue_time,
                         busy_idle, request_id, body, hook_req)
        return keep and conn.keep_alive

    def _too_late(self, queue_time: float | None) -> bool:
        limit = self.settings.max_queue_time
        return bool(limit) and queue_time is not None and queue_time > limit

    def _shed(self, client: Connection, request: Request, environ: dict[str, Any],
              now_wall: float, queue_time: float | None, request_id: str, body: Any) -> bool:
        """Answer 503 without running the app: the request waited past max_queue_time,
        so its client has probably given up (its proxy's timeout, a user's patience)."""
        self.slot.in_app(request.line.encode("latin-1"), request_id.encode("latin-1"), queue_time)
        headers = [("Retry-After", "1")]
        if self._rid_name:
            headers.append((self._rid_name, request_id))
        text = ("The request waited in the queue longer than the server's max_queue_time "
                "and was not run; please retry.")
        response = Response(client.conn, client.send, client.send_parts)
        response.status_code, response.reason = 503, "Service Unavailable"
        try:
            data = error_response(503, text, extra_headers=headers,
                                  server_name=self.settings.server_header)
            client.send(data)
            response.written = len(data)
        except ClientGone:
            pass
        client.linger = not client.conn.request_body_complete
        self.worker.slot_writer.count_shed()
        duration = self.slot.end(503, time.monotonic(), client.bytes_in, response.written)
        client.bytes_in = 0
        if self.access_log:
            self._access(client, request, response, environ, now_wall, duration, queue_time,
                         NO_BUSY_IDLE, request_id, body)
        return False

    def _request_identity(self, environ: dict[str, Any], client: Connection,
                          now_wall: float) -> tuple[str, float | None]:
        """The request id (the trusted proxy's, else a new one) and the queue time."""
        request_id = ""
        queue_time = None
        if client.peer is None or client.peer[0] in self.settings.trusted_forwarders:
            request_id = environ.get(self._rid_key, "")[:64] if self._rid_key else ""
            start = environ.get("HTTP_X_REQUEST_START") or environ.get("HTTP_X_QUEUE_START")
            if start:
                queue_time = parse_request_start(start, now_wall)
            if request_id and not printable(request_id):
                request_id = ""
        return request_id or self.ids.next(), queue_time

    def _run_app(self, client: Connection, environ: dict[str, Any], response: Response,
                 request_id: str) -> bool:
        """Call the app and send what it returns. True when the exchange completed."""
        result: Iterable[bytes] | None = None
        try:
            result = self.app(environ, response.start_response)
            if response.started and self._rid_name:
                response.add_header_once(self._rid_name, self._rid_lower, request_id)
            self._send_body(client, response, result, request_id, environ["REQUEST_METHOD"])
            return True
        except ClientGone as exc:
            self.log.debug("Client %s went away: %s", client_text(client.peer), exc)
            return False
        except DeadlinePassed:  # the worker logged it, with where the request was
            return self._answer_error(client, response, request_id, 504, TIMED_OUT)
        except ProtocolError as exc:
            # The request body was malformed (or too large) while the app read
            # it: the client's fault, answered with its 4xx, not a 500.
            return self._bad_body(client, response, exc)
        except (AppError, LocalProtocolError) as exc:
            self.log.error("Error handling request %s %s: the app broke the WSGI contract: %s",
                           environ.get("REQUEST_METHOD"), environ.get("RAW_URI"), exc)
            return self._answer_error(client, response, request_id, 500)
        except Exception:
            self.log.exception("Error handling request %s %s",
                               environ.get("REQUEST_METHOD"), environ.get("RAW_URI"))
            return self._answer_error(client, response, request_id, 500)
        finally:
            if result is not None and hasattr(result, "close"):
                try:
                    result.close()
                except Exception:
                    self.log.exception("Error closing the app's response iterable")

    def _send_body(self, client: Connection, response: Response, result: Iterable[bytes],
                   request_id: str, environ_method: str) -> None:
        if isinstance(result, FileWrapper):
            if self._sendfile(client, response, result, environ_method):
                return
            span = result.sendfile_span()
            if span is not None and response.started:
                # A regular file has a known length: send it, not chunks.
                response.set_content_length(span[2])
        if type(result) is list and len(result) == 1 and response.sent == 0:
            chunk = result[0]
            if response.started and type(chunk) is bytes and not response.headers_sent:
                # The whole response is known: a length instead of chunks, and
                # head, body and end in one send.
                response.set_content_length(len(chunk))
                self.slot.writing()
                response.write_whole(chunk)
                return
            self.slot.writing()
            response.write(chunk)
        else:
            for chunk in result:
                if not response.started:
                    raise AppError("the app sent body data before calling start_response()")
                if chunk:
                    if not response.headers_sent:
                        self.slot.writing()
                    response.write(chunk)
                    self._progress()  # a stream that flows is not stuck
        if not response.started:
            raise AppError("the app returned without calling start_response()")
        if self._rid_name:
            response.add_header_once(self._rid_name, self._rid_lower, request_id)
        self.slot.writing()
        response.finish()
        if response.content_length is not None and response.sent < response.content_length:
            self.log.error("The app declared Content-Length: %d but sent %d bytes; the "
                           "connection is closed so the client sees a cut response",
                           response.content_length, response.sent)

    def _sendfile(self, client: Connection, response: Response, wrapper: FileWrapper,
                  method: str) -> bool:
        if not self.settings.sendfile or client.is_tls:
            return False
        span = wrapper.sendfile_span()
        if span is None or not response.started:
            return False
        fd, offset, count = span
        if response.content_length is not None:
            count = min(count, response.content_length)
        else:
            response.set_content_length(count)
        self.slot.writing()
        response.send_head()
        if method == "HEAD" or count == 0:
            response.finish()
            return True
        response.sent_elsewhere(client.sendfile(fd, offset, count))
        response.finish()
        return True

    def _bad_body(self, client: Connection, response: Response, exc: ProtocolError) -> bool:
        self.log.info("Invalid request body from %s: %s (%d)", client_text(client.peer),
                      exc.detail or exc, exc.status)
        if response.headers_sent:
            return False  # the app answered already; the connection is cut
        response.status_code = exc.status
        try:
            client.send(error_response(exc.status, exc.reason))
        except ClientGone:
            pass
        return False

    def _answer_error(self, client: Connection, response: Response, request_id: str,
                      status: int, message: str = "") -> bool:
        """The server's own answer (500, 504) instead of the app's; False: close."""
        if response.headers_sent:
            # Part of the response is out: the only honest signal left is to
            # cut the connection so the client sees an incomplete response.
            return False
        response.status_code = status
        try:
            headers = [(self._rid_name, request_id)] if self._rid_name else []
            client.send(error_response(status, message, extra_headers=headers))
        except ClientGone:
            pass
        return False

    def _drain(self, client: Connection, body: Any) -> bool:
        try:
            return bool(body.drain(MAX_DRAIN))
        except (ClientGone, ProtocolError, ReadTimeout):
            return False

    def _body_source(self, client: Connection) -> Callable[[], bytes]:
        conn = client.conn
        continue_checked = False
        body_timeout = self.settings.body_timeout

        def source() -> bytes:
            nonlocal continue_checked
            if not continue_checked:
                continue_checked = True
                interim = conn.send_continue()
                if interim:
                    client.send(interim)
            client.set_read_timeout(body_timeout)
            try:
                event = client.next_event()
            except ReadTimeout as exc:
                raise ClientGone(f"the client stopped sending the request body: {exc}") from exc
            if type(event) is Data:
                self._progress()  # an upload that flows is not stuck
                return bytes(event.data)
            if type(event) is EndOfMessage or event is PAUSED:
                return b""
            if isinstance(event, ConnectionClosed):
                raise ClientGone("the client closed the connection in the middle of the body")
            return b""

        return source

    # --- errors before the app ----------------------------------------------------
    def reject(self, client: Connection, exc: ProtocolError) -> None:
        """Answer a malformed request with its 4xx and log why."""
        self.log.info("Invalid request from %s: %s (%d)", client_text(client.peer),
                      getattr(exc, "detail", None) or exc, exc.status)
        try:
            client.send(error_response(exc.status, str(getattr(exc, "reason", "")) or ""))
        except (ClientGone, OSError):
            pass
        now = time.monotonic()
        self.slot.end(exc.status, now, client.bytes_in, 0)

    def _head_timeout(self, client: Connection) -> None:
        if client.bytes_in:
            self.log.info("Timed out reading a request head from %s", client_text(client.peer))
            try:
                client.send(error_response(408, "Request Timeout"))
            except (ClientGone, OSError):
                pass
        self.slot.abandon()

    # --- hooks and logs --------------------------------------------------------------
    def _run_hook(self, name: str, hook: Hook, *args: Any) -> None:
        try:
            hook(*args)
        except Exception:
            self.log.exception("Exception in %s hook", name)

    def _access(self, client: Connection, request: Request, response: Response,
                environ: dict[str, Any], start: float, duration: float,
                queue_time: float | None, busy_idle: tuple[int | None, int | None],
                request_id: str, body: Any, hook_req: HookRequest | None = None) -> None:
        record = AccessRecord(
            remote_addr=client.peer[0] if client.peer else environ.get("REMOTE_ADDR", "") or "-",
            method=request.method,
            path=request.path,
            query=request.query,
            version=f"HTTP/{request.version[0]}.{request.version[1]}",
            request_line=request.line,
            status=response.status_code or 500,
            reason=response.reason,
            response_length=response.sent,
            request_headers=request.headers,
            response_headers=response.headers,
            environ=environ,
            start_time=start,
            duration=duration,
            pid=self.pid,
            queue_time=queue_time,
            busy_workers=busy_idle[0],
            idle_workers=busy_idle[1],
            slot=self.slot_id,
            request_id=request_id,
            bytes_received=request.head_size + getattr(body, "bytes_read", 0),
        )
        try:
            if self.gunicorn_access:  # a logger_class written for Gunicorn
                req = hook_req or HookRequest(request, client.peer,
                                              environ.get("wsgi.url_scheme", "http"), body)
                req.workhorse_record = record
                self.log.access(response, req, environ, datetime.timedelta(seconds=duration))
            else:
                self.log.access(record)
        except Exception:
            self.log.exception("Failed to write the access log")


def _deadline_extender(slot: RequestSlot) -> Callable[[float], None]:
    """What an app finds in environ["workhorse.extend_deadline"].

    A plain function, so ``extend_deadline(seconds=30)`` works too (the C
    slot writer's method takes positional arguments only).
    """

    def extend_deadline(seconds: float) -> None:
        """Give the current request ``seconds`` from now before the watchdog ends it."""
        slot.extend_deadline(seconds)

    return extend_deadline


