"""The worker contract: what every worker kind does around its I/O loop.

Strategy: the master creates a :class:`Worker` before it forks (so the
``pre_fork`` hook sees it, as in Gunicorn), and the child runs
:meth:`Worker.run_child`, which never returns: it resets the signal state
inherited from the master, claims its scoreboard slot, runs ``post_fork``,
drops privileges, arms the C-level stack dump (``faulthandler`` on
:data:`DUMP_SIGNAL`, writing into a pipe the master reads, because a worker
stuck in C code holding the GIL can run no Python), loads the app (unless
preloaded), runs ``post_worker_init``, marks itself ready and enters the
subclass's I/O loop. Exit codes keep Gunicorn's meanings: 3 for a worker
that failed to boot, 4 for an app that failed to load.

The attributes Gunicorn's hooks rely on are here with the same names:
``pid``, ``ppid``, ``age``, ``log``, ``cfg``, ``alive``, ``booted``,
``nr``, ``max_requests``, ``wsgi``.
"""

from __future__ import annotations

import atexit
import faulthandler
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, NoReturn

from workhorse import proctitle
from workhorse.config.settings import Config
from workhorse.listeners import Listener
from workhorse.scoreboard import ExitReason, Scoreboard
from workhorse.workers.reloader import start_reloader
from workhorse.wsgi.loader import AppImportError, load_app

#: Exit codes, as Gunicorn's arbiter reads them.
WORKER_BOOT_ERROR = 3
APP_LOAD_ERROR = 4

#: Signal the master sends to get a C-level dump of every thread's stack.
#: A real-time signal: nothing else in a WSGI stack uses it, and it is
#: queued rather than merged.
DUMP_SIGNAL = signal.SIGRTMIN + 2

#: How often an idle worker's loop wakes up (heartbeat, parent check).
LOOP_TICK = 1.0


@dataclass
class WorkerContext:
    """Everything a worker gets from the master at fork time."""

    cfg: Config
    log: Any
    app_uri: str | None
    preloaded_app: Callable[..., Any] | None
    listeners: list[Listener]
    board: Scoreboard
    arbiter: Any  # what hooks get as `server`
    master_fds: list[int] = field(default_factory=list)  # to close in the child
    dump_fd: int = -1  # write end of this worker's stack-dump pipe
    #: This worker's end of a datagram socket pair on which the master hands
    #: over client connections of a worker it had to kill (threaded worker).
    handoff_fd: int = -1
    #: What the process titles say after "worker" (proc_name or the app).
    proc_name: str = "workhorse"


