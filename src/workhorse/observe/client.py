"""Talking to a master's control socket: find it, ask one thing, read the answer.

Strategy: the socket is found the way an operator would look for it: a
path given with ``--socket``; else from the master's pid (given, or read
from its pidfile), by listing the UNIX sockets that process listens on
(``/proc/PID/fd`` gives their inodes, ``/proc/PID/net/unix`` their paths)
and keeping the one that answers ``ping``; else ``./workhorse.ctl``, the
default path in the directory the server was started from. Every failure
becomes a :class:`ControlError` whose message says where we looked and
what to try next.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from typing import Any

DEFAULT_SOCKET = "workhorse.ctl"
#: A status document of hundreds of workers is a few hundred KiB; this
#: bounds what a wrong socket can make us buffer.
MAX_REPLY = 64 * 1024 * 1024
#: How long a candidate socket gets to answer ``ping`` during discovery.
PING_TIMEOUT = 1.0
#: /proc/net/unix flag of a listening socket (__SO_ACCEPTCON).
ACCEPTING = 1 << 16
#: Fields of a /proc/net/unix line before the path.
_UNIX_FIELDS = 7


class ControlError(Exception):
    """The master cannot be reached or refused; the message is for the operator."""


def request(path: str, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one command to the control socket at ``path`` and return the answer.

    Raises :class:`ControlError` when nothing answers there or the answer
    is not a workhorse master's.
    """
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.settimeout(timeout)
            sock.connect(_sockaddr(path))
            _send(sock, json.dumps(payload).encode() + b"\n")
            data = _read_line(sock, deadline)
        except TimeoutError:
            raise ControlError(f"the workhorse master on {path} did not answer within"
                               f" {timeout:g} s; is it stuck? (its pid can be signalled)")
        except OSError as exc:
            raise ControlError(f"no workhorse master answers on {path}: {_reason(exc)};"
                               " is it running? try --pid or --socket") from None
    try:
        answer = json.loads(data)
    except ValueError:
        raise ControlError(f"{path} answered something that is not JSON; is it a workhorse"
                           " control socket?") from None
    if not isinstance(answer, dict):
        raise ControlError(f"{path} answered {answer!r}, not a JSON object")
    return answer


def _sockaddr(path: str) -> str | bytes:
    """``@name`` is an abstract socket, as ``ss`` and /proc write it."""
    return b"\0" + path[1:].encode() if path.startswith("@") else path


def _send(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # it answered and closed at once ("busy"): the answer is still there to read


def _read_line(sock: socket.socket, deadline: float) -> bytes:
    data = bytearray()
    while b"\n" not in data:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REPLY:
            raise OSError(errno.EMSGSIZE, f"answer larger than {MAX_REPLY} bytes")
    if not data:
        raise OSError(errno.ECONNRESET, "closed without answering")
    return bytes(data)


def _reason(exc: OSError) -> str:
    """Why a control socket cannot be reached, in the operator's terms."""
    if isinstance(exc, FileNotFoundError):
        return "no such socket file"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return _os_reason(exc)


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied (run as the master's user or root)"
    return (exc.strerror or str(exc)).lower()


# --- discovery ---------------------------------------------------------------------------
def find_socket(*, socket_path: str | None = None, pid: int | None = None,
                pidfile: str | None = None) -> str:
    """The control socket to talk to, per the ``--socket/--pid/--pidfile`` options."""
    if socket_path:
        return socket_path
    if pidfile:
        pid = read_pidfile(pidfile)
    if pid is not None:
        return socket_of_pid(pid)
    return os.path.join(".", DEFAULT_SOCKET)


def read_pidfile(path: str) -> int:
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except OSError as exc:
        raise ControlError(f"cannot read the pidfile {path}: {_os_reason(exc)}") from None
    if not text.isdigit():
        raise ControlError(f"the pidfile {path} holds {text[:20]!r}, not a process id")
    return int(text)


def socket_of_pid(pid: int) -> str:
    """The path of the control socket of master ``pid``: the listener that answers ping."""
    candidates = listening_unix_paths(pid)
    if not candidates:
        raise ControlError(f"process {pid} listens on no UNIX socket; is it a workhorse master"
                           " with its control socket enabled?")
    for path in sorted(candidates, key=lambda p: not p.endswith(".ctl")):
        try:
            answer = request(path, {"command": "ping"}, timeout=PING_TIMEOUT)
        except ControlError:
            continue
        if answer.get("ok") is True and "pid" in answer:
            return path
    listed = ", ".join(candidates)
    raise ControlError(f"none of the UNIX sockets of process {pid} answers like a workhorse"
                       f" control socket ({listed})")


def listening_unix_paths(pid: int) -> list[str]:
    """Paths of the UNIX sockets process ``pid`` listens on (``@name`` for abstract ones)."""
    inodes = _socket_inodes(pid)
    try:
        with open(f"/proc/{pid}/net/unix", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()[1:]
    except OSError as exc:
        raise ControlError(f"cannot list the UNIX sockets of process {pid}:"
                           f" {_os_reason(exc)}") from None
    cwd = _cwd_of(pid)
    paths = []
    for line in lines:
        fields = line.split(None, _UNIX_FIELDS)
        if len(fields) <= _UNIX_FIELDS or not fields[6].isdigit():
            continue
        if int(fields[6]) in inodes and int(fields[3], 16) & ACCEPTING:
            path = fields[_UNIX_FIELDS]
            paths.append(path if path.startswith(("/", "@")) else os.path.join(cwd, path))
    return paths


def _socket_inodes(pid: int) -> set[int]:
    directory = f"/proc/{pid}/fd"
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        raise ControlError(f"no process {pid} (is the master running? check the pidfile)")
    except OSError as exc:
        raise ControlError(f"cannot read {directory}: {_os_reason(exc)}") from None
    inodes = set()
    for name in names:
        try:
            target = os.readlink(f"{directory}/{name}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:[") and target.endswith("]"):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def _cwd_of(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return "."
