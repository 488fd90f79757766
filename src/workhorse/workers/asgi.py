"""The asgi worker: ASGI 3 applications on one event loop, supervised per request.

Strategy: one asyncio loop per worker process (uvloop when installed and
``asgi_loop`` allows it) accepts on the shared listeners and serves every
connection through :class:`~workhorse.workers.asgi_connection.HttpConnection`.
Booting runs the app's lifespan startup before the worker says it is ready,
so a failing startup is a failed boot (logged with the app's traceback,
backed off by the master). While it serves, the loop supervises itself
(:mod:`workhorse.workers.loop_watch`): every request in flight holds a
scoreboard slot, overdue ones are cancelled and answered 504 while the
others carry on, and a loop that stops turning is reported with the stack
that blocks it and, at a deadline, ended by the master like a stuck sync
worker.

Stopping (TERM, max_requests, the master replacing it) stops accepting,
answers what is in flight with ``Connection: close``, gives idle keep-alive
connections to the master (which passes them to a sibling, as the gthread
worker does), waits up to ``graceful_timeout`` for the requests still
running, then runs the lifespan shutdown.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import time
from typing import Any

from workhorse import handoff
from workhorse.asgi import Lifespan, Outcome, ScopeBuilder
from workhorse.asgi.app_loader import as_asgi3
from workhorse.config.worker_classes import uvicorn_overrides
from workhorse.http import Request
from workhorse.scoreboard import ExitReason, RequestSlot
from workhorse.workers import serving
from workhorse.workers.asgi_connection import (
    HttpConnection,
    format_task_stack,
    hook_request,
    minimal_environ,
)
from workhorse.workers.base import WORKER_BOOT_ERROR, Worker, take_the_queue
from workhorse.workers.handler import TIMED_OUT
from workhorse.workers.identity import RequestIds
from workhorse.workers.loop_watch import InFlight, LoopWatch, SlotPool
from workhorse.wsgi.errors import ErrorStream

#: How often a stopping worker looks at what is left.
STOP_POLL = 0.05
#: Longest a stopping worker waits for room in the master's hand-off queue.
HANDOFF_WAIT = 1.0
#: The lifespan's startup and shutdown each get this long (Gunicorn's figure).
LIFESPAN_TIMEOUT = 30.0


def new_loop(choice: str, log: Any) -> asyncio.AbstractEventLoop:
    """The event loop ``asgi_loop`` asks for: uvloop when "auto" finds it, else asyncio."""
    if choice in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                log.warning("asgi_loop = uvloop, but uvloop is not installed (pip install "
                            "'workhorse[uvloop]'): using asyncio")
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class AsgiWorker(Worker):
    accepts_handoff = True

    # --- boot ---------------------------------------------------------------------------
    def setup(self) -> None:
        cfg = self.cfg
        for name, value in uvicorn_overrides(cfg.worker_class).items():
            setattr(cfg, name, value)  # a uvicorn subclass's CONFIG_KWARGS
        self.app = as_asgi3(self.wsgi)
        self.limits = serving.http_limits(cfg)
        self.settings = serving.handler_settings(cfg, self.log)
        self.request_id_header = self.settings.request_id_header
        #: The response header with the request id ("" when request_id_header is off).
        self.request_id_name = self.request_id_header.title()
        self.websocket_max_message_size = cfg.websocket_max_message_size
        self.own_pid = os.getpid()
        self.access_log = self.settings.access_log
        self.gunicorn_access = bool(getattr(self.log, "gunicorn_access", False))
        self.busy_idle = (self.ctx.board.count_busy_idle
                          if serving.needs_busy_idle(cfg, self.log) else None)
        self.pre_request_hook = serving.user_hook(cfg, "pre_request")
        self.post_request_hook = serving.user_hook(cfg, "post_request")
        self.ids = RequestIds()
        self.timeout = float(cfg.timeout or 0)
        self.connections: set[HttpConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._entries: dict[asyncio.Task[None], InFlight] = {}
        self._slot_index: dict[int, int] = {}
        self._websocket_said = False
        board = self.ctx.board
        self.slots = SlotPool([board.request_writer(self.slot, t) for t in range(board.threads)])
        self.loop = new_loop(cfg.asgi_loop, self.log)
        self.loop.set_exception_handler(self._loop_error)
        asyncio.set_event_loop(self.loop)
        self.lifespan = Lifespan(self.app, cfg.asgi_lifespan, timeout=LIFESPAN_TIMEOUT)
        self._start_lifespan()
        policy = serving.environ_policy(cfg, multithread=False)
        self.builders = [ScopeBuilder(policy, listener.info, self.lifespan.state)
                         for listener in self.sockets]
        self.watch = LoopWatch(self.slot_writer, timeout=self.timeout,
                               blocked_after=float(cfg.blocked_loop_timeout or 0),
                               dump_fd=self.ctx.dump_fd, on_tick=self._tick)
        self.tls_module, self.tls = serving.tls_support(cfg)
        self.errors = ErrorStream(self.log.error_log)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """What asyncio would print to stderr goes to the error log, with its traceback."""
        error = context.get("exception")
        message = context.get("message", "Error in the event loop")
        if error is not None:
            self.log.error("%s", message, exc_info=(type(error), error, error.__traceback__))
        else:
            self.log.error("%s", message)

    def _start_lifespan(self) -> None:
        result = self.loop.run_until_complete(self.lifespan.startup())
        if result.outcome == Outcome.FAILED:
            self.exit_reason = ExitReason.BOOT_ERROR
            self.log.error("Worker %s failed to boot: the application's lifespan startup "
                           "failed: %s", self.pid, result.detail)
            raise SystemExit(WORKER_BOOT_ERROR)
        if result.outcome == Outcome.UNSUPPORTED:
            self.log.debug("The application does not run the lifespan protocol (%s); serving "
                           "without it", result.detail)

    # --- run ----------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            self.watch.stop()
            self._shutdown_lifespan()
            for slot in self.slots.free:
                slot[1].flush()
            self.loop.close()

    async def _serve(self) -> None:
        loop = self.loop
        ssl_context = self.tls if self.tls is not None else None
        servers = [await loop.create_server(
            functools.partial(HttpConnection, self, index), sock=listener.sock,
            backlog=int(self.cfg.backlog), ssl=ssl_context)
            for index, listener in enumerate(self.sockets)]
        self._stopping = loop.create_future()
        handoff_sock = self.handoff_socket()
        if handoff_sock is not None:
            loop.add_reader(handoff_sock.fileno(), self._adopt_handed, handoff_sock)
            handoff.announce_ready(handoff_sock)
        loop.add_reader(self.wakeup_fd, self._on_wakeup)
        self.watch.start()
        await self._stopping
        loop.remove_reader(self.wakeup_fd)
        if self.serves_the_queue_on_stop():
            self._take_queued()
        for server in servers:
            server.close()  # stop accepting: our copy of the listener goes
        await self._drain(handoff_sock)

    def _on_wakeup(self) -> None:
        self.drain_wakeup()
        self._check_alive()

    def _tick(self, now: float) -> None:
        self.slot_writer.set_connections(len(self.connections))
        if len(self.tasks) > 2 * len(self.connections) + 64:
            self.tasks = {task for task in self.tasks if not task.done()}
        if now >= self._next_parent_check:
            self._next_parent_check = now + 1.0
            if not self.parent_alive():
                self.alive = False
        self._check_alive()

    _next_parent_check = 0.0

    def _check_alive(self) -> None:
        if not self.alive and not self._stopping.done():
            self._stopping.set_result(None)

    # --- requests -----------------------------------------------------------------------
    def track(self, task: asyncio.Task[None]) -> None:
        """Known until it ends, so a stop can wait for it (or cancel it)."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def track_request(self, task: asyncio.Task[None]) -> None:
        """As :meth:`track`, for an HTTP request's task, without a done callback per
        request: the task leaves the set itself as it ends (HttpConnection._next);
        one that ended otherwise is dropped by the tick or the stop."""
        self.tasks.add(task)

    async def begin_request(self, connection: HttpConnection, request: Request, *,
                            alive: Any = None) -> InFlight:
        """A slot for a request (waiting for one if all are busy), its deadline started."""
        return self.start_request(connection, request, await self.slots.get(), alive=alive)

    def start_request(self, connection: HttpConnection, request: Request,
                      taken: tuple[int, RequestSlot], *, alive: Any = None) -> InFlight:
        """A request's deadline started in the slot it was given (``slots.take()``:
        no wait, the common case; else :meth:`begin_request`)."""
        index, slot = taken
        now = time.monotonic()
        deadline = now + self.timeout if self.timeout else 0.0
        slot.begin(connection.fd, connection.label, now, deadline)
        task = asyncio.current_task()
        assert task is not None
        entry = InFlight(task=task, slot=slot, line=request.line, started=now,
                         deadline=deadline,
                         expire=functools.partial(self._expire, connection, task),
                         alive=alive or (lambda: False))
        self._slot_index[id(entry)] = index
        self._entries[task] = entry
        self.watch.in_flight.add(entry)
        return entry

    def slot_index(self, entry: InFlight) -> int:
        return self._slot_index.get(id(entry), 0)

    def end_request(self, entry: InFlight, status: int, bytes_in: int, bytes_out: int) -> None:
        self.watch.in_flight.discard(entry)
        self._entries.pop(entry.task, None)
        index = self._slot_index.pop(id(entry), 0)
        entry.slot.end(status, time.monotonic(), bytes_in, bytes_out)
        self.slots.put((index, entry.slot))

    def progress(self, task: asyncio.Task[None] | None) -> None:
        """A request moved (a body chunk in or out): its deadline moves on."""
        entry = self._entries.get(task) if task is not None else None
        if entry is None or not self.timeout or not entry.deadline:
            return
        entry.deadline = time.monotonic() + self.timeout
        entry.slot.extend_deadline(self.timeout)

    def _expire(self, connection: HttpConnection, task: asyncio.Task[None],
                why: str) -> None:
        """An overdue request: cancel its task (the connection answers 504 or is cut)."""
        entry = self._entries.get(task)
        elapsed = time.monotonic() - entry.started if entry is not None else 0.0
        answer = ("its client was answered 504" if connection.cycle is not None
                  and not connection.cycle.headers_sent else "its connection was closed")
        self.log.error("REQUEST TIMEOUT (pid:%s, slot:%s): %r ran %.2fs, %s; its task was "
                       "cancelled and %s; the worker serves on.\nWhere it was waiting:\n%s",
                       self.pid, self.slot, entry.line if entry else "?", elapsed, why, answer,
                       format_task_stack(task))
        self.slot_writer.count_own_timeout()
        task.cancel(TIMED_OUT)

    def disconnected(self, task: asyncio.Task[None]) -> None:
        """The client left: the app is told; if it has not ended after the grace, cancel it."""
        grace = float(self.cfg.asgi_disconnect_grace_period)
        self.loop.call_later(grace, lambda: task.done() or task.cancel("client disconnected"))

    def too_late(self, waited: float) -> bool:
        limit = self.cfg.max_queue_time
        return bool(limit) and waited > limit

    def count_request(self) -> None:
        super().count_request()
        self._check_alive()

    def websocket_unavailable(self, why: str) -> None:
        if not self._websocket_said:
            self._websocket_said = True
            self.log.warning("A WebSocket upgrade was answered 501: %s", why)

    # --- hooks ----------------------------------------------------------------------------
    def pre_request(self, request: Request, peer: Any, scope: dict[str, Any],
                    number: int) -> Any:
        if self.pre_request_hook is None and self.post_request_hook is None:
            return None
        req = hook_request(request, peer, str(scope.get("scheme", "http")), number)
        if self.pre_request_hook is not None:
            self._run_hook("pre_request", self.pre_request_hook, self, req)
        return req

    def post_request(self, req: Any, request: Request, scope: dict[str, Any], cycle: Any) -> None:
        if self.post_request_hook is None or req is None:
            return
        from workhorse.workers.asgi_connection import ResponseInfo

        resp = ResponseInfo(cycle.status_code or 500, cycle.response_headers, cycle.bytes_sent)
        self._run_hook("post_request", self.post_request_hook, self, req,
                       minimal_environ(request, scope, None), resp)

    def _run_hook(self, name: str, hook: Any, *args: Any) -> None:
        try:
            hook(*args)
        except Exception:
            self.log.exception("Exception in %s hook", name)

    def _take_queued(self) -> None:
        """Connections waiting in the listen queue are served before the listeners go."""
        # Taken through copies: the servers still hold the listeners themselves
        # (asyncio's closes them on server.close(), right after this).
        copies = [listener.sock.dup() for listener in self.sockets]
        for index, sock, _peer in take_the_queue(copies):
            self.track(self.loop.create_task(self._connect(sock, index)))

    async def _connect(self, sock: socket.socket, index: int) -> None:
        try:
            await self.loop.connect_accepted_socket(
                functools.partial(HttpConnection, self, index), sock,
                ssl=self.tls if self.tls is not None else None)
        except OSError:
            sock.close()

    # --- hand-offs ------------------------------------------------------------------------
    def _adopt_handed(self, sock: socket.socket) -> None:
        """Connections the master passes on: from a sibling that stopped, or one it killed."""
        while True:
            try:
                items = handoff.receive(sock)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            for item in items:
                self.loop.create_task(self._adopt(item))

    async def _adopt(self, item: handoff.Handed) -> None:
        index = item.listener if 0 <= item.listener < len(self.sockets) else 0
        sock = socket.socket(fileno=item.fd)
        try:
            _, protocol = await self.loop.connect_accepted_socket(
                functools.partial(HttpConnection, self, index), sock)
        except OSError:
            sock.close()
            return
        if item.proxy_done and isinstance(protocol, HttpConnection):
            protocol.proxy_versions = frozenset()
            protocol.proxy_environ = item.proxy_environ

    async def _drain(self, handoff_sock: socket.socket | None) -> None:
        """Graceful stop: in-flight requests finish, idle connections go to the master."""
        to_master = handoff_sock is not None and self.slot_writer.master_takes_idle()
        for connection in list(self.connections):
            connection.going_away()
        deadline = time.monotonic() + float(self.cfg.graceful_timeout)
        while time.monotonic() < deadline:
            self._release_idle(handoff_sock if to_master else None)
            self.tasks = {task for task in self.tasks if not task.done()}
            if not self.connections and not self.tasks:
                break
            await asyncio.sleep(STOP_POLL)
        if handoff_sock is not None:
            self.loop.remove_reader(handoff_sock.fileno())
        for task in list(self.tasks):
            task.cancel("the worker stopped")
        for connection in list(self.connections):
            connection._close()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=1.0)

    def _release_idle(self, handoff_sock: socket.socket | None) -> None:
        idle = [c for c in self.connections if c.idle]
        if not idle:
            return
        if handoff_sock is None:
            for connection in idle:
                if not connection.request_waiting():  # else it is served (with close)
                    connection._close()
            return
        items = []
        for connection in idle:
            self.connections.discard(connection)
            items.append(handoff.Handed(fd=connection.hand_over(), listener=connection.listener,
                                        proxy_environ=connection.proxy_environ,
                                        proxy_done=not connection.proxy_versions))
        sent = handoff.send(handoff_sock, items, wait=HANDOFF_WAIT)
        for item in items:
            os.close(item.fd)  # sent: the master has its copy; not sent: it ends here
        self.log.debug("Stopping: %d idle connection(s) handed to the master, %d closed",
                       sent, len(items) - sent)

    def _shutdown_lifespan(self) -> None:
        try:
            result = self.loop.run_until_complete(self.lifespan.shutdown())
        except Exception:
            self.log.exception("The application's lifespan shutdown failed")
            return
        if result.outcome == Outcome.FAILED:
            self.log.error("The application's lifespan shutdown failed: %s", result.detail)