class Worker:
    """A worker process, as the master and Gunicorn's hooks see it."""

    #: Whether this kind can adopt connections the master hands over from a
    #: worker it killed (only a worker that keeps connections alive can).
    accepts_handoff = False

    def __init__(self, ctx: WorkerContext, *, age: int, slot: int, generation: int) -> None:
        self.ctx = ctx
        self.cfg = ctx.cfg
        self.log = ctx.log
        self.age = age
        self.slot = slot
        self.generation = generation
        self.ppid = os.getpid()
        self.pid: int | str = "[booting]"
        self.alive = True
        self.booted = False
        self.aborted = False
        self.nr = 0
        self.wsgi: Callable[..., Any] | None = ctx.preloaded_app
        self.sockets = ctx.listeners
        self.max_requests = self._max_requests()
        self.exit_reason = ExitReason.SHUTDOWN
        self.started_at = time.monotonic()
        self.slot_writer = ctx.board.worker_writer(slot)
        self._wakeup_r = -1
        self._wakeup_w = -1
        self._next_tick = 0.0
        # keepalive = 0: every response says Connection: close, as Gunicorn's do.
        self._no_keepalive = float(self.cfg.keepalive or 0) <= 0
        #: Gunicorn's worker.timeout (its heartbeat period); here the request deadline.
        self.timeout = self.cfg.timeout

    def __str__(self) -> str:
        return f"<Worker {self.pid}>"

    def _max_requests(self) -> int:
        limit = int(self.cfg.max_requests or 0)
        if limit <= 0:
            return sys.maxsize
        jitter = int(self.cfg.max_requests_jitter or 0)
        if jitter <= 0:
            return limit
        import random

        return limit + random.randint(0, jitter)

    # --- the child's life --------------------------------------------------------
    def run_child(self) -> NoReturn:
        """Everything the child does; always ends in ``os._exit``."""
        code = 0
        try:
            self.pid = os.getpid()
            proctitle.set_title("worker", self.ctx.proc_name)
            self._reset_inherited_state()
            self.slot_writer.started(self.pid)
            self._call_hook("post_fork", self.ctx.arbiter, self)
            self._boot()
            self.slot_writer.ready()
            self.booted = True
            self.log.info("Booting worker with pid: %s", self.pid)
            self.run()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            self.log.exception("Worker %s failed", self.pid)
            code = 1 if self.booted else WORKER_BOOT_ERROR
        finally:
            self.slot_writer.exit_reason(self.exit_reason)
            self._call_hook("worker_exit", self.ctx.arbiter, self)
            self.log.info("Worker exiting (pid: %s)", self.pid)
            _run_exit_handlers(self.log)
            _flush_std_streams()
        os._exit(code)

    def _reset_inherited_state(self) -> None:
        """Undo what the master set up for itself before the fork."""
        signal.set_wakeup_fd(-1)
        # The master's handlers only queue signals in the master's loop: in a
        # booting worker they would swallow a TERM. Until the worker installs
        # its own (init_signals), the default action applies: a worker told to
        # stop while it boots just ends.
        for signum in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGUSR2,
                       signal.SIGWINCH, signal.SIGCHLD, signal.SIGTERM, signal.SIGINT,
                       signal.SIGQUIT):
            signal.signal(signum, signal.SIG_DFL)
        # A log reopen (USR1) while booting must not end the worker.
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        unused = list(self.ctx.master_fds)
        if not self.accepts_handoff and self.ctx.handoff_fd >= 0:
            unused.append(self.ctx.handoff_fd)
        for fd in unused:
            try:
                os.close(fd)
            except OSError:
                pass
        self._wakeup_r, self._wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.ctx.dump_fd >= 0:
            faulthandler.register(DUMP_SIGNAL, file=self.ctx.dump_fd, all_threads=True,
                                  chain=False)

    def _boot(self) -> None:
        """Privileges, signals, the app: anything failing here is a boot error."""
        try:
            self._drop_privileges()
            self.init_signals()
        except Exception:
            self.log.exception("Worker %s failed to boot", self.pid)
            self.exit_reason = ExitReason.BOOT_ERROR
            raise SystemExit(WORKER_BOOT_ERROR)
        if self.wsgi is None:
            self.wsgi = self._load_app()
        self.log.keep_ours_enabled()  # the app's logging setup may have disabled them
        self._call_hook("post_worker_init", self)
        if self.cfg.reload:
            start_reloader(self, self.cfg.reload_extra_files, self.log)
        self.setup()

    def _load_app(self) -> Callable[..., Any]:
        uri = self.ctx.app_uri or ""
        try:
            return load_app(uri)
        except AppImportError as exc:
            self.exit_reason = ExitReason.APP_LOAD_ERROR
            detail = f"\n{exc.details}" if exc.details else ""
            self.log.error("Worker %s failed to load the application %r: %s%s",
                           self.pid, uri, exc, detail)
            raise SystemExit(APP_LOAD_ERROR)
        except Exception:
            self.exit_reason = ExitReason.BOOT_ERROR
            self.log.error("Worker %s failed to boot loading %r:\n%s", self.pid, uri,
                           traceback.format_exc())
            raise SystemExit(WORKER_BOOT_ERROR)

    def _drop_privileges(self) -> None:
        uid, gid = int(self.cfg.user), int(self.cfg.group)
        if os.getegid() != gid or os.geteuid() != uid:
            if self.cfg.initgroups:
                import pwd

                os.initgroups(pwd.getpwuid(uid).pw_name, gid)
            elif os.geteuid() == 0:
                # Without initgroups the worker belongs to its group only; the
                # master's supplementary groups (root's) must not come along.
                os.setgroups([])
            if os.getegid() != gid:
                os.setgid(gid)
            if os.geteuid() != uid:
                os.setuid(uid)

    # --- signals -------------------------------------------------------------------
    def init_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_quit)
        signal.signal(signal.SIGQUIT, self._on_quit)
        signal.signal(signal.SIGUSR1, self._on_usr1)
        signal.signal(signal.SIGABRT, self._on_abort)
        signal.signal(signal.SIGWINCH, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        # Interrupted system calls are restarted; the wake-up pipe is what
        # makes a blocked loop notice a signal.
        for signum in (signal.SIGTERM, signal.SIGUSR1):
            signal.siginterrupt(signum, False)
        signal.set_wakeup_fd(self._wakeup_w, warn_on_full_buffer=False)

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        """Graceful stop: finish what is in flight, then exit.

        A worker still booting has nothing in flight: it leaves at once, even
        from the middle of importing the app (Gunicorn's would wait for the
        import and be killed at graceful_timeout).
        """
        self.alive = False
        self.slot_writer.stopping(ExitReason.SHUTDOWN)
        if not self.booted:
            raise SystemExit(0)

    def _on_quit(self, signum: int, frame: FrameType | None) -> None:
        """Fast stop (INT/QUIT): Gunicorn's worker_int hook, then exit now."""
        self.alive = False
        self._call_hook("worker_int", self)
        raise SystemExit(0)

    def _on_usr1(self, signum: int, frame: FrameType | None) -> None:
        self.log.reopen_files()

    def _on_abort(self, signum: int, frame: FrameType | None) -> None:
        """The master timed this worker out; Gunicorn's worker_abort hook runs here
        when the worker can still run Python (the master's SIGKILL follows anyway)."""
        self.alive = False
        self.aborted = True
        self._call_hook("worker_abort", self)
        raise SystemExit(1)

    # --- helpers for the loops -------------------------------------------------------
    def notify(self) -> None:
        """Heartbeat (Gunicorn's name): the loop is alive."""
        self.slot_writer.heartbeat(time.monotonic())

    def housekeeping(self, now: float) -> bool:
        """Once a loop tick: the heartbeat, and the parent check. False: stop now."""
        if now < self._next_tick:
            return True
        self._next_tick = now + LOOP_TICK
        self.notify()
        return self.parent_alive()

    def parent_alive(self) -> bool:
        if os.getppid() != self.ppid:
            self.log.info("Parent changed, shutting down: %s", self)
            self.exit_reason = ExitReason.PARENT_GONE
            return False
        return True

    def count_request(self) -> None:
        # A plain counter: in the threaded worker two threads may race on it
        # and lose one count, which only delays a max_requests restart by one.
        self.nr += 1
        if self.nr >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self.exit_reason = ExitReason.MAX_REQUESTS
            self.slot_writer.stopping(ExitReason.MAX_REQUESTS)
            self.alive = False
            self.wake_loop()

    def wake_loop(self) -> None:
        """Make the I/O loop's wait return now (as a signal would)."""
        try:
            os.write(self._wakeup_w, b"!")
        except OSError:
            pass

    def closes_connections(self) -> bool:
        """Every response must say Connection: close: the worker or the server stops
        (or keepalive is 0)."""
        return self._no_keepalive or not self.alive or self.slot_writer.master_drains()

    def serves_the_queue_on_stop(self) -> bool:
        """The whole server stops (the master takes no idle connections): take and
        serve what waits in the listen queue before letting go of the listeners,
        or it would be reset when the last process closes them."""
        return not self.slot_writer.master_takes_idle()

    def handoff_socket(self) -> socket.socket | None:
        """This worker's end of the hand-off socket pair, non-blocking (None: none)."""
        fd = self.ctx.handoff_fd
        if fd < 0:
            return None
        sock = socket.socket(fileno=fd, family=socket.AF_UNIX, type=socket.SOCK_DGRAM)
        sock.setblocking(False)
        return sock

    @property
    def wakeup_fd(self) -> int:
        return self._wakeup_r

    def drain_wakeup(self) -> None:
        try:
            while os.read(self._wakeup_r, 512):
                pass
        except (BlockingIOError, OSError):
            pass

    def _call_hook(self, name: str, *args: Any) -> None:
        hook = getattr(self.cfg, name, None)
        if hook is None:
            return
        try:
            hook(*args)
        except SystemExit:
            raise
        except Exception:
            self.log.exception("Exception in %s hook", name)

    # --- for subclasses ---------------------------------------------------------
    @classmethod
    def before_preload(cls, log: Any) -> None:
        """Called in the master before it imports the app (``--preload``)."""

    def setup(self) -> None:
        """Prepare the I/O loop after the app is loaded (before ready)."""

    def run(self) -> None:  # pragma: no cover - every kind overrides it
        raise NotImplementedError


def take_the_queue(listeners: list[socket.socket]) -> list[tuple[int, socket.socket, Any]]:
    """Every connection waiting in the listeners' accept queues, then close our
    copies of the listeners at once: a connection that arrives after the last
    accept of the last process holding a listener is reset by the kernel, so
    that moment must follow the drain as closely as possible."""
    taken = [(index, sock, peer) for index, listener in enumerate(listeners)
             for sock, peer in queued_connections(listener)]
    for listener in listeners:
        listener.close()
    return taken


def queued_connections(listener: socket.socket) -> Iterator[tuple[socket.socket, Any]]:
    """The connections waiting in a listener's accept queue, taken without blocking."""
    # Shared with the other workers, which all handle EAGAIN on accept.
    listener.setblocking(False)
    while True:
        try:
            yield listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return


def _run_exit_handlers(log: Any) -> None:
    """What the app registered with atexit (an exporter's last flush, a pool's
    close) runs as the worker exits, as it does when a Gunicorn worker exits
    through the interpreter. The worker still ends with os._exit: nothing the
    master set up before the fork is torn down twice."""
    try:
        atexit._run_exitfuncs()
    except Exception:
        log.exception("Error in an atexit handler")


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
