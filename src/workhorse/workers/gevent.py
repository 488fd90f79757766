"""The gevent worker: WSGI apps on greenlets, supervised per request like the asgi worker.

Strategy: the process is monkey-patched as Gunicorn's gevent worker does it
(``gevent.monkey.patch_all()`` after ``post_fork``, before the app is
imported), so the app's blocking calls (sockets, ``time.sleep``, locks)
yield to gevent's hub. Each client connection is one greenlet running the
request path every WSGI worker shares (:class:`RequestHandler`), on a
socket that waits in the hub (:mod:`workhorse.workers.gevent_connection`).
A connection holds a request slot of the scoreboard only while a request is
in flight: its handler (one per slot, made when first needed) is taken when
the first bytes of a request arrive and given back when the exchange ends,
so ``workhorse status``, the metrics and the access-log atoms show each
request as they show a thread's.

Supervision is the asgi worker's: a tick greenlet beats the loop's pulse
(:class:`~workhorse.workers.loop_pulse.LoopPulse`: heartbeat, and the C
watchdog that reports a hub that stops turning, LOOP BLOCKED, with the
stack of the greenlet that blocks it), ends requests past their deadline by
raising :class:`DeadlinePassed` into their greenlet (504, or a cut if the
response had started; the other greenlets carry on), and closes
connections idle past ``keepalive`` or stalled in a head past
``header_timeout``. A hub that does not turn at a deadline is ended by the
master like a stuck sync worker.

Stopping (TERM, max_requests, the master replacing it) stops accepting,
answers what is in flight with ``Connection: close``, gives idle keep-alive
connections to the master (which passes them to a sibling), and waits up to
``graceful_timeout`` for the requests still running.
"""

from __future__ import annotations

import socket
import time
import traceback
from collections.abc import Callable
from typing import Any, cast

import gevent  # type: ignore[import-untyped]
from gevent import GreenletExit, monkey
from gevent.event import Event  # type: ignore[import-untyped]
from gevent.lock import Semaphore  # type: ignore[import-untyped]
from gevent.socket import wait_read  # type: ignore[import-untyped]

from workhorse import handoff
from workhorse.http import ProtocolError, ServerConnection, error_response
from workhorse.scoreboard import RequestState
from workhorse.workers import serving
from workhorse.workers.base import Worker
from workhorse.workers.connection import (
    FIRST_REQUEST_GRACE,
    ClientGone,
    ReadTimeout,
    client_text,
    has_pending_data,
    movable,
)
from workhorse.workers.gevent_connection import GeventConnection, accept_now, adopt_fd
from workhorse.workers.handler import TIMED_OUT, DeadlinePassed, RequestHandler
from workhorse.workers.loop_pulse import TICK, LoopPulse
from workhorse.wsgi.errors import ErrorStream

#: How often a stopping worker looks at what is left.
STOP_POLL = 0.05
#: Longest a stopping worker waits for room in the master's hand-off queue.
HANDOFF_WAIT = 1.0
#: How often the main greenlet looks at ``alive`` when no signal wakes it.
STOP_CHECK = 1.0


class WaitExpired(Exception):
    """Raised by the tick into a connection idle (or stalled in a head) for too long."""


def patch_process() -> None:
    """gevent's monkey-patching, as Gunicorn's gevent worker does it: every module
    ``patch_all`` patches by default, then a fresh hub for this process."""
    monkey.patch_all()
    gevent.reinit()


class HandlerPool:
    """The request handlers, one per request slot, made when first needed.

    The slot freed last is taken first (the lowest at the start), so the
    slots a worker uses stay few and warm; a request that finds none free
    waits for one.
    """

    def __init__(self, size: int, make: Callable[[int], RequestHandler]) -> None:
        self._make = make
        self._free = list(range(size - 1, -1, -1))
        self.made: dict[int, RequestHandler] = {}
        self._room = Semaphore(size)

    def take(self) -> tuple[int, RequestHandler]:
        self._room.acquire()
        thread = self._free.pop()
        return thread, self.handler(thread)

    def handler(self, thread: int) -> RequestHandler:
        handler = self.made.get(thread)
        if handler is None:
            handler = self.made[thread] = self._make(thread)
        return handler

    def give(self, thread: int) -> None:
        self._free.append(thread)
        self._room.release()

    def idle_handlers(self) -> list[RequestHandler]:
        return [self.made[t] for t in self._free if t in self.made]


