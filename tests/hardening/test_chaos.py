"""Chaos under load: a random worker SIGKILLed every second while clients keep asking.

Three client threads send requests without pause, a new connection each
(HTTP/1.0, so every connection carries one request), for ``CHAOS_SECONDS``
(12 in CI; ``WORKHORSE_CHAOS_SECONDS=60`` for the long form, see
docs/security.md). The app answers with its pid. Meanwhile a random worker
is killed with SIGKILL every second. Then:

- the master keeps its worker count (polled at the end);
- the master leaks no file descriptor and leaves no zombie (counted in
  /proc before and after, polled to let transient ones go);
- every failed request is accounted for: it was in flight while a worker
  was killed (its start..end interval contains a kill). A failure that
  overlaps no kill is a bug. No worker ever answers a request that started
  after it was killed, and a sync worker (one request at a time) costs at
  most one request per kill.

The figures (kills, requests, failures) are printed (``-s`` shows them).
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import socket
import threading
import time

import pytest
from hardening_support import fd_count, worker_pids, zombie_children

from support import wait_for

CHAOS_SECONDS = float(os.environ.get("WORKHORSE_CHAOS_SECONDS", "12"))
KILL_INTERVAL = 1.0
CLIENTS = 3
WORKERS = 3
#: Pause of each client between requests: steady load that leaves CPU to the
#: tests running beside this one (about 1,000 requests/s in all).
PACE = 0.002
#: A request's client gives up after this (a hung request is a failure too).
CLIENT_TIMEOUT = 5.0
#: Clock slack between a kill and the failure it explains (os.kill is recorded
#: just before the signal is sent; the client sees the reset a moment after).
SLACK = 0.05


@dataclasses.dataclass
class Attempt:
    start: float
    end: float
    pid: int | None  # the worker that answered; None: failed
    error: str = ""


def _one_request(port: int) -> Attempt:
    start = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as sock:
            sock.sendall(b"GET /pid HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError as exc:
        return Attempt(start, time.monotonic(), None, f"{type(exc).__name__}: {exc}")
    end = time.monotonic()
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200") or not body.isdigit():
        return Attempt(start, end, None, f"bad answer {data[:80]!r}")
    return Attempt(start, end, int(body))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sync", "gthread", "gevent"])
def test_random_sigkills_under_load_lose_only_requests_in_flight(app_server, kind):
    server, _ = app_server(kind, "-w", str(WORKERS))
    server.wait_booted(WORKERS)
    master = server.pid
    wait_for(lambda: len(worker_pids(server)) == WORKERS)
    fds_before = fd_count(master)
    assert zombie_children(master) == []

    attempts: list[Attempt] = []
    kills: list[tuple[float, int]] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            attempt = _one_request(server.port)
            attempts.append(attempt)  # list.append is atomic
            stop.wait(PACE)

    clients = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
    rng = random.Random(f"{kind}-{CHAOS_SECONDS}")
    start = time.monotonic()
    for thread in clients:
        thread.start()
    try:
        next_kill = start + KILL_INTERVAL
        while time.monotonic() < start + CHAOS_SECONDS:
            stop.wait(max(0.0, next_kill - time.monotonic()))
            next_kill += KILL_INTERVAL
            alive = worker_pids(server)
            if alive:
                victim = rng.choice(alive)
                kills.append((time.monotonic(), victim))
                os.kill(victim, signal.SIGKILL)
    finally:
        stop.set()
        for thread in clients:
            thread.join(CLIENT_TIMEOUT + 1)

    # The master restores its worker count, and holds no more fds nor zombies.
    killed = {pid for _, pid in kills}
    wait_for(lambda: len(p := worker_pids(server)) == WORKERS and not killed & set(p),
             timeout=15, message=f"{WORKERS} workers again")
    wait_for(lambda: fd_count(master) <= fds_before, timeout=10,
             message=f"the master's fds back to {fds_before} (now {fd_count(master)})")
    wait_for(lambda: zombie_children(master) == [], timeout=10, message="no zombie children")
    assert server.proc is not None and server.proc.poll() is None

    failures = [a for a in attempts if a.pid is None]
    unexplained = [a for a in failures
                   if not any(a.start - SLACK <= t <= a.end + SLACK for t, _ in kills)]
    kill_time = {pid: t for t, pid in kills}
    after_death = [a for a in attempts
                   if a.pid is not None and a.pid in kill_time and a.start > kill_time[a.pid]]
    figures = (f"{kind}: {len(kills)} kills, {len(attempts)} requests, {len(failures)} failed "
               f"(all during a kill: {not unexplained}), "
               f"{len({a.pid for a in attempts if a.pid})} workers answered")
    print(figures)
    assert len(kills) >= CHAOS_SECONDS / KILL_INTERVAL - 1, figures
    assert len(attempts) > 20 * CHAOS_SECONDS, figures  # the load was real
    assert not unexplained, f"{figures}; failures overlapping no kill: {unexplained[:5]}"
    assert not after_death, f"answered by a worker killed before: {after_death[:5]}"
    # Each failure is charged to the kills its interval contains: a sync worker has
    # one request in flight, a gthread or gevent worker at most one per client here.
    per_kill = [sum(a.start - SLACK <= t <= a.end + SLACK for a in failures) for t, _ in kills]
    assert max(per_kill, default=0) <= (1 if kind == "sync" else CLIENTS), (figures, per_kill)
