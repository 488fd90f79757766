"""A StatsD client that never slows a request down and never raises.

Strategy: one datagram per metric, written with a non-blocking ``send`` on
a UDP socket connected once (or a UNIX datagram socket addressed per send,
so an agent started after us is found), in Gunicorn's wire format so
existing dashboards keep working: ``<prefix><name>:<value>|<type>``, with
``|@<rate>`` on counters and DogStatsD tags as ``|#tag1:v,tag2`` at the
end. The prefix follows Gunicorn's rule (see :func:`gunicorn_prefix`). A
metric that cannot be sent right now (no agent, a full socket buffer) is
dropped: losing a sample is better than blocking the request path.
"""

from __future__ import annotations

import socket

from workhorse.config.addresses import TcpAddress, UnixAddress, parse_statsd_address
from workhorse.config.settings import Config

#: Gunicorn's names, kept so dashboards built for it keep working.
REQUESTS = "gunicorn.requests"
REQUEST_DURATION = "gunicorn.request.duration"
REQUEST_STATUS = "gunicorn.request.status."
LOG_LINES = "gunicorn.log."
WORKERS = "gunicorn.workers"
BACKLOG = "gunicorn.backlog"


def gunicorn_prefix(prefix: str) -> str:
    """``statsd_prefix`` as Gunicorn applies it: trailing dots become exactly one.

    Gunicorn's rule only applies when what precedes the trailing dots is at
    least two characters long; a one-character prefix is used as written
    (so ``"a"`` stays ``"a"``), and so it is here.
    """
    stem = prefix.rstrip(".")
    return stem + "." if len(stem) >= 2 else prefix


class StatsdClient:
    """Sends StatsD metrics to ``address`` (``HOST:PORT``, ``HOST``, ``unix:PATH``).

    Construction never raises: an address that cannot be used leaves the
    client inactive and says why in :attr:`error`.
    """

    def __init__(self, address: str, prefix: str = "", tags: str = "") -> None:
        self.address = address
        self.prefix = gunicorn_prefix(prefix)
        self.suffix = ("|#" + tags).encode() if tags else b""
        self.error: str | None = None
        self._sock: socket.socket | None = None
        self._path: str | None = None
        try:
            self._open(address)
        except (OSError, ValueError) as exc:
            self.error = f"statsd_host {address!r}: {exc}"

    @classmethod
    def from_settings(cls, cfg: Config) -> StatsdClient | None:
        """The client ``statsd_host``/``statsd_prefix``/``dogstatsd_tags`` ask for, or None."""
        host = cfg.statsd_host
        if not host:
            return None
        return cls(str(host), cfg.statsd_prefix or "", cfg.dogstatsd_tags or "")

    def _open(self, address: str) -> None:
        target = parse_statsd_address(address)
        if isinstance(target, UnixAddress):
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
            self._sock.setblocking(False)  # gevent's class ignores SOCK_NONBLOCK
            self._path = target.path
            return
        if not isinstance(target, TcpAddress):
            raise ValueError("use HOST:PORT or unix:PATH")
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            target.host, target.port, type=socket.SOCK_DGRAM)[0]
        sock = socket.socket(family, kind | socket.SOCK_NONBLOCK, proto)
        sock.setblocking(False)  # gevent's class ignores SOCK_NONBLOCK
        try:
            sock.connect(sockaddr)  # UDP: only fixes the destination, sends nothing
        except OSError:
            sock.close()
            raise
        self._sock = sock

    @property
    def active(self) -> bool:
        return self._sock is not None

    def fileno(self) -> int | None:
        return None if self._sock is None else self._sock.fileno()

    # --- metrics (Gunicorn's method names where it has them) ---------------------
    def gauge(self, name: str, value: float) -> None:
        self._send(f"{self.prefix}{name}:{value}|g")

    def incr(self, name: str, value: float = 1, rate: float = 1.0) -> None:
        self._send(f"{self.prefix}{name}:{value}|c|@{rate}")

    increment = incr

    def decr(self, name: str, value: float = 1, rate: float = 1.0) -> None:
        self._send(f"{self.prefix}{name}:-{value}|c|@{rate}")

    decrement = decr

    def timing(self, name: str, milliseconds: float) -> None:
        self._send(f"{self.prefix}{name}:{milliseconds}|ms")

    timer = timing

    def histogram(self, name: str, value: float) -> None:
        self._send(f"{self.prefix}{name}:{value}|h")

    def _send(self, line: str) -> None:
        sock = self._sock
        if sock is None:
            return
        data = line.encode("utf-8", "replace") + self.suffix
        try:
            if self._path is None:
                sock.send(data)
            else:
                sock.sendto(data, self._path)
        except OSError:
            pass  # no agent, refused, buffer full: drop this sample

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
