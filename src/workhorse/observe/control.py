"""The control socket: ``workhorse status`` and ``workhorse ctl`` talk to the master here.

Strategy: a UNIX stream socket served by the master's own loop (so it
answers while every worker is stuck), one JSON object per line each way:
the client sends ``{"command": ...}`` and a newline, the master answers one
object and a newline and closes. Who may talk is decided twice: by the
socket file's mode (``control_socket_mode``, applied by a umask while
binding, so the file never exists with looser permissions) and by the
peer's credentials (SO_PEERCRED): only the master's effective uid and root
are heard, anyone else gets an error answer and a line in the log.

Commands and answers (every answer has ``ok``; failures carry ``error``):

- ``{"command": "ping"}`` -> ``{"ok": true, "pid": ..., "version": ...}``
- ``{"command": "status"}`` -> ``{"ok": true, "status": <Snapshot>}``
- ``{"command": "reload"}`` (as HUP), ``{"command": "reopen"}`` (as USR1)
- ``{"command": "scale", "workers": N}`` or ``{"command": "scale", "delta": +1}``
  -> ``{"ok": true, "workers": <target now>, "previous": <target before>}``
- ``{"command": "stop", "graceful": true}`` (TERM; false: as QUIT)
"""

from __future__ import annotations

import json
import math
import os
import socket
from collections.abc import Callable
from typing import Any

from workhorse import __version__
from workhorse.config.settings import Config
from workhorse.observe.contract import MasterControl
from workhorse.observe.oneshot import CLIENT_TIMEOUT, MAX_CONNECTIONS, OneShotServer
from workhorse.observe.sockets import (
    FileIdentity,
    bind_unix,
    peer_credentials,
    unlink_if_ours,
)

#: A command is a few dozen bytes; 64 KiB leaves room for any future
#: argument while bounding what one client can make the master buffer.
MAX_REQUEST = 64 * 1024
DEFAULT_MODE = 0o600

Reply = dict[str, Any]


class CommandError(Exception):
    """A command the master will not run; the message goes back to the client."""


def handle_command(arbiter: MasterControl, message: object) -> Reply:
    """Run one decoded request against the master and return the answer."""
    if not isinstance(message, dict):
        raise CommandError("the request must be a JSON object such as {\"command\": \"status\"}")
    name = message.get("command")
    command = COMMANDS.get(name) if isinstance(name, str) else None
    if command is None:
        accepted = ", ".join(sorted(COMMANDS))
        raise CommandError(f"unknown command {name!r}; accepted commands: {accepted}")
    return command(arbiter, message)


def _ping(arbiter: MasterControl, message: dict[str, Any]) -> Reply:
    return {"ok": True, "pid": os.getpid(), "version": __version__}


def _status(arbiter: MasterControl, message: dict[str, Any]) -> Reply:
    return {"ok": True, "status": arbiter.snapshot()}


def _reload(arbiter: MasterControl, message: dict[str, Any]) -> Reply:
    arbiter.log.info("control socket: reload requested")
    arbiter.reload()
    return {"ok": True}


def _reopen(arbiter: MasterControl, message: dict[str, Any]) -> Reply:
    arbiter.log.info("control socket: reopening the log files")
    arbiter.reopen_logs()
    return {"ok": True}


def _stop(arbiter: MasterControl, message: dict[str, Any]) -> Reply:
    graceful = message.get("graceful", True)
    if not isinstance(graceful, bool):
        raise CommandError("stop: graceful must be true or false")
    arbiter.log.info("control socket: %s stop requested", "graceful" if graceful else "quick")
    arbiter.stop(graceful=graceful)
    return {"ok": True, "stopping": "graceful" if graceful else "quick"}


def _scale(arbiter: MasterControl, message: dict[str, Any]) -> Reply:
    previous = arbiter.num_workers
    target = _scale_target(message, previous)
    if target < 1:
        raise CommandError(
            f"scale: at least 1 worker is needed (asked {target}); use stop to stop the server"
        )
    arbiter.log.info("control socket: scaling from %d to %d workers", previous, target)
    arbiter.set_num_workers(target)
    return {"ok": True, "workers": arbiter.num_workers, "previous": previous}


def _scale_target(message: dict[str, Any], current: int) -> int:
    workers, delta = message.get("workers"), message.get("delta")
    if (workers is None) == (delta is None):
        raise CommandError('scale: give either "workers": N or "delta": +N/-N')
    value = workers if workers is not None else delta
    if not isinstance(value, int) or isinstance(value, bool):
        raise CommandError(f"scale: {value!r} is not a whole number")
    return value if workers is not None else current + value


COMMANDS: dict[str, Callable[[MasterControl, dict[str, Any]], Reply]] = {
    "ping": _ping,
    "status": _status,
    "reload": _reload,
    "reopen": _reopen,
    "scale": _scale,
    "stop": _stop,
}


def encode(reply: Reply) -> bytes:
    """One JSON line. NaN and infinities (not JSON) become null."""
    try:
        text = json.dumps(reply, allow_nan=False, separators=(",", ":"))
    except ValueError:
        text = json.dumps(_finite(reply), separators=(",", ":"))
    return text.encode() + b"\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _error(message: str) -> bytes:
    return encode({"ok": False, "error": message})


class ControlServer(OneShotServer):
    """The master plugin serving the control socket at ``path``."""

    name = "control socket"
    max_request = MAX_REQUEST

    def __init__(self, path: str, mode: int = DEFAULT_MODE, *,
                 client_timeout: float = CLIENT_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        super().__init__(client_timeout=client_timeout, max_connections=max_connections)
        self.path = path
        self.mode = mode
        self._identity: FileIdentity | None = None

    @classmethod
    def from_config(cls, cfg: Config) -> ControlServer | None:
        """The control server the settings ask for; None when disabled."""
        if cfg.control_socket_disable or not cfg.control_socket:
            return None
        return cls(cfg.control_socket, int(cfg.control_socket_mode))

    def open_listener(self) -> socket.socket:
        sock, self._identity = bind_unix(self.path, self.mode)
        return sock

    def close_listener(self, sock: socket.socket) -> None:
        try:
            unlink_if_ours(self.path, self._identity)
        except OSError as exc:
            self._log().warning("control socket: cannot remove %s: %s", self.path, exc)
        self._identity = None
        sock.close()

    def refusal(self, sock: socket.socket) -> bytes | None:
        pid, uid, _ = peer_credentials(sock)
        if uid in (0, os.geteuid()):
            return None
        self._log().warning("control socket: refused pid %d running as uid %d (only uid %d and"
                            " root may use it)", pid, uid, os.geteuid())
        return _error(f"permission denied: uid {uid} may not use this control socket")

    def request_length(self, data: bytearray, eof: bool) -> int | None:
        end = data.find(b"\n")
        if end >= 0:
            return end + 1
        if eof and data.strip():
            return len(data)  # a client that closed its side without the newline
        return None

    def answer(self, request: bytes) -> bytes:
        try:
            message = json.loads(request)
        except ValueError as exc:
            return _error(f"the request is not valid JSON: {exc}")
        assert self._arbiter is not None
        try:
            return encode(handle_command(self._arbiter, message))
        except CommandError as exc:
            return _error(str(exc))

    def too_large(self) -> bytes:
        return _error(f"request too large (more than {MAX_REQUEST} bytes without a newline)")

    def busy(self) -> bytes:
        return _error(f"busy: {self.max_connections} control connections are open; retry")

    def failure(self) -> bytes:
        return _error("the master failed to run the command; see its error log")
