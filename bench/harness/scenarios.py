"""The load shapes: which app, how many workers, how wrk connects.

Scenarios that share an app, a worker count and the pinning share one server
start (a and b; c and d), and run back to back on it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    name: str
    app: str  # a WSGI callable of apps.py (ASGI servers run hello_asgi, hello scenarios only)
    workers: int
    pinned: bool  # server on one core, wrk and the probe on the other (when taskset can)
    wrk_threads: int
    connections: int
    keepalive: bool  # False: every request says `Connection: close`
    proxy: bool = False  # through nginx: HTTP/1.0 upstream, a new connection per request
    summary: str = ""
    #: The rows that run it (empty: every row that supports its app): a load only a
    #: worker serving many requests at once can take.
    rows: tuple[str, ...] = ()

    @property
    def instance(self) -> tuple[str, int, bool]:
        """Scenarios with the same key run on the same server start."""
        return (self.app, self.workers, self.pinned)

    @property
    def method(self) -> str:
        return "POST" if self.app == "echo" else "GET"


_ALL = [
    Scenario("a", "hello", 1, True, 1, 50, True,
             summary="hello, 1 worker pinned, keep-alive, -t1 -c50"),
    Scenario("b", "hello", 1, True, 1, 50, False,
             summary="as a, `Connection: close` on every request"),
    Scenario("c", "hello", 2, False, 2, 100, True,
             summary="hello, 2 workers unpinned, keep-alive, -t2 -c100"),
    Scenario("d", "hello", 2, False, 2, 100, True, proxy=True,
             summary="as c, behind nginx (HTTP/1.0 upstream, buffering on); clients keep-alive"),
    Scenario("json", "json_small", 1, True, 1, 50, True, summary="as a, a ~300 B JSON body"),
    Scenario("big", "big", 1, True, 1, 50, True, summary="as a, a 1 MiB body"),
    Scenario("echo", "echo", 1, True, 1, 50, True,
             summary="as a, POST of 4 KiB read and sent back"),
    Scenario("slow500", "slow", 1, True, 1, 500, True,
             summary="500 keep-alive clients, each request waiting 100 ms (a patched sleep), "
                     "1 worker pinned: the gevent rows",
             rows=("workhorse-gevent", "gunicorn-gevent", "workhorse-gevent-obs-off",
                   "workhorse-gevent-bare")),
]
SCENARIOS: dict[str, Scenario] = {s.name: s for s in _ALL}
DEFAULT = tuple(SCENARIOS)
QUICK = ("a", "b")
