"""Opening the master's own listening sockets (control socket, metrics endpoint).

Strategy: a UNIX socket path left behind by a master that died is stale and
may be replaced; a path some process still listens on is not ours to take
(a second master started by mistake, or the old master during a USR2
upgrade): we probe it with a non-blocking connect and refuse with the
listener's pid, which SO_PEERCRED tells us. Permissions are set by a umask
while binding (so the socket never exists with looser ones) and a chmod
after. Every socket is non-blocking and close-on-exec.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import struct

from workhorse.config.addresses import TcpAddress, UnixAddress, parse_address

#: Pending connections the kernel keeps for the master's own listeners: the
#: master accepts on every loop iteration, so this only absorbs a burst.
LISTEN_BACKLOG = 64
#: Longest path a UNIX socket address holds (sun_path, minus the final NUL).
MAX_UNIX_PATH = 107
_UCRED = struct.Struct("=iII")  # pid, uid, gid
#: Device, inode, change time (ns) of a socket file.
FileIdentity = tuple[int, int, int]

NONBLOCKING = socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC


class ListenError(Exception):
    """A listening socket cannot be opened; the message says where and why."""


class SocketInUse(ListenError):
    """Another process listens on the UNIX socket path."""

    def __init__(self, path: str, pid: int | None) -> None:
        owner = f"pid {pid}" if pid else "another process"
        super().__init__(f"{path} is in use by {owner}; not replacing a live socket")
        self.path = path
        self.pid = pid


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """``(pid, uid, gid)`` of the process at the other end of a UNIX socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return pid, uid, gid


def remove_stale_socket(path: str) -> None:
    """Remove ``path`` if it is a UNIX socket nobody listens on.

    Raises :class:`SocketInUse` if a process answers on it and
    :class:`ListenError` if it is something other than a socket.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ListenError(f"{path} exists and is not a socket; not replacing it")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | NONBLOCKING) as probe:
        probe.setblocking(False)  # gevent's class ignores SOCK_NONBLOCK
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            pass  # nobody listens: stale
        except FileNotFoundError:
            return
        except BlockingIOError:
            raise SocketInUse(path, None) from None  # its queue is full: very much alive
        except OSError as exc:
            raise ListenError(f"cannot check whether {path} is in use: {exc.strerror}") from exc
        else:
            raise SocketInUse(path, peer_credentials(probe)[0])
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ListenError(f"cannot remove the stale socket {path}: {exc.strerror}") from exc


def file_identity(path: str) -> FileIdentity:
    """Device, inode and change time: inode numbers alone are reused at once."""
    info = os.lstat(path)
    return info.st_dev, info.st_ino, info.st_ctime_ns


def bind_unix(path: str, mode: int | None = None) -> tuple[socket.socket, FileIdentity]:
    """A non-blocking UNIX stream listener at ``path`` with permissions ``mode``.

    Returns the socket and the identity of the socket file, so its owner
    can later remove the file only if it is still the one it made.
    """
    if len(os.fsencode(path)) > MAX_UNIX_PATH:
        raise ListenError(f"{path}: too long for a UNIX socket (at most {MAX_UNIX_PATH} bytes)")
    remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | NONBLOCKING)
    sock.setblocking(False)  # gevent's class ignores SOCK_NONBLOCK
    try:
        _bind_with_mode(sock, path, mode)
        sock.listen(LISTEN_BACKLOG)
        identity = file_identity(path)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {path}: {exc.strerror or exc}") from exc
    return sock, identity


def _bind_with_mode(sock: socket.socket, path: str, mode: int | None) -> None:
    if mode is None:
        sock.bind(path)
        return
    previous = os.umask(0o777 & ~mode)
    try:
        sock.bind(path)
    finally:
        os.umask(previous)
    os.chmod(path, mode)


def bind_tcp(host: str, port: int) -> socket.socket:
    """A non-blocking TCP listener on ``host:port`` (IPv4 or IPv6)."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot resolve {host!r}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind | NONBLOCKING, proto)
    sock.setblocking(False)  # gevent's class ignores SOCK_NONBLOCK
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise ListenError(f"cannot listen on {where}: {exc.strerror or exc}") from exc
    return sock


def bind_address(text: str) -> tuple[socket.socket, FileIdentity | None]:
    """Listen on ``HOST:PORT``, ``[IPV6]:PORT`` or ``unix:PATH``.

    Returns the socket and, for a UNIX socket, the identity of its file.
    """
    try:
        address = parse_address(text, default_port=None)
    except ValueError as exc:
        raise ListenError(f"{text!r}: {exc}") from None
    if isinstance(address, UnixAddress):
        return bind_unix(address.path)
    if isinstance(address, TcpAddress):
        return bind_tcp(address.host, address.port), None
    raise ListenError(f"{text!r}: only HOST:PORT and unix:PATH can be listened on here")


def unlink_if_ours(path: str, identity: FileIdentity | None) -> None:
    """Remove the socket file at ``path`` if it is still the one we created.

    Call it before closing the listener: while we listen, no one else
    takes the path as stale, so the file cannot be replaced in between.
    """
    if identity is None:
        return
    try:
        if file_identity(path) == identity:
            os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
