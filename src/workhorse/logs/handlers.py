"""Log handlers that never take the server down, and reopening log files.

Strategy: a log that cannot be written (disk full, file system gone, stdout
closed) must cost lines, not requests. The standard handlers already catch
errors in ``emit`` and pass them to ``handleError``; ours turn an
``OSError``/``ValueError`` there into one line on fd 2 per handler (again
after each reopen) instead of a traceback per record. Reopening (USR1)
opens the new file before closing the old one, under the handler's lock, so
a failed open keeps the old file and no record is written to neither.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import stat
import sys
from typing import Any

from workhorse.logs.errors import LogSetupError

#: Encoding of log files we open: never fails on odd bytes in a header.
FILE_ENCODING = "utf-8"
FILE_ERRORS = "backslashreplace"


class ReportsOnce:
    """Turns write errors into one line on fd 2 until the next reopen."""

    failing = False

    def _absorbed(self, target: str) -> bool:
        """True if the error being handled is a write error (now reported)."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, (OSError, ValueError)):
            return False
        if not self.failing:
            self.failing = True
            line = (
                f"workhorse: cannot write to the log {target}: {exc}; records are "
                "dropped until it is reopened (USR1); not repeating this\n"
            )
            try:
                os.write(2, line.encode("utf-8", "backslashreplace"))
            except OSError:
                pass
        return True


def clear_failure(handler: logging.Handler) -> None:
    """Report the next write error of ``handler`` again (after a reopen)."""
    if isinstance(handler, ReportsOnce):
        handler.failing = False


class SafeFileHandler(ReportsOnce, logging.FileHandler):
    """An append-mode file handler; write errors are reported once."""

    def __init__(self, path: str) -> None:
        super().__init__(path, mode="a", encoding=FILE_ENCODING, errors=FILE_ERRORS)

    def handleError(self, record: logging.LogRecord) -> None:
        if not self._absorbed(repr(self.baseFilename)):
            super().handleError(record)


class SafeStreamHandler(ReportsOnce, logging.StreamHandler):  # type: ignore[type-arg]
    """A handler on stdout or stderr; write errors are reported once."""

    def handleError(self, record: logging.LogRecord) -> None:
        if not self._absorbed(str(getattr(self.stream, "name", "stream"))):
            super().handleError(record)


def _open_reason(path: str, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    parent = os.path.dirname(os.path.abspath(path))
    if isinstance(exc, FileNotFoundError) and not os.path.isdir(parent):
        reason += f" (the directory {parent!r} does not exist; create it first)"
    return reason


def open_file_handler(setting: str, path: str, uid: int, gid: int) -> SafeFileHandler:
    """Open ``path`` for appending, or raise :class:`LogSetupError`.

    The file is handed to ``uid``/``gid`` so that workers, which may run as
    another user, can reopen it.
    """
    try:
        handler = SafeFileHandler(path)
    except OSError as exc:
        raise LogSetupError(setting, _open_reason(path, exc), path) from exc
    give_to(handler.baseFilename, uid, gid)
    return handler


def give_to(path: str, uid: int, gid: int) -> None:
    """chown a regular file to ``uid``/``gid`` if allowed (never /dev/null)."""
    try:
        if stat.S_ISREG(os.stat(path).st_mode):
            os.chown(path, uid, gid)
    except OSError:
        pass


def reopen_file_handler(handler: logging.FileHandler, uid: int, gid: int) -> OSError | None:
    """Point ``handler`` at a fresh open of its path; the error if that fails.

    The new file is opened before the old one is closed, under the handler's
    lock: on failure the old file stays in use. A handler that has not
    opened its file yet (``delay=True``) is left alone.
    """
    handler.acquire()
    try:
        old = handler.stream
        if old is None:
            return None
        try:
            new = handler._open()
        except OSError as exc:
            return exc
        try:
            old.flush()
        except (OSError, ValueError):
            pass
        handler.stream = new
        try:
            old.close()
        except (OSError, ValueError):
            pass
        clear_failure(handler)
    finally:
        handler.release()
    give_to(handler.baseFilename, uid, gid)
    return None


def set_cloexec(fd: int) -> None:
    flags = fcntl.fcntl(fd, fcntl.F_GETFD)
    fcntl.fcntl(fd, fcntl.F_SETFD, flags | fcntl.FD_CLOEXEC)


def all_loggers() -> list[logging.Logger]:
    """The root logger and every logger created so far."""
    found = [logging.getLogger()]
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            found.append(logger)
    return found


def parse_syslog_address(addr: str) -> tuple[socket.SocketKind | None, Any]:
    """``(socket type, address)`` for ``SysLogHandler`` from Gunicorn's syntax.

    ``unix://PATH`` (``#dgram``/``#stream`` forces the socket type, else both
    are tried), ``udp://HOST[:PORT]``, ``tcp://HOST[:PORT]``; IPv6 hosts in
    brackets; the port defaults to 514, the host to localhost.
    """
    if addr.startswith("unix://"):
        path, _, kind = addr[len("unix://") :].partition("#")
        kinds = {"": None, "dgram": socket.SOCK_DGRAM, "stream": socket.SOCK_STREAM}
        if kind not in kinds:
            raise ValueError(f"unknown unix socket type {kind!r} (use #dgram or #stream)")
        return kinds[kind], path
    if addr.startswith("udp://"):
        socktype, rest = socket.SOCK_DGRAM, addr[len("udp://") :]
    elif addr.startswith("tcp://"):
        socktype, rest = socket.SOCK_STREAM, addr[len("tcp://") :]
    else:
        raise ValueError("expected unix://PATH, udp://HOST:PORT or tcp://HOST:PORT")
    if rest.startswith("["):
        host, sep, tail = rest[1:].partition("]")
        if not sep:
            raise ValueError("unclosed '[' in the host")
    else:
        host, _, port_text = rest.partition(":")
        tail = ":" + port_text if port_text else ""
    port = 514
    if tail:
        if not tail.startswith(":") or not tail[1:].isdigit():
            raise ValueError(f"{tail.lstrip(':')!r} is not a valid port number")
        port = int(tail[1:])
    return socktype, (host.lower() or "localhost", port)