class GeventWorker(Worker):
    accepts_handoff = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Gunicorn's AsyncWorker attribute (hooks read it from post_fork on).
        self.worker_connections = max(1, int(self.cfg.worker_connections))

    # --- boot ---------------------------------------------------------------------------
    @classmethod
    def before_preload(cls, log: Any) -> None:
        """--preload: the app is imported in the master, so the master is patched
        first (what a config calling patch_all at its top does by hand)."""
        log.info("--preload with the gevent worker: the master is monkey-patched before "
                 "the application is imported (see docs/gevent.md)")
        patch_process()

    def _boot(self) -> None:
        # After post_fork, before the app (and anything it imports) is loaded:
        # as in Gunicorn, whose post_fork hook also runs unpatched.
        patch_process()
        super()._boot()

    def setup(self) -> None:
        cfg = self.cfg
        board = self.ctx.board
        self.board = board
        self.timeout = float(cfg.timeout or 0)
        self.limits = serving.http_limits(cfg)
        self.settings = serving.handler_settings(cfg, self.log)
        self.tls_module: Any = None
        self.tls: Any = None
        if cfg.certfile or cfg.keyfile:
            from workhorse.workers import gevent_tls

            self.tls_module = gevent_tls.GeventTLS
            self.tls = serving.tls_support(cfg)[1]
        # Greenlets share a thread the way threads share a process: the app
        # must not keep per-request state in module globals.
        builders = serving.environ_builders(cfg, self.sockets, ErrorStream(self.log.error_log),
                                            multithread=True)
        self.handlers = HandlerPool(board.threads, lambda thread: serving.make_handler(
            self, board, board.request_writer(self.slot, thread), thread, builders))
        #: Every connection's greenlet, from its spawn (before its TLS handshake) to its end.
        self.greenlets: set[Any] = set()
        #: Open connections, and the greenlet serving each.
        self.connections: dict[GeventConnection, Any] = {}
        #: Connections waiting for a request's bytes, and when that wait ends (0: never).
        self.waiting: dict[GeventConnection, float] = {}
        #: Requests in flight: slot -> (greenlet, handler).
        self.serving: dict[int, tuple[Any, RequestHandler]] = {}
        #: For each slot, the seq of the request last told it is overdue (once each).
        self._told: dict[int, int] = {}
        self.room = Semaphore(self.worker_connections)
        self._all_closed = Event()
        self.accepting = True
        self.pulse = LoopPulse(self.slot_writer, timeout=self.timeout,
                               blocked_after=float(cfg.blocked_loop_timeout or 0),
                               dump_fd=self.ctx.dump_fd)
        self.hub = gevent.get_hub()
        self._next_parent_check = 0.0

    # --- run ----------------------------------------------------------------------------
    def run(self) -> None:
        self.pulse.start()
        ticker = gevent.spawn(self._tick_loop)
        acceptors = [gevent.spawn(self._accept_loop, index)
                     for index in range(len(self.sockets))]
        handoff_sock = self.handoff_socket()
        adopter = None
        if handoff_sock is not None:
            adopter = gevent.spawn(self._take_handoffs, handoff_sock)
            handoff.announce_ready(handoff_sock)
        try:
            self._wait_for_stop()
            self.accepting = False
            gevent.killall(acceptors)
            if self.serves_the_queue_on_stop():
                self._take_queued()
            for listener in self.sockets:
                listener.sock.close()  # our copy: the master and the siblings keep theirs
            self._drain(handoff_sock)
            if adopter is not None:
                adopter.kill()
            if handoff_sock is not None:
                self._give_back(handoff_sock)
        finally:
            ticker.kill()
            self.pulse.stop()
            for handler in self.handlers.made.values():
                handler.slot.flush()

    def _wait_for_stop(self) -> None:
        """The main greenlet sleeps until the worker stops: a signal handler or
        max_requests writes the wake-up pipe."""
        while self.alive:
            try:
                wait_read(self.wakeup_fd, STOP_CHECK, False)
            except OSError:
                gevent.sleep(STOP_CHECK)
            self.drain_wakeup()

    # --- the tick: pulse, deadlines, idle connections ---------------------------------
    def _tick_loop(self) -> None:
        while True:
            now = time.monotonic()
            self.pulse.beat(now)
            self._expire_requests(now)
            self._expire_waits(now)
            self._housekeep(now)
            gevent.sleep(TICK)

    def _housekeep(self, now: float) -> None:
        self.slot_writer.set_connections(len(self.greenlets))
        for handler in self.handlers.idle_handlers():  # the Python writer's counters
            handler.slot.flush(now)
        if now >= self._next_parent_check:
            self._next_parent_check = now + 1.0
            if not self.parent_alive():
                self.alive = False
                self.wake_loop()

    def _expire_requests(self, now: float) -> None:
        """Requests past their deadline (in their slot, where progress and the app
        move it) get :class:`DeadlinePassed`, once each."""
        if not self.timeout:
            return
        for thread, seq, deadline in self.board.busy_deadlines(self.slot):
            if not deadline or now <= deadline or self._told.get(thread) == seq:
                continue
            entry = self.serving.get(thread)
            if entry is None:
                continue
            self._told[thread] = seq
            self._report_timeout(thread, entry[0], now)
            self.hub.loop.run_callback(self._deliver, thread, seq)

    def _deliver(self, thread: int, seq: int) -> None:
        """From the hub, so the greenlet is waiting where it was when found overdue:
        only if it still serves that request."""
        entry = self.serving.get(thread)
        if entry is not None and entry[1].slot.seq == seq and not entry[0].dead:
            entry[0].throw(DeadlinePassed())

    def _report_timeout(self, thread: int, greenlet: Any, now: float) -> None:
        request = self.board.read_request(self.slot, thread)
        answer = ("its connection was closed" if request.state == RequestState.WRITING
                  else "its client was answered 504")
        frame = greenlet.gr_frame
        where = ("".join(traceback.format_stack(frame)).rstrip() if frame is not None
                 else "(the greenlet is not suspended)")
        self.log.error("REQUEST TIMEOUT (pid:%s, slot:%s): %r ran %.2fs, no progress for %gs; "
                       "its greenlet was interrupted and %s; the worker serves on.\n"
                       "Where it was waiting:\n%s", self.pid, self.slot, request.request_line,
                       now - request.started, self.timeout, answer, where)
        self.slot_writer.count_own_timeout()

    def _expire_waits(self, now: float) -> None:
        for client, until in list(self.waiting.items()):
            if until and now > until:
                self.hub.loop.run_callback(self._end_wait, client)

    def _end_wait(self, client: GeventConnection) -> None:
        if self.waiting.pop(client, None) is not None:
            self.connections[client].throw(WaitExpired())

    # --- connections ---------------------------------------------------------------------
    def _accept_loop(self, index: int) -> None:
        """One connection per wake-up (Gunicorn's max_accept = 1): every worker is
        woken for each connection and the first to accept takes it, so a worker
        whose hub is busy loses the race to an idle one, and a burst is spread."""
        listener = self.sockets[index].sock
        listener.setblocking(False)
        while self.accepting:
            wait_read(listener.fileno())
            # At worker_connections the connection stays queued (for a sibling).
            self.room.acquire()
            try:
                sock, peer = accept_now(listener)
            except BlockingIOError:
                self.room.release()
                continue
            except OSError as exc:
                self.room.release()
                # EMFILE and friends: do not spin on a listener that stays readable.
                self.log.error("accept() failed: %s", exc)
                gevent.sleep(0.1)
                continue
            self._open(sock, peer, index)

    def _open(self, sock: socket.socket, peer: Any, index: int, *, tls: bool = True,
              proxy: handoff.Handed | None = None) -> None:
        """Serve an accepted (or handed-over) socket, holding a unit of ``room``, in a
        greenlet of its own (a TLS handshake there holds up nobody else). It counts
        as open from now: a stopping worker waits for it."""
        self.greenlets.add(gevent.spawn(self._connection, sock, peer, index, tls, proxy))

    def _connection(self, sock: socket.socket, peer: Any, index: int, tls: bool,
                    proxy: handoff.Handed | None) -> None:
        try:
            # Handler 0 stands for all of them: adopting a connection reads settings only.
            client = cast(GeventConnection | None, serving.open_client(
                self, self.handlers.handler(0), sock, peer, index,
                ServerConnection(self.limits), tls=tls, plain=GeventConnection))
            if client is None:
                return
            if proxy is not None and proxy.proxy_done:
                client.proxy_versions = frozenset()
                client.proxy_environ = proxy.proxy_environ
            self._serve_connection(client)
        finally:
            self.room.release()
            self.greenlets.discard(gevent.getcurrent())
            if not self.greenlets and not self.alive:
                self._all_closed.set()  # the stop need not wait for its next look

    def _serve_connection(self, client: GeventConnection) -> None:
        self.connections[client] = gevent.getcurrent()
        settings = self.settings
        until = time.monotonic() + settings.header_timeout if settings.header_timeout else 0.0
        try:
            while self._wait_for_request(client, until):
                if not self._serve_once(client):
                    return
                until = self._next_wait_limit(client)
        except GreenletExit:
            raise
        except BaseException:
            # SystemExit from a signal handler (the master's abort of a worker it
            # times out, QUIT): the master may answer this client on its copy.
            client.leave_open = True
            raise
        finally:
            self.connections.pop(client, None)
            self.waiting.pop(client, None)
            self._close(client)

    def _wait_for_request(self, client: GeventConnection, until: float) -> bool:
        """Until bytes of a request arrive: False when the wait ended (idle past
        keepalive, a head stalled past header_timeout; the tick ends it)."""
        if client.buffered():
            return True
        self.waiting[client] = until
        try:
            client.wait_readable()
        except WaitExpired:
            if client.conn.trailing_data or client.proxy_buffer:
                self._head_timed_out(client)
            return False
        finally:
            self.waiting.pop(client, None)
        return True

    def _next_wait_limit(self, client: GeventConnection) -> float:
        """How long the next wait may last: a partial head has what is left of
        header_timeout since its first byte, an idle connection keepalive."""
        now = time.monotonic()
        settings = self.settings
        if client.conn.trailing_data:
            if not client.head_started:
                client.head_started = now
            return client.head_started + settings.header_timeout if settings.header_timeout \
                else 0.0
        client.head_started = 0.0
        return now + settings.keepalive

    def _head_timed_out(self, client: GeventConnection) -> None:
        self.log.info("Timed out reading a request head from %s", client_text(client.peer))
        try:
            client.send(error_response(408, "Request Timeout"))
        except (ClientGone, OSError):
            pass

    def _serve_once(self, client: GeventConnection) -> bool:
        """What the bytes that arrived complete, with a request slot; True: keep the connection."""
        thread, handler = self.handlers.take()
        self.serving[thread] = (gevent.getcurrent(), handler)
        handler.begin(client)
        try:
            try:
                client.receive()
            except ProtocolError as exc:  # e.g. a missing PROXY header
                handler.reject(client, exc)
                return False
            except (ReadTimeout, ClientGone, OSError):
                handler.slot.abandon()
                return False
            if not self.alive:
                client.conn.close_after_response()
            return handler.serve(client, may_wait_for_head=False)
        except DeadlinePassed:  # outside the app: reading the head, a hook, the drain
            self._late(thread, handler, client)
            return False
        except Exception:
            self.log.exception("Error serving a connection")
            handler.slot.abandon()
            return False
        except GreenletExit:  # the worker ends it (graceful_timeout): free the slot
            handler.slot.abandon()
            raise
        finally:
            del self.serving[thread]
            self.handlers.give(thread)

    def _late(self, thread: int, handler: RequestHandler, client: GeventConnection) -> None:
        """An overdue request interrupted outside the app: a 504 if nothing of its
        response can have been sent (its head was still being read), else a cut."""
        if self.board.read_request(self.slot, thread).state != RequestState.READING:
            handler.slot.abandon()
            return
        data = error_response(504, TIMED_OUT)
        try:
            client.send(data)
        except (ClientGone, OSError):
            data = b""
        handler.slot.end(504, time.monotonic(), client.bytes_in, len(data))

    def _close(self, client: GeventConnection) -> None:
        if client.leave_open:
            try:
                client.sock.close()  # another process holds it: no FIN
            except OSError:
                pass
            return
        # A FIN first, so a client that did not send anything sees a clean close.
        try:
            client.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        client.close()

    # --- stopping -----------------------------------------------------------------------
    def _take_queued(self) -> None:
        """The whole server stops: connections waiting in the listen queue are
        served (with Connection: close) before our copies of the listeners go."""
        for index, listener in enumerate(self.sockets):
            while True:
                try:
                    sock, peer = accept_now(listener.sock)
                except OSError:
                    break
                self.room.acquire()
                self._open(sock, peer, index)

    def _drain(self, handoff_sock: socket.socket | None) -> None:
        """In-flight requests finish; idle connections go to the master (or close)."""
        to_master = handoff_sock is not None and self.slot_writer.master_takes_idle()
        deadline = time.monotonic() + float(self.cfg.graceful_timeout)
        while time.monotonic() < deadline:
            self._release_idle(handoff_sock if to_master else None)
            # Cleared before the look: no other greenlet runs until the wait.
            self._all_closed.clear()
            if not self.greenlets:
                return
            self._all_closed.wait(STOP_POLL)
        self.log.warning("Worker graceful timeout (pid:%s): %d connection(s) cut",
                         self.pid, len(self.greenlets))
        gevent.killall(list(self.greenlets), timeout=1.0)

    def _release_idle(self, handoff_sock: socket.socket | None) -> None:
        """Let go of the connections that wait for a request, losing none: those
        with nothing read here go to the master when it takes them (the kernel
        keeps what their client sends meanwhile for the next worker); the others
        are closed unless a request is already on its way."""
        now = time.monotonic()
        moving: list[GeventConnection] = []
        for client in list(self.waiting):
            if not client.requests and now - client.accepted_at < FIRST_REQUEST_GRACE:
                continue  # just connected (from the listen queue): its request is coming
            if handoff_sock is not None and movable(client):
                moving.append(client)
            elif not has_pending_data(client):
                self._let_go(client)
        if moving:
            assert handoff_sock is not None
            items = [handoff.Handed(fd=c.fd, listener=c.listener_index,
                                    proxy_environ=c.proxy_environ,
                                    proxy_done=not c.proxy_versions) for c in moving]
            sent = handoff.send(handoff_sock, items, wait=HANDOFF_WAIT)
            self.log.debug("Stopping: %d idle connection(s) handed to the master, %d closed",
                           sent, len(items) - sent)
            for index, client in enumerate(moving):
                client.leave_open = index < sent
                self._let_go(client)

    def _let_go(self, client: GeventConnection) -> None:
        """End the greenlet of a waiting connection (its finally closes the socket)."""
        if self.waiting.pop(client, None) is not None:
            self.connections[client].kill(block=False)

    def _take_handoffs(self, sock: socket.socket) -> None:
        """Connections the master passes on: from a sibling that stopped, or one it killed."""
        while True:
            try:
                items = handoff.receive(sock)
            except BlockingIOError:
                wait_read(sock.fileno())
                continue
            except OSError:
                return
            for item in items:
                self._adopt(item)

    def _adopt(self, item: handoff.Handed) -> None:
        sock = adopt_fd(item.fd)
        try:
            peer = sock.getpeername()
        except OSError:
            sock.close()
            return
        index = item.listener if 0 <= item.listener < len(self.sockets) else 0
        self.room.acquire()
        self._open(sock, peer, index, tls=False, proxy=item)

    def _give_back(self, sock: socket.socket) -> None:
        """What the master sent as this worker began to stop goes back to it."""
        try:
            sock.shutdown(socket.SHUT_RD)  # from here the master keeps them
        except OSError:
            pass
        handoff.return_queued(sock, wait=HANDOFF_WAIT)
