"""One client connection of the asgi worker: bytes to the HTTP core, requests to the app.

Strategy: an ``asyncio.Protocol`` per connection moves bytes between the
transport and :class:`~workhorse.http.ServerConnection`; each request
becomes one task that holds a scoreboard slot for its whole life and runs
the app through :class:`~workhorse.asgi.HTTPCycle` (or a
:class:`~workhorse.asgi.WebSocketSession` for an upgrade). Reading follows
the app: a request body is read only as fast as the app asks for it
(``pause_reading`` above :data:`BODY_BUFFER`), and pipelined requests wait
in the core until the response before them is complete. Writing follows
the client: ``write`` returns an awaitable while the transport's buffer is
above its high-water mark, so a slow reader holds only its own request.

Deadlines (kept by :class:`~workhorse.workers.loop_watch.LoopWatch`): a
request has ``timeout`` seconds to make progress. Until its response
starts, that is ``timeout`` from its start; once the app reads the body or
writes the response, each chunk moves the deadline on, so a stream that
keeps flowing is never cut. An overdue request's task is cancelled: its
client gets a 504 if nothing was written yet, else the connection is cut.
A client that leaves is reported to the app (``http.disconnect``); an app
that keeps running after that is cancelled ``asgi_disconnect_grace_period``
seconds later, so no task outlives its connection for long.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import socket
import time
import traceback
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, cast

from workhorse.asgi import (
    ASGIProtocolError,
    ClientDisconnected,
    HandshakeError,
    HTTPCycle,
    WebSocketSession,
    is_websocket_upgrade,
    unavailable_response,
    websocket_support,
)
from workhorse.http import (
    NEED_DATA,
    ConnectionClosed,
    Data,
    EndOfMessage,
    NeedData,
    ProtocolError,
    Request,
    ServerConnection,
    error_response,
)
from workhorse.http.proxy import parse_proxy_header
from workhorse.logs import AccessRecord
from workhorse.workers.connection import client_text
from workhorse.workers.handler import TIMED_OUT
from workhorse.workers.hook_objects import HookRequest
from workhorse.workers.identity import parse_request_start, printable
from workhorse.workers.loop_watch import InFlight

if TYPE_CHECKING:
    from workhorse.workers.asgi import AsgiWorker

#: Request body buffered for the app before reading pauses.
BODY_BUFFER = 64 * 1024
#: What the access log's busy/idle atoms see when the format does not use them.
NO_BUSY_IDLE: tuple[int | None, int | None] = (None, None)


class ResponseInfo:
    """The ``resp`` of a ``post_request`` hook for an ASGI request (Gunicorn's names)."""

    def __init__(self, status: int, headers: list[tuple[str, str]], sent: int) -> None:
        self.status_code = status
        self.status = f"{status}"
        self.headers = headers
        self.sent = sent
        self.response_length = sent


class HttpConnection(asyncio.Protocol):
    """The protocol of one accepted (or handed over) client connection."""

    def __init__(self, worker: AsgiWorker, listener: int) -> None:
        self.worker = worker
        self.listener = listener
        self.conn = ServerConnection(worker.limits)
        self.transport: asyncio.Transport | None = None
        self.fd = -1
        self.peer: tuple[Any, ...] | None = None
        self.label = b""
        self.proxy_versions: frozenset[int] = frozenset()
        self.proxy_buffer = b""
        self.proxy_environ: dict[str, str] | None = None
        self.task: asyncio.Task[None] | None = None
        self.cycle: HTTPCycle | None = None
        self.websocket: WebSocketSession | None = None
        self.closed = False
        self.bytes_in = 0
        self.received_at = 0.0  # when the current request's head was complete
        self.accepted_at = time.monotonic()
        self.requests = 0
        self._idle_timer: asyncio.TimerHandle | None = None
        #: When an idle connection (or a half-received head) is closed; 0: never.
        self._idle_deadline = 0.0
        #: While the app waits for body bytes: when the client counts as stalled.
        self._body_deadline = 0.0
        self._body_timer: asyncio.TimerHandle | None = None
        #: While a response waits for the client to read: when it counts as stalled.
        self._send_timer: asyncio.TimerHandle | None = None
        self._send_buffered = 0
        self._drained: asyncio.Future[None] | None = None
        self._paused_writing = False

    # --- asyncio's side ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's or uvloop's (which does not subclass asyncio.Transport).
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        self.fd = sock.fileno() if sock is not None else -1
        peer = transport.get_extra_info("peername")
        self.peer = peer if isinstance(peer, tuple) else None
        self.label = client_text(self.peer[:2] if self.peer else None).encode("latin-1",
                                                                            "replace")
        settings = self.worker.settings
        if settings.proxy_versions and (self.peer is None
                                        or self.peer[0] in settings.proxy_peers):
            self.proxy_versions = settings.proxy_versions
        self.worker.connections.add(self)
        self._wait_for_request(settings.header_timeout or settings.keepalive)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_idle_timer()
        for timer in (self._body_timer, self._send_timer):
            if timer is not None:
                timer.cancel()
        self._body_timer = self._send_timer = None
        self.worker.connections.discard(self)
        if self.cycle is not None:
            self.cycle.disconnected()
        if self.websocket is not None:
            self.websocket.disconnected()
        if self.task is not None and not self.task.done():
            self.worker.disconnected(self.task)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._paused_writing = True
        if self.worker.settings.send_timeout and self._send_timer is None:
            self._watch_send()

    def resume_writing(self) -> None:
        self._paused_writing = False
        if self._send_timer is not None:  # the client reads: its send_timeout restarts
            self._send_timer.cancel()
            self._send_timer = None
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        if self.websocket is not None:
            self._to_websocket(data)
            return
        if self.proxy_versions:
            data = self._take_proxy_header(data)
            if not data:
                return
        self.conn.receive_data(data)
        self._process()

    def eof_received(self) -> bool | None:
        """The client closed its side. During a request that means it left (as
        uvicorn takes it): the transport closes and the app hears http.disconnect."""
        if self.websocket is not None:
            self.websocket.receive_data(b"")
            return None
        if self.task is None:
            self.conn.receive_data(b"")
            self._process()
        return None

    # --- reading ----------------------------------------------------------------------
    def _take_proxy_header(self, data: bytes) -> bytes:
        """Strip the PROXY protocol header a trusted proxy sends first."""
        self.proxy_buffer += data
        try:
            result = parse_proxy_header(self.proxy_buffer, eof=False)
            if isinstance(result, NeedData):
                return b""
            info, used = result
            if info.version not in self.proxy_versions:
                raise ProtocolError(400, "Invalid PROXY protocol header",
                                    f"version {info.version} is not accepted here")
        except ProtocolError as exc:
            self._refuse(exc)
            return b""
        rest = self.proxy_buffer[used:]
        self.proxy_versions = frozenset()
        self.proxy_buffer = b""
        if info.family != "UNKNOWN":
            self.proxy_environ = {"REMOTE_ADDR": info.src_addr or "",
                                  "REMOTE_PORT": str(info.src_port)}
        return rest

    def _process(self) -> None:
        """Turn what the core parsed into the app's events, as far as it goes now."""
        conn = self.conn
        while not self.closed:
            try:
                event = conn.next_event()
            except ProtocolError as exc:
                if self.cycle is not None:
                    self._bad_body(exc)
                else:
                    self._refuse(exc)
                return
            if event is NEED_DATA:
                if self.task is None and conn.trailing_data:
                    self._head_started()
                return
            kind = type(event)
            if kind is Request:
                assert isinstance(event, Request)
                self._idle_deadline = 0.0  # its timer, if any, finds nothing to do
                self._start(event)
            elif kind is Data:
                assert isinstance(event, Data)
                self._body(event.data)
            elif kind is EndOfMessage:
                if self.cycle is not None:
                    self.cycle.feed_end()
            elif kind is ConnectionClosed:
                self._close()
                return
            else:  # PAUSED: the next request waits until this response is done
                # Reading goes on (so a client that leaves is noticed and told to
                # the app), unless pipelined requests pile up.
                if (self.transport is not None and self.task is not None
                        and len(conn.trailing_data) > BODY_BUFFER):
                    self.transport.pause_reading()
                return

    def _body(self, data: bytes) -> None:
        cycle = self.cycle
        if cycle is None:
            return
        cycle.feed_body(data)
        if self._body_deadline:  # the client sends: its body_timeout starts again
            self._body_deadline = self.worker.loop.time() + self.worker.settings.body_timeout
        self.worker.progress(self.task)
        if cycle.body_buffered > BODY_BUFFER and self.transport is not None:
            self.transport.pause_reading()

    def _bad_body(self, exc: ProtocolError) -> None:
        """The body of a request in progress is malformed (or over the limit): the
        client gets its 4xx if the response has not started, else a cut."""
        cycle = self.cycle
        assert cycle is not None
        self.worker.log.info("Invalid request body from %s: %s (%d)", client_text(
            self.peer[:2] if self.peer else None), exc.detail or exc, exc.status)
        headers_sent = cycle.headers_sent
        cycle.disconnected()  # the app's receive() says http.disconnect from now on
        if headers_sent:
            self._abort()
        else:
            self._refuse(exc)

    def _on_demand(self) -> None:
        """The app waits for body bytes (or a WebSocket message): read on."""
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()
            if self.cycle is not None and self.worker.settings.body_timeout:
                self._watch_body()

    # --- body_timeout and send_timeout: a client that stalls ------------------------------
    def _watch_body(self) -> None:
        """The app waits for the next chunk of the body: the client has body_timeout
        to send some (a chunk received starts it again), as in the WSGI workers."""
        loop = self.worker.loop
        self._body_deadline = loop.time() + self.worker.settings.body_timeout
        if self._body_timer is None:
            self._body_timer = loop.call_at(self._body_deadline, self._body_check)

    def _body_check(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if self.closed or cycle is None or not cycle.waiting_for_body:
            self._body_deadline = 0.0  # the app is not waiting on the client now
            return
        loop = self.worker.loop
        if loop.time() < self._body_deadline:
            self._body_timer = loop.call_at(self._body_deadline, self._body_check)
            return
        self.worker.log.info("Timed out reading a request body from %s (body_timeout %gs): "
                             "connection closed", client_text(self.peer[:2] if self.peer
                                                              else None),
                             self.worker.settings.body_timeout)
        self._abort()  # the app hears http.disconnect

    def _watch_send(self) -> None:
        self._send_buffered = self._write_buffer_size()
        self._send_timer = self.worker.loop.call_later(self.worker.settings.send_timeout,
                                                       self._send_stalled)

    def _write_buffer_size(self) -> int:
        try:
            return int(self.transport.get_write_buffer_size()) if self.transport else 0
        except (AttributeError, RuntimeError):
            return 0

    def _send_stalled(self) -> None:
        """The client took nothing of the response for send_timeout: cut it (the
        app's next send raises, as it does for a client that left). A client
        that reads, however slowly, is given send_timeout again."""
        self._send_timer = None
        if self.closed or not self._paused_writing:
            return
        if self._write_buffer_size() < self._send_buffered:
            self._watch_send()
            return
        self.worker.log.info("Timed out writing a response to %s (send_timeout %gs): "
                             "connection closed", client_text(self.peer[:2] if self.peer
                                                              else None),
                             self.worker.settings.send_timeout)
        self._abort()

    # --- writing ----------------------------------------------------------------------
    def write(self, data: bytes) -> Awaitable[None] | None:
        """What the app's messages became, onto the socket; waits while it is full."""
        if self.closed or self.transport is None or self.transport.is_closing():
            raise ClientDisconnected()
        self.transport.write(data)
        cycle = self.cycle
        if cycle is None or not cycle.response_complete:  # the last write ends it anyway
            self.worker.progress(self.task)
        elif cycle.request_body_complete:
            # All of the response is out: the connection may serve its next
            # request even if the app goes on (a background task), as uvicorn's does.
            self.worker.loop.call_soon(self._move_on, cycle)
        if not self._paused_writing:
            return None
        if self._drained is None or self._drained.done():
            self._drained = asyncio.get_running_loop().create_future()
        return self._drained

    # --- one request ------------------------------------------------------------------
    def _start(self, request: Request) -> None:
        self.received_at = time.monotonic()
        self.requests += 1
        worker = self.worker
        if worker.closes_connections():
            self.conn.close_after_response()
        if is_websocket_upgrade(request):
            self.task = worker.loop.create_task(self._run_websocket(request))
            worker.track(self.task)
        else:
            self.cycle = HTTPCycle(self.conn, self.write, self._on_demand)
            self.task = worker.loop.create_task(self._run_http(request, self.cycle))
            worker.track_request(self.task)

    async def _run_http(self, request: Request, cycle: HTTPCycle) -> None:
        worker = self.worker
        taken = worker.slots.take()
        entry = (worker.start_request(self, request, taken) if taken is not None
                 else await worker.begin_request(self, request))
        started_wall = time.time()
        status, failed = 0, True
        try:
            scope = worker.builders[self.listener].http_scope(request, self.peer,
                                                             self.proxy_environ)
            request_id, queue_time = self._identity(request, started_wall)
            if worker.request_id_name:
                cycle.extra_header = (worker.request_id_name, request_id)
            # Waiting for a free slot is queueing too.
            waited = (queue_time or 0.0) + (entry.started - self.received_at)
            shed = worker.too_late(waited)
            if shed:
                queue_time = waited
            entry.slot.in_app(request.line.encode("latin-1"), request_id.encode("latin-1"),
                              queue_time)
            if shed:
                await self._shed(cycle)
                failed = False
            else:
                failed = await self._call_app(request, cycle, scope)
            status = cycle.status_code or (499 if self.closed else 500)
            self._log_access(request, cycle, scope, started_wall, entry, queue_time,
                             request_id)
        except ProtocolError as exc:  # the scope refused the request (a 400)
            status = exc.status
            self._refuse(exc)
        finally:
            if self.cycle is cycle:
                cycle.bytes_in, self.bytes_in = self.bytes_in, 0
            worker.end_request(entry, status or 500, cycle.bytes_in, cycle.bytes_written)
        if self.cycle is cycle:
            self._next(failed or not cycle.response_complete)
        else:  # the connection moved on when the response was complete
            worker.tasks.discard(asyncio.current_task())

    async def _call_app(self, request: Request, cycle: HTTPCycle,
                        scope: dict[str, Any]) -> bool:
        """Run the app for one request, with the hooks around it; True if it failed."""
        worker = self.worker
        worker.count_request()
        if not worker.alive:
            self.conn.close_after_response()
        hook_req = worker.pre_request(request, self.peer, scope, self.requests)
        if hook_req is not None and hook_req.must_close:
            self.conn.close_after_response()
        failed = True
        try:
            await worker.app(scope, cycle.receive, cycle.send)
            failed = False
        except asyncio.CancelledError:
            await self._cancelled(cycle)
        except ClientDisconnected:
            pass
        except ASGIProtocolError as exc:
            worker.log.error("Error handling request %s: the app broke the ASGI contract: %s",
                             request.line, exc)
            await self._fail(cycle)
        except Exception as exc:
            if self._gone():  # the client left: the app's error is how it learned that
                worker.log.debug("Request %s ended by the client leaving: the app raised "
                                 "%s: %s", request.line, type(exc).__name__, exc)
            else:
                worker.log.exception("Error handling request %s", request.line)
                await self._fail(cycle)
        if not failed and not cycle.response_complete:
            failed = True
            if self._gone():  # after http.disconnect an app may end without a response
                worker.log.debug("Request %s ended by the client leaving, before a "
                                 "complete response", request.line)
            else:
                worker.log.error("Error handling request %s: the app returned %s",
                                 request.line, "without sending a response"
                                 if not cycle.response_started
                                 else "before its response was complete")
                await self._fail(cycle)
        worker.post_request(hook_req, request, scope, cycle)
        return failed

    def _identity(self, request: Request, now_wall: float) -> tuple[str, float | None]:
        """The request id (a trusted proxy's, else a new one) and the queue time."""
        worker = self.worker
        request_id = ""
        queue_time = None
        if self.peer is None or self.peer[0] in worker.settings.trusted_forwarders:
            wanted = worker.request_id_header
            start = ""
            for name, value in request.headers:
                if name == wanted and not request_id:
                    request_id = value[:64] if printable(value[:64]) else ""
                elif name in ("X-REQUEST-START", "X-QUEUE-START") and not start:
                    start = value
            if start:
                queue_time = parse_request_start(start, now_wall)
        return request_id or worker.ids.next(), queue_time

    async def _cancelled(self, cycle: HTTPCycle) -> None:
        """The task was cancelled: the deadline, a client gone, or a fast stop."""
        if not self.closed and not await cycle.send_error(504, TIMED_OUT):
            self._cut(cycle)  # part of the response is out: only a cut says it is not all

    async def _shed(self, cycle: HTTPCycle) -> None:
        """503 without running the app: it waited past max_queue_time."""
        self.worker.slot_writer.count_shed()
        if not self.closed:
            try:
                await cycle.send_error(503, SHED, retry_after=1)
            except ClientDisconnected:
                pass

    async def _fail(self, cycle: HTTPCycle) -> None:
        if self.closed:
            return
        try:
            if not await cycle.send_error(500):
                self._cut(cycle)
        except ClientDisconnected:
            pass

    def going_away(self) -> None:
        """The worker stops: an open WebSocket is closed now (1012), not held until
        graceful_timeout and then cut; its app is told."""
        session = self.websocket
        if session is None or self.closed:
            return
        frame = session.going_away()
        if frame and self.transport is not None:
            self.transport.write(frame)
            self.transport.resume_reading()  # for the peer's close reply

    def _gone(self) -> bool:
        """The client left (or its connection is being closed)."""
        return self.closed or self.transport is None or self.transport.is_closing()

    def _cut(self, cycle: HTTPCycle) -> None:
        """Abort the connection of an exchange whose response cannot be finished, unless
        the connection has moved on (that response was complete: nothing to cut)."""
        if self.cycle is cycle:
            self._abort()

    def _move_on(self, cycle: HTTPCycle) -> None:
        """The response is complete and the app still runs: the connection goes on
        to its next request; the app's task ends on its own (its slot, its access
        line, its deadline are its own)."""
        if self.cycle is not cycle or self.closed:
            return  # the app returned first (the usual case), or the client left
        cycle.bytes_in, self.bytes_in = self.bytes_in, 0
        self.task = None
        self.cycle = None
        self._next_exchange(close=False)

    def _next(self, close: bool) -> None:
        """The exchange is over: the next request, or the end of the connection."""
        self.worker.tasks.discard(self.task)
        self.task = None
        self.cycle = None
        self._next_exchange(close)

    def _next_exchange(self, close: bool) -> None:
        if self.closed:
            return
        conn = self.conn
        if close or not conn.keep_alive or not conn.response_complete:
            self._close()
            return
        conn.start_next_cycle()
        if self.transport is not None:
            self.transport.resume_reading()
        self._wait_for_request(self.worker.settings.keepalive)
        if conn.trailing_data:  # a pipelined request already here
            self._process()

    # --- WebSocket --------------------------------------------------------------------
    async def _run_websocket(self, request: Request) -> None:
        worker = self.worker
        missing = websocket_support()
        if missing is not None:
            worker.websocket_unavailable(missing)
            self._send_and_close(unavailable_response(worker.settings.server_header))
            self.task = None
            return
        try:
            session = WebSocketSession(self.conn, self.write, on_demand=self._on_demand,
                                       max_message_size=worker.websocket_max_message_size)
        except HandshakeError as exc:
            self._refuse(exc, extra_headers=exc.headers)
            self.task = None
            return
        entry = await worker.begin_request(self, request, alive=lambda: session.accepted)
        status = 0
        try:
            scope = worker.builders[self.listener].websocket_scope(request, self.peer,
                                                                  self.proxy_environ)
            request_id, _ = self._identity(request, time.time())
            entry.slot.in_app(request.line.encode("latin-1"), request_id.encode("latin-1"),
                              None)
            self.websocket = session
            early = self.conn.trailing_data
            if early:
                self._to_websocket(bytes(early))
            failed = False
            try:
                await worker.app(scope, session.receive, session.send)
            except (asyncio.CancelledError, ClientDisconnected):
                failed = True
            except Exception:
                failed = True
                worker.log.exception("Error in WebSocket handler %s", request.line)
            if not self.closed:
                try:
                    await session.finish(app_failed=failed)
                except ClientDisconnected:
                    pass
            status = session.status_code or 500
        except ProtocolError as exc:
            status = exc.status
            self._refuse(exc)
        finally:
            worker.end_request(entry, status or 500, self.bytes_in, session.bytes_written)
            self.task = None
        self._close()

    def _to_websocket(self, data: bytes) -> None:
        session = self.websocket
        assert session is not None
        out = session.receive_data(data)
        if out and self.transport is not None and not self.closed:
            self.transport.write(out)
        self.worker.progress(self.task)
        if session.closed:
            self._close()
        elif not session.wants_data and self.transport is not None:
            self.transport.pause_reading()

    # --- errors and endings -----------------------------------------------------------
    def _refuse(self, exc: ProtocolError, *, extra_headers: Any = ()) -> None:
        """Answer a request the core or the handshake refused, and close."""
        self.worker.log.info("Invalid request from %s: %s (%d)", client_text(
            self.peer[:2] if self.peer else None), exc.detail or exc, exc.status)
        self._send_and_close(error_response(exc.status, exc.reason,
                                            extra_headers=list(extra_headers),
                                            server_name=self.worker.settings.server_header))

    def _send_and_close(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)
        self._close()

    def _close(self) -> None:
        self._cancel_idle_timer()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _abort(self) -> None:
        self._cancel_idle_timer()
        if self.transport is not None:
            self.transport.abort()

    def _wait_for_request(self, seconds: float) -> None:
        """A connection with no request in progress is closed after ``seconds``."""
        self._idle_deadline = 0.0
        if seconds > 0:
            self._idle_until(self.worker.loop.time() + seconds)

    def _head_started(self) -> None:
        """Part of a head arrived: the rest has header_timeout."""
        timeout = self.worker.settings.header_timeout
        if timeout and not self._idle_deadline:
            self._idle_until(self.worker.loop.time() + timeout)

    def _idle_until(self, deadline: float) -> None:
        """Close the connection at ``deadline`` unless a request comes.

        A keep-alive connection gets a new deadline with every request. The
        timer is not moved each time (a new timer per request costs more than
        the request's own bookkeeping): it fires at the old deadline and, if
        the deadline has moved on since, waits again for what is left.
        """
        self._idle_deadline = deadline
        timer = self._idle_timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._idle_timer = self.worker.loop.call_at(deadline, self._idle_check)

    def _idle_check(self) -> None:
        self._idle_timer = None
        deadline = self._idle_deadline
        if not deadline or self.closed:
            return
        if self.worker.loop.time() < deadline:
            self._idle_timer = self.worker.loop.call_at(deadline, self._idle_check)
            return
        self._idle_deadline = 0.0
        self._idle_expired()

    def _idle_expired(self) -> None:
        if self.task is not None or self.closed:
            return
        if self.conn.trailing_data:
            self.worker.log.info("Timed out reading a request head from %s",
                                 client_text(self.peer[:2] if self.peer else None))
            self._send_and_close(error_response(408, "Request Timeout",
                                                server_name=self.worker.settings.server_header))
            return
        self._close()

    def _cancel_idle_timer(self) -> None:
        self._idle_deadline = 0.0
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    @property
    def idle(self) -> bool:
        """Between requests with nothing of the next one read: can be handed over."""
        return (self.task is None and self.websocket is None and not self.closed
                and not self.conn.trailing_data and not self.proxy_buffer
                and self.transport is not None
                and self.transport.get_extra_info("sslcontext") is None)

    def request_waiting(self) -> bool:
        """A next request is on its way: it waits in the kernel not read yet, or
        the connection is new (from the listen queue) and has brought none yet."""
        if not self.requests and time.monotonic() - self.accepted_at < FIRST_REQUEST_GRACE:
            return True
        if self.fd < 0:
            return False
        try:
            with socket.socket(fileno=os.dup(self.fd)) as sock:
                return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except OSError:
            return False

    def hand_over(self) -> int:
        """A duplicate of the socket for another process, and this side closed without a FIN."""
        assert self.transport is not None
        copy = os.dup(self.fd)
        self.closed = True
        self._cancel_idle_timer()
        self.transport.abort()  # our descriptor goes; the copy keeps the connection
        return copy

    # --- the access log ---------------------------------------------------------------
    def _log_access(self, request: Request, cycle: HTTPCycle, scope: dict[str, Any],
                    start: float, entry: InFlight, queue_time: float | None,
                    request_id: str) -> None:
        worker = self.worker
        if not worker.access_log:
            return
        environ = minimal_environ(request, scope, self.peer)
        busy_idle = worker.busy_idle() if worker.busy_idle is not None else NO_BUSY_IDLE
        record = AccessRecord(
            remote_addr=(scope.get("client") or ("-",))[0] if scope else "-",
            method=request.method, path=request.path, query=request.query,
            version=f"HTTP/{request.version[0]}.{request.version[1]}",
            request_line=request.line, status=cycle.status_code or 500, reason="",
            response_length=cycle.bytes_sent, request_headers=request.headers,
            response_headers=cycle.response_headers, environ=environ, start_time=start,
            duration=time.monotonic() - entry.started, pid=worker.own_pid, queue_time=queue_time,
            busy_workers=busy_idle[0], idle_workers=busy_idle[1],
            slot=worker.slot * worker.ctx.board.threads + worker.slot_index(entry),
            request_id=request_id,
            bytes_received=request.head_size + cycle.body_bytes_read,
        )
        try:
            if worker.gunicorn_access:  # a logger_class written for Gunicorn
                req = hook_request(request, self.peer, str(scope.get("scheme", "http")),
                                   self.requests)
                req.workhorse_record = record
                resp = ResponseInfo(cycle.status_code or 500, cycle.response_headers,
                                    cycle.bytes_sent)
                worker.log.access(resp, req, environ,
                                  datetime.timedelta(seconds=record.duration))
            else:
                worker.log.access(record)
        except Exception:
            worker.log.exception("Failed to write the access log")


#: How long a stopping worker waits for the first request of a connection it
#: has just taken from the listen queue (a proxy sends it right after connecting).
FIRST_REQUEST_GRACE = 1.0
#: The 503 body of a request that waited past max_queue_time.
SHED = ("The request waited in the queue longer than the server's max_queue_time and was "
        "not run; please retry.")


def minimal_environ(request: Request, scope: dict[str, Any],
                    peer: tuple[Any, ...] | None) -> dict[str, Any]:
    """What the access log's ``{var}e`` atoms and post_request hooks read (Gunicorn's
    asgi worker gives the same few keys): there is no WSGI environ for an ASGI request."""
    client = scope.get("client") if scope else None
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "RAW_URI": request.target,
        "PATH_INFO": scope.get("path", request.path) if scope else request.path,
        "QUERY_STRING": request.query,
        "SERVER_PROTOCOL": f"HTTP/{request.version[0]}.{request.version[1]}",
        "REMOTE_ADDR": client[0] if client else "",
        "wsgi.url_scheme": scope.get("scheme", "http") if scope else "http",
    }
    for name, value in request.headers:
        key = "HTTP_" + name.replace("-", "_")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def format_task_stack(task: asyncio.Task[Any]) -> str:
    """Where a task waits: the chain of coroutines it awaits, outermost first, down
    to the one that is suspended (``Task.print_stack`` shows only the outermost)."""
    frames = []
    awaited: Any = task.get_coro()
    for _ in range(100):  # a bound, in case of a cycle
        frame = (getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
                 or getattr(awaited, "ag_frame", None))
        if frame is None:
            break
        frames.append((frame, frame.f_lineno))
        awaited = (getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
                   or getattr(awaited, "ag_await", None))
    if not frames:
        return "(the task is not suspended in a coroutine)"
    return "".join(traceback.format_list(traceback.StackSummary.extract(frames))).rstrip()


def hook_request(request: Request, peer: tuple[Any, ...] | None, scheme: str,
                 number: int) -> HookRequest:
    return HookRequest(request, peer[:2] if peer else None, scheme, None, number=number)

