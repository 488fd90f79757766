"""Take a copy of a stuck worker's client socket, to answer it after the kill.

Strategy (see docs/supervision.md): the worker publishes the fd number of
the connection it serves in its scoreboard slot, with a per-request
sequence number. Before killing a stuck worker, the master opens a pidfd
for it and calls ``pidfd_getfd(2)``, which gives the master its own
descriptor for the same open socket. A parent may do this to its child.
The slot is read again after the copy: if the sequence number moved, the fd
number may have been reused for another connection and the copy is
dropped. After the worker is dead the master writes a complete response on
the copy and closes it, so the client (or nginx) gets a real 504 instead of
a reset connection.

``pidfd_getfd`` has no wrapper in :mod:`os`; it is called through libc's
``syscall``. Where it fails (old kernel, seccomp, no ptrace rights) the
caller falls back to a plain kill and logs why, once.
"""

from __future__ import annotations

import errno
import functools
import os
import socket
from collections.abc import Callable
from typing import Any

#: pidfd_getfd syscall numbers (Linux >= 5.6). x86-64 and arm64 share 438.
PIDFD_GETFD_SYSCALL = {"x86_64": 438, "aarch64": 438, "arm64": 438, "riscv64": 438,
                       "ppc64le": 438, "s390x": 438}


class RescueUnavailable(Exception):
    """Taking a copy of the socket is impossible here; the message says why."""


@functools.lru_cache(maxsize=1)
def _syscall() -> tuple[Callable[..., int], int]:
    number = PIDFD_GETFD_SYSCALL.get(os.uname().machine)
    if number is None:
        raise RescueUnavailable(f"pidfd_getfd number unknown on {os.uname().machine}")
    if not hasattr(os, "pidfd_open"):
        raise RescueUnavailable("os.pidfd_open is missing (Python < 3.9 or not Linux)")
    import ctypes  # only when a worker is timed out: ctypes costs memory
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    function = libc.syscall
    function.restype = ctypes.c_long
    return function, number


def open_pidfd(pid: int) -> int:
    try:
        return os.pidfd_open(pid)
    except OSError as exc:
        raise RescueUnavailable(f"pidfd_open({pid}) failed: {exc.strerror}") from exc


def copy_fd(pidfd: int, target_fd: int) -> int:
    """A new descriptor in this process for ``target_fd`` of the pidfd's process."""
    import ctypes

    function, number = _syscall()
    result = function(ctypes.c_long(number), ctypes.c_int(pidfd), ctypes.c_int(target_fd),
                      ctypes.c_uint(0))
    if result < 0:
        err = ctypes.get_errno()
        if err in (errno.EBADF,):
            raise OSError(err, "the worker no longer has that descriptor")
        raise RescueUnavailable(f"pidfd_getfd failed: {os.strerror(err)} (errno {err})")
    fd = int(result)
    os.set_inheritable(fd, False)
    return fd


def socket_fds(pid: int) -> list[int]:
    """The fd numbers of a process's sockets, from /proc (empty if unreadable)."""
    base = f"/proc/{pid}/fd"
    found = []
    try:
        names = os.listdir(base)
    except OSError:
        return []
    for name in names:
        try:
            if os.readlink(f"{base}/{name}").startswith("socket:"):
                found.append(int(name))
        except (OSError, ValueError):
            continue
    return found


def is_client_of(fd: int, listener_names: list[Any]) -> bool:
    """Whether ``fd`` is a connected stream socket accepted on one of our listeners."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return False
    try:
        if sock.type != socket.SOCK_STREAM:
            return False
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            return False
        local = sock.getsockname()
    except OSError:
        return False
    finally:
        sock.close()
    for name in listener_names:
        if isinstance(name, tuple) and isinstance(local, tuple):
            if local[1] == name[1]:
                return True
        elif name == local and name:
            return True
    return False


def has_pending_data(fd: int) -> bool:
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return False
    try:
        sock.setblocking(False)
        return bool(sock.recv(1, socket.MSG_PEEK))
    except OSError:
        return False
    finally:
        sock.close()


def close_quietly(fd: int) -> None:
    """Close a rescued idle connection with a FIN (drain first so no reset is sent)."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        try:
            os.close(fd)
        except OSError:
            pass
        return
    try:
        sock.setblocking(False)
        sock.shutdown(socket.SHUT_WR)
        _drain(sock)
    except OSError:
        pass
    finally:
        sock.close()


def answer_and_close(fd: int, response: bytes) -> bool:
    """Write a whole response on a rescued socket and close it; True if it went out.

    Never blocks the master: the response is small and goes into the socket
    buffer at once, or it is given up. Unread request bytes are drained
    before the close, because closing a socket with unread data makes the
    kernel send a reset, which could destroy the answer before it is read.
    """
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        try:
            os.close(fd)
        except OSError:
            pass
        return False
    try:
        sock.setblocking(False)
        sent = sock.send(response)
        sock.shutdown(socket.SHUT_WR)
        _drain(sock)
        return sent == len(response)
    except OSError:
        return False
    finally:
        sock.close()


def _drain(sock: socket.socket) -> None:
    for _ in range(64):
        try:
            if not sock.recv(65536):
                return
        except OSError:
            return
