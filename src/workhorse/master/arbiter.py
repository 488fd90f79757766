"""The master process: bind, fork, supervise, never die from a worker's fault.

Strategy (after Gunicorn's arbiter and Unicorn's master): signal handlers
only queue the signal; ``set_wakeup_fd`` wakes the main loop, which waits in
one ``select`` on the wake-up pipe, the workers' stack-dump pipes and
whatever else registered (control socket, metrics listener). The loop
sleeps until the next thing that can be due (a request deadline, a backoff
expiry, a one-second tick), then, in order: dispatches queued signals, reaps
exited workers, lets the watchdog end overdue ones, notices workers that
became ready, and reconciles the worker set with the target (spawn missing
ones, respecting boot backoff; stop surplus and outdated ones, only as their
replacements become ready). Every action on a worker is driven by what the
scoreboard says, and every failure is handled at the edge of the loop: an
exception in a hook or in one worker's bookkeeping is logged, never fatal.

Signals keep Gunicorn's meanings: TERM graceful stop, INT/QUIT fast stop,
HUP reload (here rolling: a new worker must be ready before an old one is
told to stop), TTIN/TTOU one worker more/less, USR1 reopen logs, USR2
re-exec a new master on the same sockets, WINCH stop the workers (after
USR2, or when daemonized), CHLD reap.
"""

from __future__ import annotations

import gc
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from workhorse import __version__, handoff, proctitle
from workhorse.config import worker_classes
from workhorse.config.settings import Config
from workhorse.listeners import (
    INHERIT_ENV,
    BindError,
    Listener,
    address_of,
    adopt,
    apply_io_timeouts,
    bind,
    close_all,
    describe,
    inherited_fds,
    parse_bind,
    refuse_new_connections,
)
from workhorse.master import answers, loopreport, process
from workhorse.master.answers import Disposition
from workhorse.master.backoff import YOUNG_SECONDS, BootBackoff
from workhorse.master.exits import Departure, StopReason, failed_boot, restart_cause
from workhorse.master.relay import Receiver, Relay
from workhorse.master.rescue import answer_and_close, close_quietly, has_pending_data
from workhorse.master.rolling import WorkerView, reconcile
from workhorse.master.snapshot import Ledger, build
from workhorse.master.termination import Phase, Termination
from workhorse.master.unavailable import Unavailable
from workhorse.master.watchdog import Watchdog
from workhorse.observe.backlog import listen_queue
from workhorse.observe.contract import ObservePlugin
from workhorse.observe.schema import ListenerInfo, Snapshot
from workhorse.scoreboard import (
    SLOT_WRITER,
    WHY_PYTHON_WRITER,
    RestartCause,
    Scoreboard,
    WorkerState,
)
from workhorse.workers.base import (
    APP_LOAD_ERROR,
    DUMP_SIGNAL,
    WORKER_BOOT_ERROR,
    Worker,
    WorkerContext,
)
from workhorse.workers.registry import request_slots, worker_class
from workhorse.wsgi.environ import script_name_default
from workhorse.wsgi.loader import AppImportError, load_app

if TYPE_CHECKING:
    from workhorse.master.warmup import Guard

#: Longest the master sleeps: the tick for heartbeats, RSS samples, the parent check.
MAX_SLEEP = 1.0
#: How often the master looks for the first ready worker while none has been announced.
READY_POLL = 0.05
#: Shortest sleep, so a deadline that is due right now cannot make the loop spin.
MIN_SLEEP = 0.01
#: How long a worker told to stop while it still boots may take to exit.
BOOTING_STOP_GRACE = 2.0
#: Environment variable telling a re-executed master who its predecessor is.
PARENT_MASTER_ENV = "WORKHORSE_PARENT_MASTER"

HANDLED_SIGNALS = (
    signal.SIGHUP, signal.SIGQUIT, signal.SIGINT, signal.SIGTERM, signal.SIGTTIN,
    signal.SIGTTOU, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGCHLD,
)

