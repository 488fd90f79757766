"""Process-level chores of the master: pidfile, daemon mode, systemd, names.

Strategy: small functions with no state of their own, each doing one thing
the way Gunicorn users expect (pidfile semantics, ``--daemon``), or the way
systemd documents it (``sd_notify`` datagrams to ``$NOTIFY_SOCKET``).
"""

from __future__ import annotations

import errno
import os
import socket
import sys


class PidfileError(Exception):
    pass


class Pidfile:
    """Gunicorn's pidfile: refuse to start over a live server, clean up on exit."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pid = 0

    def create(self, pid: int) -> None:
        other = self.validate()
        if other and other != os.getpid() and other != os.getppid():
            raise PidfileError(
                f"Already running on PID {other} (or pid file '{self.path}' is stale)")
        self.pid = pid
        directory = os.path.dirname(os.path.abspath(self.path))
        tmp = os.path.join(directory, f".workhorse-pid-{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{pid}\n")
        os.replace(tmp, self.path)  # atomic: a reader sees the old or the new pid

    def rename(self, path: str) -> None:
        self.unlink()
        self.path = path
        self.create(self.pid)

    def unlink(self) -> None:
        try:
            with open(self.path) as handle:
                if int(handle.read().strip() or 0) == self.pid:
                    os.unlink(self.path)
        except (OSError, ValueError):
            pass

    def validate(self) -> int:
        """The pid in the file if that process is alive, else 0."""
        try:
            with open(self.path) as handle:
                pid = int(handle.read().strip() or 0)
        except (OSError, ValueError):
            return 0
        if pid <= 0:
            return 0
        try:
            os.kill(pid, 0)
        except OSError as exc:
            if exc.errno == errno.ESRCH:
                return 0
            if exc.errno == errno.EPERM:
                return pid
            raise
        return pid


def read_pidfile(path: str) -> int:
    try:
        with open(path) as handle:
            return int(handle.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def daemonize(keep_stdio: bool) -> None:
    """Detach from the terminal (double fork), as ``--daemon`` does in Gunicorn."""
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    os.umask(0o22)
    if not keep_stdio:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        if null > 2:
            os.close(null)


def sd_notify(message: str, environ: dict[str, str] | None = None) -> bool:
    """Send a systemd notification (READY=1, STATUS=..., STOPPING=1); False if none."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
        return True
    except OSError:
        return False


def exit_with(message: str, code: int) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()
    sys.exit(code)
