"""The gthread worker with one thread: one epoll loop that runs the app inline.

Strategy: with ``threads = 1`` (Gunicorn's default for gthread) a worker
serves one request at a time whatever its design, so a request thread beside
a polling thread only adds cost: a wake-up of the request thread, and a
re-arm of the connection's one-shot registration, for every request. Here
the worker's only thread waits in ``epoll_wait`` on the listeners, the
wake-up pipe, the master's hand-off socket and every keep-alive connection,
each registered once, level-triggered, for as long as it is open; one wait
returns every connection that became readable, and each one's request is
read, run and answered inline before the next. What a client sees is the
same as with the pooled gthread worker of one thread (keep-alive, partial
heads held without blocking, Connection: close on the way out, idle
connections handed on when the worker stops); what it costs per request is
one ``recv`` and one ``send`` plus a share of one ``epoll_wait``.

While the app runs, the loop does not turn, as in the sync worker: the
request's deadline in its slot is what the master watches, and the
heartbeat, idle expiry and signals are looked at between requests.
"""

from __future__ import annotations

import select
import time

from workhorse import handoff
from workhorse.workers.gthread import REAP_INTERVAL, STOP_POLL, ThreadWorker
from workhorse.workers.handler import RequestHandler

LEVEL_IN = select.EPOLLIN
#: Most events one epoll_wait returns: enough that a busy loop seldom waits twice.
MAX_EVENTS = 256


class InlineThreadWorker(ThreadWorker):
    """``-k gthread`` with ``threads = 1``: the same behaviour without a request thread."""

    def run(self) -> None:
        epoll = self.epoll
        for fd in self.listener_index:
            epoll.register(fd, LEVEL_IN)
        epoll.register(self.wakeup_fd, LEVEL_IN)
        if self.handoff is not None:
            epoll.register(self.handoff.fileno(), LEVEL_IN)
            handoff.announce_ready(self.handoff)
        try:
            self._turn_until_stopped()
            self._stop_inline()
        finally:
            self.handlers[0].slot.flush()

    def _turn_until_stopped(self) -> None:
        handler = self.handlers[0]
        poll = self.epoll.poll
        dispatch = self._dispatch
        wakeup = self.wakeup_fd
        next_chores = 0.0
        while self.alive:
            now = time.monotonic()
            if now >= next_chores:
                if not self.housekeeping(now):
                    return
                self._expire(now)
                next_chores = now + REAP_INTERVAL
            try:
                events = poll(max(0.0, next_chores - now), MAX_EVENTS)
            except InterruptedError:
                continue
            if not events:  # idle: the counters catch up with what was served
                handler.slot.flush()
                continue
            for fd, _mask in events:
                if fd == wakeup:
                    self.drain_wakeup()
                    continue
                try:
                    dispatch(fd, handler)
                except Exception:
                    self._fault(handler)

    def _stop_inline(self) -> None:
        """The graceful stop: no new connections, the requests already coming are
        served (with Connection: close), idle connections are handed on."""
        deadline = self._stop_accepting()
        handler = self.handlers[0]
        while time.monotonic() < deadline:
            self._release_idle()
            if not self.clients:
                break
            self.notify()
            try:
                events = self.epoll.poll(STOP_POLL, MAX_EVENTS)
            except InterruptedError:
                continue
            for fd, _mask in events:
                if fd == self.wakeup_fd:
                    self.drain_wakeup()
                    continue
                try:
                    self._dispatch(fd, handler)
                except Exception:
                    self._fault(handler)
        self._last_hand_off()

    def _fault(self, handler: RequestHandler) -> None:
        # The loop must outlive any one connection's fault.
        self.log.exception("Unexpected error serving a connection")
        handler.slot.abandon()

    # --- registration: once per connection, level-triggered ---------------------------
    def _arm(self, fd: int, registered: bool) -> None:
        if not registered:
            self.epoll.register(fd, LEVEL_IN)

    def _rearm(self, fd: int) -> None:
        """Level-triggered registrations stay armed; only a paused listener is
        armed again (see :meth:`_after_accept`)."""
        if fd in self.listener_index and self.accepting:
            try:
                self.epoll.modify(fd, LEVEL_IN)
            except OSError:
                pass

    def _after_accept(self, fd: int) -> None:
        # At worker_connections a level-triggered listener would wake the loop
        # for every connection it cannot take: it stops being watched until a
        # connection closes (_rearm_listeners arms it again).
        full = len(self.clients) + 1 >= self.max_connections
        if full and not self.listeners_paused:
            for listener_fd in self.listener_index:
                try:
                    self.epoll.modify(listener_fd, 0)
                except OSError:
                    pass
        self.listeners_paused = full
