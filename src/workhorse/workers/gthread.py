"""The gthread worker: a pool of threads sharing one epoll, with keep-alive.

Strategy: every request thread waits in ``epoll_wait`` on the same epoll
instance, which holds the listeners and every idle keep-alive connection,
each registered ``EPOLLONESHOT``. The kernel hands each ready connection to
exactly one waiting thread, which then owns it: it reads the request, runs
the app inline, writes the response, and either re-arms the connection
(keep-alive) or closes it. There is no queue between a poller and the
threads, so a request costs no thread hand-off, and a thread stuck in a slow
request holds only the connection it is serving: idle connections and new
ones go to whichever thread is free, never waiting behind it.

A connection that delivers only part of a request head is re-armed with
what it has, so a slow client holds no thread. The main thread does not
serve: it beats the heartbeat, watches the parent, expires idle keep-alive
connections (``keepalive``) and stalled heads (``header_timeout``), and runs
the graceful stop. Each thread writes its own request slot, so the master
times out a stuck request thread by its own deadline, even when the rest of
the worker is healthy.

Ownership of a connection is decided under one small lock (``claim``): an
event the kernel delivered for a connection that was meanwhile expired and
whose fd number was reused is recognised and dropped, so two threads never
serve one connection.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from typing import Any

from workhorse import handoff
from workhorse.http import ProtocolError, ServerConnection
from workhorse.workers import serving
from workhorse.workers.base import Worker, take_the_queue
from workhorse.workers.connection import (
    FIRST_REQUEST_GRACE,
    ClientGone,
    Connection,
    ReadTimeout,
    has_pending_data,
    movable,
)
from workhorse.workers.handler import RequestHandler
from workhorse.wsgi.errors import ErrorStream

ONESHOT_IN = select.EPOLLIN | select.EPOLLONESHOT
#: How long a request thread waits in epoll before it re-checks whether the
#: worker is stopping (the stop pipe wakes it sooner).
POLL_TIMEOUT = 1.0
#: How often the main thread expires idle connections: well under the 2 s
#: keep-alive default so a connection is not kept much past its limit.
REAP_INTERVAL = 0.25

#: How often a stopping worker checks whether its last connections are done.
STOP_POLL = 0.05

#: Longest a stopping worker waits for room in the master's hand-off queue.
HANDOFF_WAIT = 1.0


class ThreadWorker(Worker):
    accepts_handoff = True

    def setup(self) -> None:
        cfg = self.cfg
        board = self.ctx.board
        self.threads = max(1, int(cfg.threads))
        self.max_connections = max(1, int(cfg.worker_connections))
        self.limits = serving.http_limits(cfg)
        self.tls_module, self.tls = serving.tls_support(cfg)
        builders = serving.environ_builders(cfg, self.sockets, ErrorStream(self.log.error_log),
                                            multithread=True)
        self.handlers: list[RequestHandler] = [
            serving.make_handler(self, board, board.request_writer(self.slot, thread), thread,
                                 builders)
            for thread in range(self.threads)
        ]
        self.settings = self.handlers[0].settings
        self.epoll = select.epoll()
        self.listener_index = {sock.fileno(): i for i, sock in enumerate(self.listen_socks)}
        #: Every open connection, and the parked ones (waiting in epoll). A
        #: thread owns a connection by taking it out of ``parked`` with one
        #: ``dict.pop``, which is atomic: a stale epoll event, or the reaper
        #: racing a request thread, can never give one connection two owners.
        self.clients: dict[int, Connection] = {}
        self.parked: dict[int, Connection] = {}
        self.accepting = True
        self.listeners_paused = False
        handoff_fd = self.ctx.handoff_fd
        self.handoff = (socket.socket(fileno=handoff_fd, family=socket.AF_UNIX,
                                      type=socket.SOCK_DGRAM) if handoff_fd >= 0 else None)
        self._stop_r, self._stop_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    @property
    def nr_conns(self) -> int:
        """Open connections (Gunicorn's gthread attribute, read by monitoring hooks;
        0 before the worker is set up, as a thread started in post_fork sees it)."""
        return len(getattr(self, "clients", ()))

    @property
    def listen_socks(self) -> list[socket.socket]:
        return [listener.sock for listener in self.sockets]

    # --- main thread ------------------------------------------------------------
    def run(self) -> None:
        for fd in self.listener_index:
            self.epoll.register(fd, ONESHOT_IN)
        # Level-triggered and never re-armed: once written, it wakes every
        # thread in turn, which is how they all learn that the worker stops.
        self.epoll.register(self._stop_r, select.EPOLLIN)
        if self.handoff is not None:
            self.epoll.register(self.handoff.fileno(), ONESHOT_IN)
            handoff.announce_ready(self.handoff)
        pool = [threading.Thread(target=self._thread_main, args=(t,), daemon=True,
                                 name=f"workhorse-request-{t}")
                for t in range(self.threads)]
        for thread in pool:
            thread.start()
        while self.alive:
            now = time.monotonic()
            if not self.housekeeping(now):
                break
            self._expire(now)
            try:
                ready, _, _ = select.select([self.wakeup_fd], [], [], REAP_INTERVAL)
            except OSError:
                ready = []
            if ready:
                self.drain_wakeup()
        self._graceful_stop(pool)

    def _graceful_stop(self, pool: list[threading.Thread]) -> None:
        """Stop accepting, let in-flight requests finish, let go of idle connections.

        Requests in flight are answered with ``Connection: close``. Idle
        keep-alive connections go to the master, which passes them to a
        sibling worker (see :meth:`_release_idle`).
        """
        deadline = self._stop_accepting()
        while time.monotonic() < deadline:
            self._release_idle()
            if not self.clients:
                break
            self.notify()
            time.sleep(STOP_POLL)
        os.write(self._stop_w, b"x")
        for thread in pool:
            thread.join(max(0.0, deadline - time.monotonic()))
            self.notify()
        if not any(thread.is_alive() for thread in pool):
            self._last_hand_off()

    def _stop_accepting(self) -> float:
        """No new connections (what waits in the listen queue is taken when the
        whole server stops); returns when the stop must be over."""
        self.accepting = False
        for fd in self.listener_index:
            try:
                self.epoll.unregister(fd)
            except OSError:
                pass
        if self.serves_the_queue_on_stop():
            self._take_queued()
        return time.monotonic() + float(self.cfg.graceful_timeout)

    def _take_queued(self) -> None:
        """Connections waiting in the listen queue: parked, so a request thread
        serves each (with Connection: close) before the worker exits."""
        for index, sock, peer in take_the_queue(self.listen_socks):
            client = self._adopt(sock, peer, index)
            if client is not None:
                self._park(client)

    def _last_hand_off(self) -> None:
        """With the request threads gone, let go of what they adopted at the last
        moment and give back what the master sent as this worker began to stop
        (it read the scoreboard a moment before): nobody here will serve them."""
        if self.handoff is None:
            return
        try:
            # From here the master's sends fail (EPIPE) and it keeps the
            # connections; what is already queued stays readable.
            self.handoff.shutdown(socket.SHUT_RD)
        except OSError:
            pass
        self._release_idle(final=True)
        handoff.return_queued(self.handoff, wait=HANDOFF_WAIT)

    def _release_idle(self, *, final: bool = False) -> None:
        """Let go of the parked connections of a stopping worker, losing no request.

        Closing an idle keep-alive connection races with the client's next
        request on it. So when the master takes them (it does unless the
        whole server stops), every parked connection with nothing read into
        this process yet is handed to it: the kernel keeps what the client
        sends meanwhile for the worker that adopts it. One with a request
        (or part of one) already here is served by a request thread, with
        ``Connection: close``. The rest are closed with a FIN.

        ``final``: no thread will serve anything here any more, so nothing
        waits for a first request (a connection a thread adopted from the
        master as the stop loop ended would otherwise be closed at exit,
        under the request its client sends meanwhile).
        """
        to_master = self.handoff is not None and self.slot_writer.master_takes_idle()
        moving: list[Connection] = []
        now = time.monotonic()
        for fd, client in list(self.parked.items()):
            if not final and client.armed != client.parks:
                continue  # still being parked: the next pass takes it
            if not final and not client.requests and \
                    now - client.accepted_at < FIRST_REQUEST_GRACE:
                continue  # just connected (from the listen queue): its request is coming
            if to_master and movable(client):
                if self.parked.pop(fd, None) is client:
                    moving.append(client)
            elif not has_pending_data(client) and self.parked.pop(fd, None) is client:
                self._close(client, rearm=False)
        if moving:
            self._hand_to_master(moving)

    def _hand_to_master(self, moving: list[Connection]) -> None:
        assert self.handoff is not None
        for client in moving:
            # Out of this epoll first: it watches the open socket, which lives
            # on in the master and the next worker after our copy is closed.
            try:
                self.epoll.unregister(client.fd)
            except OSError:
                pass
        items = [handoff.Handed(fd=c.fd, listener=c.listener_index,
                                proxy_environ=c.proxy_environ,
                                proxy_done=not c.proxy_versions)
                 for c in moving]
        sent = handoff.send(self.handoff, items, wait=HANDOFF_WAIT)
        self.log.debug("Stopping: %d idle connection(s) handed to the master, %d closed",
                       sent, len(items) - sent)
        for index, client in enumerate(moving):
            if index < sent:
                self._let_go(client)
            else:  # the master could not take it: as if it had no place for it
                self._close(client, rearm=False)

    def _let_go(self, client: Connection) -> None:
        """Forget a connection another process now holds (no FIN: it lives on)."""
        if self.clients.get(client.fd) is client:
            del self.clients[client.fd]
        try:
            client.sock.close()
        except OSError:
            pass

    def _expire(self, now: float) -> None:
        keepalive = self.settings.keepalive
        head_timeout = self.settings.header_timeout

        def expired(client: Connection) -> bool:
            if client.head_started:  # a head stalled half-way: from its first byte
                return bool(head_timeout) and now - client.head_started > head_timeout
            since = client.parked_at
            # An idle connection past its keep-alive, unless a request has just
            # arrived on it and only waits for a thread to pick it up.
            return now - since > keepalive and not has_pending_data(client)

        self._close_parked(expired)
        self.slot_writer.set_connections(len(self.clients))

    def _close_parked(self, should_close: Any) -> None:
        closed = False
        for fd, client in list(self.parked.items()):
            # Check, then take ownership; a thread that claimed it first wins.
            if (client.armed == client.parks and should_close(client)
                    and self.parked.pop(fd, None) is client):
                self._close(client, rearm=False)
                closed = True
        if closed:
            self._rearm_listeners()

    # --- request threads -----------------------------------------------------------
    def _thread_main(self, thread: int) -> None:
        handler = self.handlers[thread]
        try:
            self._take_work(thread, handler)
        finally:
            handler.slot.flush()

    def _take_work(self, thread: int, handler: RequestHandler) -> None:
        poll = self.epoll.poll
        stop_fd = self._stop_r
        while True:
            try:
                events = poll(POLL_TIMEOUT, 1)
            except InterruptedError:
                continue
            except OSError:
                return
            if not events:  # idle: the counters catch up with what was served
                handler.slot.flush()
            for fd, _mask in events:
                if fd == stop_fd:
                    return
                try:
                    self._dispatch(fd, handler)
                except Exception:
                    # A request thread must outlive any one connection's fault.
                    self.log.exception("Unexpected error in request thread %d", thread)
                    handler.slot.abandon()

    def _dispatch(self, fd: int, handler: RequestHandler) -> None:
        if self.handoff is not None and fd == self.handoff.fileno():
            self._take_handoff(handler)
            return
        index = self.listener_index.get(fd)
        if index is not None:
            self._accept(fd, index, handler)
            return
        client = self._claim(fd)
        if client is not None:
            self._serve(handler, client)

    def _accept(self, fd: int, index: int, handler: RequestHandler) -> None:
        if not self.alive:
            return  # stopping: the listener is left (disarmed) to the siblings
        listener = self.listen_socks[index]
        try:
            sock, peer = listener.accept()
        except (BlockingIOError, InterruptedError):
            self._rearm(fd)
            return
        except OSError as exc:
            self.log.error("accept() failed: %s", exc)
            time.sleep(0.1)  # EMFILE and friends: do not spin on a ready listener
            self._rearm(fd)
            return
        self._after_accept(fd)
        client = self._adopt(sock, peer, index)
        if client is None:
            return
        self._serve(handler, client)

    def _after_accept(self, fd: int) -> None:
        """Arm the listener for the next connection, unless at worker_connections
        (then it stays unarmed until a connection closes: _rearm_listeners)."""
        full = len(self.clients) + 1 >= self.max_connections
        self.listeners_paused = full
        if self.accepting and not full:
            self._rearm(fd)

    def _take_handoff(self, handler: RequestHandler) -> None:
        """Adopt connections the master passes on: from a sibling that stopped,
        or from a worker it had to kill."""
        assert self.handoff is not None
        try:
            items = handoff.receive(self.handoff)
        except OSError:
            items = []
        self._rearm(self.handoff.fileno())
        for item in items:
            sock = socket.socket(fileno=item.fd)
            index = item.listener if 0 <= item.listener < len(self.sockets) else 0
            try:
                peer = sock.getpeername()
            except OSError:
                sock.close()
                continue
            client = self._adopt(sock, peer, index, tls=False)
            if client is None:
                continue
            if item.proxy_done:
                client.proxy_versions = frozenset()
                client.proxy_environ = item.proxy_environ
            self._serve(handler, client)

    def _adopt(self, sock: socket.socket, peer: Any, index: int, *,
               tls: bool = True) -> Connection | None:
        client = serving.open_client(self, self.handlers[0], sock, peer, index,
                                     ServerConnection(self.limits), tls=tls)
        if client is not None:
            self.clients[client.fd] = client
        return client

    def _claim(self, fd: int) -> Connection | None:
        return self.parked.pop(fd, None)

    def _serve(self, handler: RequestHandler, client: Connection) -> None:
        while True:
            keep = self._serve_once(handler, client)
            if keep is None:
                return
            # TLS may hold decrypted bytes the kernel no longer reports as
            # readable: epoll would never wake for them, so serve them now.
            if not (keep and client.buffered()):
                break
        if keep:
            # Kept even when the worker stops: the stop loop passes it on.
            self._park(client)
        else:
            self._close(client)

    def _serve_once(self, handler: RequestHandler, client: Connection) -> bool | None:
        """One receive and what it completes; None when the connection was already handled."""
        handler.begin(client)
        try:
            client.receive(socket.MSG_DONTWAIT)
        except ReadTimeout:  # nothing there after all (a spurious wake-up)
            handler.slot.abandon()
            self._park(client)
            return None
        except ProtocolError as exc:  # e.g. a missing PROXY header
            handler.reject(client, exc)
            self._close(client)
            return None
        except (ClientGone, OSError):
            handler.slot.abandon()
            self._close(client)
            return None
        if not self.alive:
            client.conn.close_after_response()
        try:
            return handler.serve(client, may_wait_for_head=False)
        except Exception:
            self.log.exception("Error serving a connection")
            handler.slot.abandon()
            return False

    def _park(self, client: Connection) -> None:
        fd = client.fd
        now = client.parked_at = time.monotonic()
        if not client.conn.trailing_data:
            client.head_started = 0.0
        elif not client.head_started:
            client.head_started = now  # the first bytes of a head: its clock starts
        # Parked before armed: the thread the event wakes must find it. And
        # marked registered before registering: once armed, another thread
        # may own (and park) it before this one runs again. The main thread
        # only takes a parked connection once this park's arming is done
        # (``armed == parks``): before that, this thread still uses the fd.
        client.parks += 1
        park = client.parks
        registered = client.registered
        client.registered = True
        self.parked[fd] = client
        try:
            self._arm(fd, registered)
        except OSError:
            self._close(client)
            return
        client.armed = park

    def _arm(self, fd: int, registered: bool) -> None:
        """Watch a parked connection for its next bytes (one event, one owner)."""
        if registered:
            self.epoll.modify(fd, ONESHOT_IN)
        else:
            self.epoll.register(fd, ONESHOT_IN)

    def _close(self, client: Connection, *, rearm: bool = True) -> None:
        fd = client.fd
        if self.parked.get(fd) is client:
            self.parked.pop(fd, None)
        if self.clients.get(fd) is client:
            del self.clients[fd]
        self._forget(client)
        if rearm:
            self._rearm_listeners()

    def _forget(self, client: Connection) -> None:
        # Closing the socket removes it from the epoll set: no unregister call.
        # A FIN first, so a client that did not send anything sees a clean close.
        try:
            client.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        client.close()

    def _rearm(self, fd: int) -> None:
        try:
            self.epoll.modify(fd, ONESHOT_IN)
        except OSError:
            pass

    def _rearm_listeners(self) -> None:
        """A connection closed: listeners may have been left disarmed at the limit."""
        if not self.accepting or not self.listeners_paused:
            return
        if len(self.clients) + 1 >= self.max_connections:
            return
        self.listeners_paused = False
        for fd in self.listener_index:
            self._rearm(fd)