class HaltServer(Exception):
    def __init__(self, reason: str, exit_status: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exit_status = exit_status


@dataclass
class WorkerHandle:
    """What the master tracks about one worker process."""

    worker: Worker
    pid: int
    slot: int
    generation: int
    age: int
    spawned: float
    dump_fd: int
    handoff: socket.socket | None = None  # master's end of the hand-off pair
    ready_at: float = 0.0
    stop_requested_at: float = 0.0
    stop_reason: StopReason | None = None
    kill_after: float = 0.0
    termination: Termination | None = None
    dump: bytearray = field(default_factory=bytearray)
    #: When the last byte of a report the master did not ask for arrived
    #: (a blocked event loop, see master/loopreport.py); 0: none pending.
    report_at: float = 0.0
    rss: int = 0

    @property
    def booting(self) -> bool:
        return self.ready_at == 0.0

    @property
    def stopping(self) -> bool:
        return self.stop_requested_at != 0.0 or self.termination is not None


@dataclass
class Counters:
    """Cumulative figures the status and metrics report."""

    restarts: dict[RestartCause, int] = field(
        default_factory=lambda: dict.fromkeys(RestartCause, 0))
    spawned: int = 0
    timeouts: int = 0
    loops_blocked: int = 0
    shed: int = 0  # answered 503 for waiting longer than max_queue_time
    answered_504: int = 0
    answered_503: int = 0


class Arbiter:
    """The master process. Hooks receive it as ``server``/``arbiter``."""

    def __init__(self, cfg: Config, app_uri: str | None, log: Any, *,
                 reload_config: Callable[[], Config] | None = None,
                 argv: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> None:
        self.cfg = cfg
        self.app_uri = app_uri
        self.log = log
        self.reload_config = reload_config
        self.argv = list(argv)
        self.environ = dict(os.environ if environ is None else environ)
        self.pid = os.getpid()
        self._num_workers = int(cfg.workers)
        self.WORKERS: dict[int, Worker] = {}
        self.LISTENERS: list[Listener] = []
        self.handles: dict[int, WorkerHandle] = {}
        self.generation = 1
        self.age = 0
        self.reexec_pid = 0
        self.master_pid = int(self.environ.get(PARENT_MASTER_ENV, "0") or 0)
        #: Gunicorn's names: the processes' title ("workhorse: master [NAME]"), and
        #: "Master" in the log (".2"/"Master.2" for a re-executed one until promoted).
        self.proc_name = self._own_proc_name()
        self.master_name = "Master.2" if self.master_pid else "Master"
        #: The listeners came from systemd (socket activation): their files are its.
        self.systemd = False
        self.worker_class = worker_class(cfg.worker_class_name, int(cfg.threads))
        self.address = list(cfg.address)
        self.timeout = cfg.timeout
        self.started_at = time.time()
        self.pidfile: process.Pidfile | None = None
        self.app: Callable[..., Any] | None = None
        self.counters = Counters()
        self.ledger = Ledger()
        self.board: Scoreboard | None = None
        self.watchdog: Watchdog | None = None
        self.backoff = BootBackoff(cap=cfg.boot_backoff_max)
        # poll(2) per wait, not the default (epoll): in a process monkey-patched
        # by gevent (a config calling patch_all, --preload with the gevent
        # worker) the default selector is gevent's, whose idle descriptors keep
        # live watchers in the hub between waits; a forked worker closes them
        # and libev aborts. gevent's poll makes and drops its watchers per wait.
        self.selector: selectors.BaseSelector = selectors.PollSelector()
        self._signals: deque[int] = deque()
        self._wakeup_r = -1
        self._wakeup_w = -1
        self._stop_deadline = 0.0
        self._stopping = False
        self._exit_code = 0
        self._notified_ready = False
        self._next_sample = 0.0
        self._said_rescue_unavailable = False
        #: The observe plugins: control socket, metrics endpoint, StatsD (see cli).
        self.plugins: list[ObservePlugin] = []
        self.relay = Relay(has_pending_data=has_pending_data,
                           answer_unavailable=self._answer_unavailable, close=close_quietly)
        self.unavailable = Unavailable(self.selector, self._retry_after)
        #: TERM with a shutdown_delay: when the graceful stop begins (0: not draining).
        self._draining_until = 0.0
        self._delayed = False  # the shutdown delay was taken (a TERM after it stops)
        #: Since when no worker has been ready while boots fail (0: a worker is ready).
        self._no_worker_since = 0.0
        #: What was open before the warm-up requests (None: no warm-up, or checked).
        self._warmup_guard: Guard | None = None

    # --- start -----------------------------------------------------------------------
    def run(self) -> int:
        """Run until stopped; returns the exit code."""
        try:
            self.start()
            self._loop()
            self._halt(None, 0)
        except HaltServer as exc:
            self._halt(exc.reason, exc.exit_status)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
            self._halt(None, code)
        except Exception:
            self.log.exception("Unhandled exception in the main loop")
            self._halt("unhandled exception in the master", 1)
        return self._exit_code

    def start(self) -> None:
        cfg = self.cfg
        self.log.info("Starting workhorse %s", __version__)
        # Gunicorn calls it as the arbiter is set up: (workers, None), before on_starting.
        self._call_hook("nworkers_changed", self, self.num_workers, None)
        self._call_hook("on_starting", self)
        if cfg.pidfile:
            self.pidfile = process.Pidfile(cfg.pidfile)
            try:
                self.pidfile.create(self.pid)
            except process.PidfileError as exc:
                raise HaltServer(str(exc), 1)
        self._open_listeners()
        self._preload()
        self._warm_up()
        capacity = max(64, 4 * self.num_workers)
        self.board = Scoreboard(capacity, request_slots(cfg))
        if SLOT_WRITER != "c":
            # Works the same, but costs small requests about a fifth of their rate.
            self.log.warning("Scoreboard: requests are recorded by the slower Python writer: %s",
                             WHY_PYTHON_WRITER)
        self.watchdog = Watchdog(self.board, timeout=float(cfg.timeout or 0),
                                 boot_timeout=cfg.boot_timeout or 0.0,
                                 dump_signal=DUMP_SIGNAL if cfg.timeout_stack_dump else None,
                                 listener_names=[s.sock.getsockname() for s in self.LISTENERS])
        if cfg.is_ssl:
            self.watchdog.rescue_disabled_reason = (
                "TLS: the session lives in the worker, so the master cannot write on it")
        self._install_signals()
        for plugin in self.plugins:
            plugin.start(self)
        for listener in self.LISTENERS:
            self.log.info("Listening at: %s (%s)", listener, self.pid)
        self.log.info("Using worker: %s", cfg.worker_class_name)
        note = worker_classes.alias_note(cfg.worker_class)
        if note:
            self.log.info("%s", note)
        if cfg.timeout:
            # Gunicorn's gthread and asgi workers read timeout as a heartbeat.
            self.log.info("timeout %gs limits each request: one that makes no progress for "
                          "that long is ended with a 504 and its stack logged (a stream that "
                          "flows is not cut); see docs/supervision.md", cfg.timeout)
        proctitle.set_title("master", self.proc_name)
        self._call_hook("when_ready", self)

    def _open_listeners(self) -> None:
        cfg = self.cfg
        fds, source = inherited_fds(self.environ, self.pid)
        is_ssl = bool(cfg.is_ssl)
        if fds:
            for fd in fds:
                sock = adopt(fd)
                self.LISTENERS.append(Listener(sock, address_of(sock), describe(sock, is_ssl)))
            self.log.info("Inherited %d listener(s) from %s", len(fds), source)
            self.systemd = source == "systemd"
            for name in (INHERIT_ENV, "GUNICORN_FD", "LISTEN_FDS", "LISTEN_PID"):
                os.environ.pop(name, None)
        else:
            owner = (int(cfg.user), int(cfg.group)) if os.geteuid() == 0 else None
            for value in cfg.bind:
                address = parse_bind(value)
                try:
                    sock = bind(address, backlog=int(cfg.backlog), reuse_port=bool(cfg.reuse_port),
                                umask=int(cfg.umask), owner=owner,
                                log_retry=self.log.error)
                except BindError as exc:
                    raise HaltServer(str(exc), 1)
                self.LISTENERS.append(Listener(sock, address, describe(sock, is_ssl)))
        self._apply_io_timeouts()

    def _apply_io_timeouts(self) -> None:
        """Kernel read/send timeouts on TCP listeners, inherited by accepted sockets."""
        cfg = self.cfg
        for listener in self.LISTENERS:
            if listener.is_unix:
                continue
            apply_io_timeouts(listener.sock, float(cfg.header_timeout), float(cfg.send_timeout))

    def _preload(self) -> None:
        if not self.cfg.preload_app:
            return
        try:
            # What the worker kind must do before the app is imported (gevent patches).
            self.worker_class.before_preload(self.log)
            self.app = load_app(self.app_uri or "")
        except AppImportError as exc:
            detail = f"\n{exc.details}" if exc.details else ""
            self.log.error("Failed to load the application %r: %s%s", self.app_uri, exc, detail)
            raise HaltServer(f"App failed to load: {exc}", APP_LOAD_ERROR)
        except Exception:
            self.log.error("Failed to load the application %r:\n%s", self.app_uri,
                           traceback.format_exc())
            raise HaltServer("App failed to load.", APP_LOAD_ERROR)
        self.log.keep_ours_enabled()  # the app's logging setup may have disabled them

    def _warm_up(self) -> None:
        """The warmup setting's requests, in the master, once the app is preloaded."""
        specs = list(self.cfg.warmup)
        if not specs:
            return
        if self.app is None or self.cfg.worker_class_name == "asgi":
            why = ("the app is not loaded in the master without preload_app (--preload)"
                   if self.app is None else "the asgi worker runs an ASGI app")
            self.log.warning("warmup is ignored: %s", why)
            return
        from workhorse.master import warmup  # only a start that warms up pays for it

        self._warmup_guard = warmup.Guard()
        build = warmup.builder(self.LISTENERS[0].info if self.LISTENERS else None,
                               script_name=script_name_default(self.cfg.root_path or ""),
                               is_ssl=bool(self.cfg.is_ssl),
                               multithread=self.cfg.worker_class_name == "gthread",
                               multiprocess=self.num_workers > 1)
        warmup.run(self.app, specs, build, self.log)
        self._warmup_guard.done()
        self.log.keep_ours_enabled()

    def _refuse_warmup_leftovers(self) -> None:
        """Nothing the warm-up opened may be inherited by every worker (checked at the fork)."""
        if self._warmup_guard is None:
            return
        left = self._warmup_guard.leftovers()
        self._warmup_guard = None
        if left:
            self.log.error("The warm-up (warmup) left %s open in the master: every worker "
                           "would share it. Close it after the warm-up (e.g. in when_ready: "
                           "Django's django.db.connections.close_all()), or warm up paths "
                           "that do not open it.", ", ".join(left))
            raise HaltServer("warm-up left shared resources open", 1)

    def _install_signals(self) -> None:
        self._wakeup_r, self._wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        for signum in HANDLED_SIGNALS:
            signal.signal(signum, self._queue_signal)
            signal.siginterrupt(signum, False)
        signal.set_wakeup_fd(self._wakeup_w, warn_on_full_buffer=False)
        self.selector.register(self._wakeup_r, selectors.EVENT_READ, self._drain_wakeup)

    def _queue_signal(self, signum: int, frame: Any) -> None:
        if len(self._signals) < 16:
            self._signals.append(signum)

    def _drain_wakeup(self) -> None:
        try:
            while os.read(self._wakeup_r, 4096):
                pass
        except OSError:
            pass

    # --- the loop --------------------------------------------------------------------
    def _loop(self) -> None:
        self._refuse_warmup_leftovers()
        # Garbage from loading the configuration and the CLI parser goes before
        # the first fork, so no worker inherits it; what is left is frozen so
        # the collector's writes do not unshare the pages workers share. That
        # garbage is young: collecting generations 0-1 finds it (91 of 102
        # objects after a Django project's preload) in 2 ms, where a full
        # collection walks every object the app imported (25 ms, on the path
        # to the first response) for a dozen more, and a worker's memory was
        # the same without any collection (bench/django_pages.py --no-collect).
        gc.collect(1)
        gc.freeze()
        self._manage_workers(time.monotonic())
        while True:
            now = time.monotonic()
            for key, _ in self.selector.select(self._sleep_time(now)):
                try:
                    key.data()
                except Exception:
                    self.log.exception("Error in a master event handler")
            # Before the signals: a worker that became ready is announced
            # (systemd's READY=1) even when a TERM arrived in the same wait.
            self._notice_ready(time.monotonic())
            self._dispatch_signals()
            now = time.monotonic()
            self._reap()
            self._watch(now)
            self._place_held(now)
            self._answer_for_failing_boots(now)
            if self._draining_until and now >= self._draining_until:
                self._draining_until = 0.0
                self.stop(graceful=True)
            if self._stopping:
                if self._finish_stop(now):
                    return
                continue
            self._check_parent_master()
            self._manage_workers(now)
            self._sample(now)
            for plugin in self.plugins:
                plugin.tick(self, now)

    def _sleep_time(self, now: float) -> float:
        wake = now + MAX_SLEEP
        assert self.watchdog is not None
        deadline = self.watchdog.next_deadline([h.slot for h in self.handles.values()], now)
        if deadline is not None:
            wake = min(wake, deadline)
        for handle in self.handles.values():
            if handle.termination is not None and handle.termination.waiting:
                wake = min(wake, handle.termination.next_step_at)
            if handle.kill_after:
                wake = min(wake, handle.kill_after)
            if handle.report_at:
                wake = min(wake, handle.report_at + loopreport.SETTLE)
            if handle.booting and self.watchdog.boot_timeout:
                wake = min(wake, handle.spawned + self.watchdog.boot_timeout)
            if handle.booting and not self._notified_ready:
                # The first ready worker is announced within READY_POLL, not a second.
                wake = min(wake, now + READY_POLL)
        if self.backoff.failing:
            wake = min(wake, self.backoff.next_spawn_at)
        if self._stopping:
            wake = min(wake, self._stop_deadline)
        if self._draining_until:
            wake = min(wake, self._draining_until)
        unavailable_wake = self.unavailable.next_wake()
        if unavailable_wake is not None:
            wake = min(wake, unavailable_wake)
        relay_wake = self.relay.next_wake(now)
        if relay_wake is not None:
            wake = min(wake, relay_wake)
        return max(MIN_SLEEP, min(MAX_SLEEP, wake - now))

    # --- signals -------------------------------------------------------------------------
    def _dispatch_signals(self) -> None:
        while self._signals:
            signum = self._signals.popleft()
            name = signal.Signals(signum).name
            if signum != signal.SIGCHLD:
                self.log.info("Handling signal: %s", name[3:].lower())
            handler = getattr(self, f"handle_{name[3:].lower()}", None)
            if handler is None:
                continue
            try:
                handler()
            except HaltServer:
                raise
            except Exception:
                self.log.exception("Error handling signal %s", name)

    def handle_chld(self) -> None:
        """Reaping happens every loop iteration; nothing more to do."""

    def handle_hup(self) -> None:
        self.reload()

    def handle_term(self) -> None:
        self.stop(graceful=True)

    def handle_int(self) -> None:
        self.stop(graceful=False)

    def handle_quit(self) -> None:
        self.stop(graceful=False)

    def handle_ttin(self) -> None:
        self.set_num_workers(self.num_workers + 1)

    def handle_ttou(self) -> None:
        if self.num_workers > 1:
            self.set_num_workers(self.num_workers - 1)

    def handle_usr1(self) -> None:
        self.log.reopen_files()
        self._signal_workers(signal.SIGUSR1)

    def handle_usr2(self) -> None:
        self.reexec()

    def handle_winch(self) -> None:
        if self.cfg.daemon or self.reexec_pid:
            self.log.info("graceful stop of workers")
            self.set_num_workers(0)
        else:
            self.log.debug("SIGWINCH ignored: not daemonized and no re-executed master")

    # --- actions -----------------------------------------------------------------------
    @property
    def num_workers(self) -> int:
        return self._num_workers

    @num_workers.setter
    def num_workers(self, count: int) -> None:
        # A hook assigning it (as Gunicorn's property allows) goes the same way.
        self.set_num_workers(int(count))

    def set_num_workers(self, count: int) -> None:
        """The number of workers to run; nworkers_changed is told, as in Gunicorn, even
        when the number stays the same (a HUP)."""
        capacity = self.board.worker_capacity if self.board else count
        limit = capacity // 2
        if count > limit:
            self.log.warning("Cannot run more than %d workers with this scoreboard (asked %d)",
                             limit, count)
            count = limit
        old, self._num_workers = self._num_workers, count
        self._call_hook("nworkers_changed", self, count, old)

    def reload(self) -> None:
        """HUP: re-read the config and replace every worker, rolling."""
        self.log.info("Reloading: re-reading the configuration")
        if self.reload_config is not None:
            try:
                new_cfg = self.reload_config()
            except Exception as exc:
                self.log.error("Reload aborted, the configuration is invalid: %s", exc)
                return
            self._apply_new_config(new_cfg)
        # As Gunicorn's reload: the configured number again, and the hook told.
        self.set_num_workers(int(self.cfg.workers))
        self._call_hook("on_reload", self)
        self.log.reopen_files()
        self.generation += 1
        process.sd_notify("RELOADING=1")
        self.log.info("Reload: starting generation %d next to %d running worker(s)",
                      self.generation, len(self.handles))

    def _apply_new_config(self, cfg: Config) -> None:
        if list(cfg.bind) != list(self.cfg.bind):
            self.log.warning("bind changed on reload; new addresses need a restart (USR2)")
        self.cfg = cfg
        self.log.setup(cfg)
        self.proc_name = self._own_proc_name()
        self.address = list(cfg.address)
        self.timeout = cfg.timeout
        proctitle.set_title("master", self.proc_name)
        if self.watchdog is not None:
            self.watchdog.timeout = float(cfg.timeout or 0)
            self.watchdog.boot_timeout = cfg.boot_timeout or 0.0
        self.backoff.cap = cfg.boot_backoff_max
        self._apply_io_timeouts()

    def stop(self, *, graceful: bool) -> None:
        if self._stopping:
            if not graceful:
                self._signal_workers(signal.SIGQUIT)
            return
        if graceful and self._delay_stop():
            return
        self._draining_until = 0.0
        self._stopping = True
        self._drain_connections()
        self.unavailable.set_active(False, [])
        process.sd_notify("STOPPING=1")
        if self._listeners_end_here():
            refused = refuse_new_connections(self.LISTENERS)
            self.log.debug("Stopping: %d listener(s) refuse new connections; the workers "
                           "take what is already queued", refused)
        close_all(self.LISTENERS, unlink=self._owns_socket_files())
        self.LISTENERS = []
        self._stop_deadline = time.monotonic() + float(self.cfg.graceful_timeout)
        sig = signal.SIGTERM if graceful else signal.SIGQUIT
        for handle in list(self.handles.values()):
            self._request_stop(handle, StopReason.SHUTDOWN, sig)
        self.relay.settle_all()

    def _delay_stop(self) -> bool:
        """TERM with a shutdown_delay: keep serving, say not ready. True while it waits.

        A second TERM during the delay stops at once.
        """
        delay = self.cfg.shutdown_delay
        if not delay or self._draining_until or self._delayed:
            return False
        self._delayed = True
        self._draining_until = time.monotonic() + delay
        self._drain_connections()
        process.sd_notify("STOPPING=1")
        self.log.info("Stopping in %gs (shutdown_delay): serving meanwhile, /readyz answers "
                      "503; a second TERM stops at once", delay)
        return True

    def _drain_connections(self) -> None:
        """From now on every response closes its connection: a load balancer keeps
        none idle to this instance, so none is closed under a request it sends."""
        assert self.board is not None
        for handle in self.handles.values():
            self.board.set_draining(handle.slot)

    @property
    def draining(self) -> bool:
        """On its way out: a load balancer should send no new requests."""
        return self._stopping or bool(self._draining_until)

    # --- when no worker can serve -----------------------------------------------------
    def _answer_for_failing_boots(self, now: float) -> None:
        """While boots fail and no worker is ready, the master answers 503 itself."""
        assert self.board is not None
        ready = any(self.board.read_worker(h.slot).state == WorkerState.READY
                    for h in self.handles.values())
        nothing_serves = not ready and self.backoff.failing and not self._stopping
        if nothing_serves and not self._no_worker_since:
            self._no_worker_since = now
        elif not nothing_serves:
            self._no_worker_since = 0.0
        listeners = [listener.sock for listener in self.LISTENERS if not self.cfg.is_ssl]
        self.unavailable.set_active(nothing_serves and bool(listeners), listeners)
        self.unavailable.expire(now)
        if nothing_serves and self.cfg.max_boot_failures and \
                self.backoff.failures >= self.cfg.max_boot_failures:
            raise HaltServer(f"{self.backoff.failures} workers failed to boot in a row "
                             f"(max_boot_failures)", WORKER_BOOT_ERROR)

    def _retry_after(self) -> float:
        return max(1.0, self.backoff.next_spawn_at - time.monotonic())

    @property
    def unable_to_boot_for(self) -> float | None:
        """How long no worker has been able to boot and serve (None: one is ready)."""
        if not self._no_worker_since:
            return None
        return time.monotonic() - self._no_worker_since

    def _finish_stop(self, now: float) -> bool:
        """While stopping: True once every worker is gone."""
        if not self.handles:
            return True
        if now >= self._stop_deadline:
            for handle in list(self.handles.values()):
                self._kill(handle.pid)
            self._stop_deadline = now + MAX_SLEEP
            self._reap_blocking(2.0)
            return not self.handles
        self._kill_stragglers(now)
        return False

    def reexec(self) -> None:
        """USR2: start a new master on the same listeners (binary upgrade)."""
        if self.reexec_pid:
            self.log.warning("USR2 ignored: a re-executed master (%s) is running", self.reexec_pid)
            return
        if self.master_pid:
            self.log.warning("USR2 ignored: this master was re-executed and its parent lives")
            return
        self._call_hook("pre_exec", self)
        pid = os.fork()
        if pid:
            self.reexec_pid = pid
            if self.pidfile is not None:
                self.pidfile.rename(self.pidfile.path + ".oldbin")
            return
        try:
            self._exec_new_master()
        finally:
            os._exit(1)

    def _exec_new_master(self) -> None:
        environ = dict(os.environ)
        fds = [listener.fileno() for listener in self.LISTENERS]
        for fd in fds:
            os.set_inheritable(fd, True)
        environ[INHERIT_ENV] = ",".join(str(fd) for fd in fds)
        environ[PARENT_MASTER_ENV] = str(self.pid)
        os.chdir(self.cfg.chdir)
        argv = [sys.executable, "-m", "workhorse", *self.argv]
        os.execve(sys.executable, argv, environ)

    def _listeners_end_here(self) -> bool:
        """Whether nobody uses this server's listening sockets after it: no other
        master shares them (USR2), and systemd did not make them."""
        return self.reexec_pid == 0 and self.master_pid == 0 and not self.systemd

    def _owns_socket_files(self) -> bool:
        """Whether stopping removes the UNIX sockets' files, as Gunicorn decides: not
        while another master shares them (USR2), nor when systemd made them (the
        next start gets them from it again), nor with reuse_port."""
        return self._listeners_end_here() and not self.cfg.reuse_port

    def _own_proc_name(self) -> str:
        name = str(self.cfg.proc_name_or_default)
        return f"{name}.2" if self.master_pid else name

    def _check_parent_master(self) -> None:
        """A re-executed master becomes the master once its predecessor is gone."""
        if self.master_pid and os.getppid() != self.master_pid:
            self.log.info("Master %s is gone; this master (%s) takes over", self.master_pid,
                          self.pid)
            self.master_pid = 0
            self.master_name = "Master"
            self.proc_name = self._own_proc_name()
            proctitle.set_title("master", self.proc_name)
            if self.pidfile is not None:
                self.pidfile.create(self.pid)

    # --- spawning ----------------------------------------------------------------------
    def _manage_workers(self, now: float) -> None:
        self._stop_surplus(now)
        self._spawn_missing(now)

    def _spawn_missing(self, now: float) -> None:
        plan = reconcile(self._views(), generation=self.generation, target=self.num_workers)
        missing, booting = plan.missing, plan.booting
        while missing > 0 and self.backoff.may_spawn(now, booting):
            if not self._spawn():
                return
            missing -= 1
            booting += 1

    def _stop_surplus(self, now: float) -> None:
        plan = reconcile(self._views(), generation=self.generation, target=self.num_workers)
        for pid, reason in plan.stop:
            self._request_stop(self.handles[pid], reason, signal.SIGTERM)
        self._kill_stragglers(now)

    def _kill_stragglers(self, now: float) -> None:
        for handle in self.handles.values():
            if handle.kill_after and now >= handle.kill_after and handle.termination is None:
                self.log.warning("Worker %s did not stop within %s; killing it", handle.pid,
                                 "graceful_timeout" if handle.ready_at else
                                 f"{BOOTING_STOP_GRACE:g}s (it was still booting)")
                self._kill(handle.pid)
                handle.kill_after = 0.0

    def _views(self) -> list[WorkerView]:
        return [WorkerView(pid=h.pid, generation=h.generation, age=h.age, booting=h.booting,
                           stopping=h.stopping) for h in self.handles.values()]

    def _spawn(self) -> bool:
        assert self.board is not None
        slot = self._free_slot()
        if slot is None:
            self.log.error("No free scoreboard slot: cannot spawn a worker")
            return False
        self.age += 1
        self.board.prepare_worker(slot, self.generation)
        self.board.set_takes_idle(slot, self._takes_idle())
        if self.draining:
            self.board.set_draining(slot)
        dump_r, dump_w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(dump_r, False)
        master_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        master_end.setblocking(False)
        ctx = WorkerContext(
            cfg=self.cfg, log=self.log, app_uri=self.app_uri, preloaded_app=self.app,
            listeners=self.LISTENERS, board=self.board, arbiter=self, proc_name=self.proc_name,
            master_fds=[*self._master_only_fds(), dump_r, master_end.fileno()],
            dump_fd=dump_w, handoff_fd=worker_end.fileno(),
        )
        worker = worker_class(self.cfg.worker_class_name, int(self.cfg.threads))(
            ctx, age=self.age, slot=slot, generation=self.generation)
        self._call_hook("pre_fork", self, worker)
        try:
            pid = os.fork()
        except OSError as exc:
            self.log.error("fork() failed: %s", exc)
            for fd in (dump_r, dump_w):
                os.close(fd)
            master_end.close()
            worker_end.close()
            self.board.release_worker(slot)
            return False
        if pid == 0:
            os.set_inheritable(dump_w, False)
            worker.run_child()  # never returns
        os.close(dump_w)
        worker_end.close()
        worker.pid = pid
        handle = WorkerHandle(worker=worker, pid=pid, slot=slot, generation=self.generation,
                              age=self.age, spawned=time.monotonic(), dump_fd=dump_r,
                              handoff=master_end)
        self.handles[pid] = handle
        self.WORKERS[pid] = worker
        self.counters.spawned += 1
        self.selector.register(dump_r, selectors.EVENT_READ,
                               lambda h=handle: self._read_dump(h))
        self.selector.register(master_end.fileno(), selectors.EVENT_READ,
                               lambda h=handle: self._receive_handed(h))
        return True

    def _free_slot(self) -> int | None:
        assert self.board is not None
        used = {h.slot for h in self.handles.values()}
        for slot in range(self.board.worker_capacity):
            if slot not in used:
                return slot
        return None

    def _master_only_fds(self) -> list[int]:
        fds = [self._wakeup_r, self._wakeup_w]
        fds += [h.dump_fd for h in self.handles.values()]
        fds += [h.handoff.fileno() for h in self.handles.values() if h.handoff is not None]
        fds += self.relay.fds()
        fds += self.unavailable.fds()
        for plugin in self.plugins:
            fds += plugin.fds()
        return [fd for fd in fds if fd >= 0]

    def _read_dump(self, handle: WorkerHandle) -> None:
        try:
            while True:
                chunk = os.read(handle.dump_fd, 65536)
                if not chunk:
                    self._unregister_dump(handle)
                    return
                if len(handle.dump) < 1_000_000:
                    handle.dump += chunk
                if handle.termination is None:
                    handle.report_at = time.monotonic()
        except BlockingIOError:
            pass
        except OSError:
            self._unregister_dump(handle)

    def _unregister_dump(self, handle: WorkerHandle) -> None:
        if handle.dump_fd >= 0:
            try:
                self.selector.unregister(handle.dump_fd)
            except (KeyError, ValueError):
                pass
            os.close(handle.dump_fd)
            handle.dump_fd = -1

    # --- stopping single workers -----------------------------------------------------
    def _request_stop(self, handle: WorkerHandle, reason: StopReason, sig: int) -> None:
        if self.board is not None:
            self.board.set_takes_idle(handle.slot, self._takes_idle())
        if handle.stop_requested_at:
            if sig != signal.SIGTERM:
                self._signal(handle.pid, sig)
            return
        handle.stop_requested_at = time.monotonic()
        handle.stop_reason = reason
        # A booting worker has nothing in flight to finish: a short grace for a
        # clean exit, then it is killed (its import may hang in C code).
        grace = BOOTING_STOP_GRACE if handle.booting else self.cfg.graceful_timeout
        handle.kill_after = handle.stop_requested_at + grace
        self._signal(handle.pid, sig)

    # --- Gunicorn's Arbiter methods, for hooks ---------------------------------------
    def halt(self, reason: str | None = None, exit_status: int = 0) -> NoReturn:
        """Stop the workers and exit (as Gunicorn's ``server.halt()`` from a hook)."""
        raise HaltServer(reason or "", exit_status)

    def kill_worker(self, pid: int, sig: int) -> None:
        self._signal(pid, sig)

    def kill_workers(self, sig: int) -> None:
        self._signal_workers(sig)

    def wakeup(self) -> None:
        """Nothing to do: the master's loop wakes on its own signals and timers."""

    @property
    def worker_age(self) -> int:
        return self.age

    def _signal_workers(self, sig: int) -> None:
        for pid in list(self.handles):
            self._signal(pid, sig)

    def _signal(self, pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        except OSError as exc:
            self.log.error("Cannot signal worker %s: %s", pid, exc)

    def _kill(self, pid: int) -> None:
        self._signal(pid, signal.SIGKILL)

    # --- watching -------------------------------------------------------------------
    def _log_loop_reports(self, now: float) -> None:
        """Blocked-loop reports that are complete: one log record each."""
        assert self.board is not None
        for handle in self.handles.values():
            if not handle.report_at or now - handle.report_at < loopreport.SETTLE:
                continue
            handle.report_at = 0.0
            if handle.termination is not None:
                continue  # the dump belongs to the termination's record
            stacks = handle.dump.decode("utf-8", "replace").strip()
            handle.dump.clear()
            seen = self.board.read_worker(handle.slot)
            self.counters.loops_blocked += 1
            self.log.error("%s", loopreport.describe(
                handle.pid, handle.slot, seen.loop_blocked_after,
                self.board.read_busy_requests(handle.slot), stacks, now))

    def _watch(self, now: float) -> None:
        self._log_loop_reports(now)
        watchdog = self.watchdog
        assert watchdog is not None
        for handle in list(self.handles.values()):
            term = handle.termination
            if term is not None:
                watchdog.advance(term, now)
                if term.phase == Phase.CANCELLED:
                    self.log.info("Worker %s finished its overdue request during the stack "
                                  "dump; not killed", handle.pid)
                    watchdog.cancel(term)
                    handle.termination = None
                    handle.dump.clear()
                continue
            overdue = watchdog.check(handle.slot, now)
            if overdue is None:
                continue
            handle.termination = watchdog.start(handle.pid, handle.slot, overdue, now,
                                                drain_for=self.cfg.graceful_timeout)
            if handle.termination.partial:
                self._end_partially(handle, handle.termination)
            if handle.termination.rescue_error and not self._said_rescue_unavailable:
                self._said_rescue_unavailable = True
                self.log.warning("Timed-out clients cannot be answered with 504 here (%s); "
                                 "their connections will be closed",
                                 handle.termination.rescue_error)

    def _notice_ready(self, now: float) -> None:
        assert self.board is not None
        for handle in self.handles.values():
            if not handle.booting:
                if self.backoff.failing and now - handle.ready_at >= YOUNG_SECONDS:
                    self.backoff.healthy()
                continue
            state = self.board.read_worker(handle.slot).state
            if state in (WorkerState.READY, WorkerState.STOPPING):
                handle.ready_at = now
                if not self._notified_ready:
                    self._notified_ready = True
                    process.sd_notify("READY=1\nSTATUS=serving")

    def _sample(self, now: float) -> None:
        board = self.board
        assert board is not None
        self.ledger.sample(now, lambda: self.ledger.total(board, [h.slot for h in
                                                                 self.handles.values()]))
        if now < self._next_sample:
            return
        self._next_sample = now + MAX_SLEEP
        limit = self.cfg.max_worker_memory or 0
        for handle in self.handles.values():
            handle.rss = read_rss(handle.pid)
            if limit and handle.rss > limit and not handle.stopping and not handle.booting:
                self.log.warning("Worker %s uses %d MiB RSS, over max_worker_memory (%d MiB): "
                                 "replacing it after its current request", handle.pid,
                                 handle.rss // 2**20, limit // 2**20)
                self._request_stop(handle, StopReason.MEMORY, signal.SIGTERM)

    # --- reaping -------------------------------------------------------------------------
    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.reexec_pid:
                self.reexec_pid = 0
                self.log.info("Re-executed master %s exited (%s)", pid, _describe_status(status))
                if self.pidfile is not None:
                    self.pidfile.rename(self.pidfile.path.removesuffix(".oldbin"))
                continue
            handle = self.handles.pop(pid, None)
            if handle is None:
                continue
            self.WORKERS.pop(pid, None)
            try:
                self._worker_exited(handle, status)
            except HaltServer:
                raise
            except Exception:
                self.log.exception("Error cleaning up after worker %s", pid)

    def _reap_blocking(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.handles and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.01)

    def _worker_exited(self, handle: WorkerHandle, status: int) -> None:
        assert self.board is not None
        now = time.monotonic()
        self._read_dump(handle)
        self._unregister_dump(handle)
        self._close_handoff(handle)
        gone = Departure(
            exit_code=os.waitstatus_to_exitcode(status),
            ended_by=handle.termination.cause if handle.termination is not None else None,
            stop_reason=handle.stop_reason,
            said=self.board.read_worker(handle.slot).exit_reason,
            booting=handle.booting,
            served_for=0.0 if handle.booting else now - handle.ready_at)
        cause = restart_cause(gone)
        # What it timed out or shed itself stays counted.
        last_word = self.board.read_worker(handle.slot)
        self.counters.timeouts += last_word.own_timeouts
        self.counters.shed += last_word.shed
        if cause is not None:
            self.counters.restarts[cause] += 1
        if handle.termination is not None:
            self._finish_termination(handle, now)
        elif cause in (RestartCause.CRASH, RestartCause.KILLED):
            self._log_crash(handle, status)
        if failed_boot(gone, cause):
            delay = self.backoff.failed(now)
            if gone.booting or cause != RestartCause.CRASH:
                self.log.error("Worker %s failed to boot (%s; %d consecutive failures); next "
                               "attempt in %.0fs. The workers that are up keep serving.",
                               handle.pid, _describe_exit(status), self.backoff.failures, delay)
            else:
                self.log.error("Worker %s died %.1fs after booting; next spawn in %.0fs",
                               handle.pid, gone.served_for, delay)
        for plugin in self.plugins:
            plugin.worker_exited(self, handle, cause.value if cause is not None else "")
        self.ledger.retire(self.board, handle.slot)
        self.board.release_worker(handle.slot)
        self._call_hook("child_exit", self, handle.worker)

    def _log_crash(self, handle: WorkerHandle, status: int) -> None:
        code = os.waitstatus_to_exitcode(status)
        if code == -signal.SIGKILL:
            self.log.error("Worker %s was sent SIGKILL by something other than workhorse "
                           "(the kernel's OOM killer, or kill -9)", handle.pid)
        else:
            self.log.error("Worker %s exited unexpectedly (%s)", handle.pid,
                           _describe_exit(status))

    def _end_partially(self, handle: WorkerHandle, term: Termination) -> None:
        """A stuck request in a worker whose other threads still run: its client gets
        the 504 now, and the worker a graceful stop (no new work, its other requests
        finish); the watchdog kills it once they have (see master/termination.py)."""
        for client in term.rescued:
            head_only = client.request_line.startswith("HEAD ")
            reply = answers.response(504, client.request_id, head_only=head_only)
            # Shutting the copy down also ends the worker's side: nothing it
            # writes later reaches the client after the 504.
            if answer_and_close(client.fd, reply):
                term.answered_early = True
                self.counters.answered_504 += 1
        term.rescued.clear()
        self._request_stop(handle, StopReason.SHUTDOWN, signal.SIGTERM)

    def _finish_termination(self, handle: WorkerHandle, now: float) -> None:
        term = handle.termination
        assert term is not None
        self.counters.timeouts += 1 if term.cause == RestartCause.TIMEOUT else 0
        overdue_answered = term.answered_early
        others_answered = 0
        handed_over = 0
        for client in term.rescued:
            fate = answers.disposition(client.kind, can_pass_on=self._can_pass_on(client.fd),
                                       request_waiting=has_pending_data(client.fd))
            if fate == Disposition.PASS_ON:
                self._hold_rescued(client.fd, now)
                handed_over += 1
                continue
            if fate == Disposition.CLOSE:
                close_quietly(client.fd)
                continue
            head_only = client.request_line.startswith("HEAD ")
            reply = answers.response(fate.value, client.request_id, head_only=head_only)
            if not answer_and_close(client.fd, reply):
                continue
            if fate == Disposition.ANSWER_504:
                overdue_answered = True
                self.counters.answered_504 += 1
            else:
                others_answered += 1
                self.counters.answered_503 += 1
        stacks = handle.dump.decode("utf-8", "replace").strip() or "(no stack dump received)"
        answer = ""
        if term.cause == RestartCause.TIMEOUT:
            why = term.rescue_error or "its response had started, or it left"
            answer = ("its client was answered 504" if overdue_answered else
                      f"its client could not be answered ({why})")
        if term.partial:
            answer += ("; the worker's other threads still ran, so it took no new work and "
                       + (f"was killed with {term.others_left} other request(s) still in "
                          f"flight after graceful_timeout" if term.others_left else
                          "its other requests finished before it was replaced"))
        if others_answered:
            answer += f"; {others_answered} other request(s) in flight answered 503"
        if handed_over:
            answer += f"; {handed_over} keep-alive connection(s) handed to another worker"
        latency = max(0.0, now - term.deadline)
        if term.cause == RestartCause.TIMEOUT:
            self.log.error(
                "WORKER TIMEOUT (pid:%s, slot:%s): %r ran %.2fs, past its %gs timeout; "
                "worker gone %.2fs after the deadline; %s.\nStacks of the worker when it was "
                "killed:\n%s", handle.pid, handle.slot, term.request_line,
                term.elapsed + (now - term.started), self.watchdog.timeout if self.watchdog else 0,
                latency, answer, stacks)
        else:
            self.log.error("WORKER %s (pid:%s, slot:%s): %s; worker gone %.2fs after the "
                           "deadline.%s\nStacks:\n%s",
                           "BOOT TIMEOUT" if term.cause == RestartCause.BOOT_TIMEOUT
                           else "FROZEN",
                           handle.pid, handle.slot, term.detail, latency,
                           f" {answer}." if answer else "", stacks)

    def _can_pass_on(self, fd: int) -> bool:
        """Whether a killed worker's idle connection can go to another worker."""
        if self.cfg.is_ssl or self.cfg.proxy_protocol != "off":
            # The TLS session, or what the PROXY header said, died with the worker.
            return False
        return (any(h.worker.accepts_handoff for h in self.handles.values())
                and self._listener_index_of(fd) is not None)

    def _hold_rescued(self, fd: int, now: float) -> None:
        """Pass a killed worker's idle keep-alive connection on through the relay.

        The request that may be waiting on it was never read by the dead
        worker, so another worker can serve it as if nothing happened.
        """
        index = self._listener_index_of(fd)
        assert index is not None
        self.relay.take([handoff.Handed(fd=fd, listener=index)], now)

    # --- connections in transit between workers ----------------------------------------
    def _takes_idle(self) -> bool:
        """Whether the master can place the idle connections of a worker that stops now."""
        return not self._stopping and self.num_workers > 0

    def _receive_handed(self, handle: WorkerHandle) -> None:
        """A stopping worker gave its idle keep-alive connections to the master."""
        sock = handle.handoff
        if sock is None:
            return
        now = time.monotonic()
        while True:
            try:
                items = handoff.receive(sock)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            self.relay.take(items, now)
        self._place_held(now)

    def _place_held(self, now: float) -> None:
        relay = self.relay
        if not relay.held:
            return
        relay.place(self._receivers())
        if not relay.held:
            return
        if not self._takes_idle():
            relay.settle_all()
            return
        failing = self.backoff.failing and not self._receivers()
        relay.expire(now, hold_for=float(self.cfg.graceful_timeout),
                     retry_after=max(1.0, self.backoff.next_spawn_at - now) if failing else None)

    def _receivers(self) -> list[Receiver]:
        """Workers that can adopt connections now: ready, and not on their way out
        (a worker stopping by itself, at max_requests, says so only on the scoreboard)."""
        assert self.board is not None
        found = []
        for handle in self.handles.values():
            if handle.handoff is None or not handle.worker.accepts_handoff or handle.stopping:
                continue
            seen = self.board.read_worker(handle.slot)
            if seen.state == WorkerState.READY:
                found.append(Receiver(handle.handoff, seen.connections))
        return found

    def _answer_unavailable(self, fd: int, retry_after: float) -> None:
        """No worker can take a connection a request waits on: say so, don't drop it."""
        self.counters.answered_503 += 1
        answer_and_close(fd, answers.response(503, retry_after=retry_after,
                                              text=answers.NO_WORKER_TEXT))

    def _close_handoff(self, handle: WorkerHandle) -> None:
        sock = handle.handoff
        if sock is None:
            return
        self._receive_handed(handle)  # what it sent just before it exited
        try:
            self.selector.unregister(sock.fileno())
        except (KeyError, ValueError):
            pass
        sock.close()
        handle.handoff = None

    def _listener_index_of(self, fd: int) -> int | None:
        try:
            with socket.socket(fileno=os.dup(fd)) as sock:
                local = sock.getsockname()
        except OSError:
            return None
        for index, listener in enumerate(self.LISTENERS):
            name = listener.sock.getsockname()
            if (isinstance(name, tuple) and isinstance(local, tuple) and name[1] == local[1]) \
                    or name == local:
                return index
        return None

    # --- ending ----------------------------------------------------------------------------
    def _halt(self, reason: str | None, exit_status: int) -> None:
        self._exit_code = exit_status
        if reason:
            self.log.error("Shutting down: %s", reason)
        if self.handles:
            self._stop_now()
        self.log.info("Shutting down: %s", self.master_name)
        if self.pidfile is not None:
            self.pidfile.unlink()
        close_all(self.LISTENERS, unlink=self._owns_socket_files())
        self.relay.settle_all()
        for plugin in self.plugins:
            try:
                plugin.stop(self)
            except Exception:
                self.log.exception("Error stopping %s", plugin)
        self._call_hook("on_exit", self)

    def _stop_now(self) -> None:
        self._signal_workers(signal.SIGTERM)
        self._reap_blocking(float(self.cfg.graceful_timeout))
        self._signal_workers(signal.SIGKILL)
        self._reap_blocking(2.0)

    def _call_hook(self, name: str, *args: Any) -> None:
        hook = getattr(self.cfg, name, None)
        if hook is None:
            return
        try:
            hook(*args)
        except HaltServer:  # the hook called server.halt()
            raise
        except Exception:
            self.log.exception("Exception in %s hook", name)

    # --- figures for observers -------------------------------------------------------------
    def worker_handles(self) -> list[WorkerHandle]:
        return list(self.handles.values())

    def snapshot(self) -> Snapshot:
        """What every worker is doing, as the status views and metrics read it."""
        return build(self, [listener_info(listener) for listener in self.LISTENERS])

    def reopen_logs(self) -> None:
        self.handle_usr1()


def listener_info(listener: Listener) -> ListenerInfo:
    queue = listen_queue(listener.sock)
    return ListenerInfo(
        address=str(listener.address),
        kind="unix" if listener.is_unix else "tcp",
        queued=queue[0] if queue else None,
        limit=queue[1] if queue else None,
    )


def read_rss(pid: int) -> int:
    """Resident set size of a process in bytes (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _describe_exit(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    meaning = {WORKER_BOOT_ERROR: " (worker boot error)", APP_LOAD_ERROR: " (app load error)"}
    return f"exit code {code}{meaning.get(code, '')}"


def _describe_status(status: int) -> str:
    return _describe_exit(status)

