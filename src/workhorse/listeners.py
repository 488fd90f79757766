"""Listening sockets: parse bind addresses, bind, inherit, describe.

Strategy: the master binds every listener once, before forking, and the
workers accept on the same sockets. Sockets can also come from outside:
from a previous master on USR2 re-exec (``WORKHORSE_FD``/``GUNICORN_FD``,
comma-separated fds in the environment) or from systemd socket activation
(``LISTEN_FDS``/``LISTEN_PID``, fds from 3 on), or be named with ``fd://N``.
All listeners are non-blocking: workers poll them and accept without ever
blocking inside ``accept``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import stat
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from workhorse.wsgi.environ import ListenerInfo

#: Environment variable that carries listener fds to a re-executed master.
INHERIT_ENV = "WORKHORSE_FD"
#: Gunicorn's name for it, understood so a Gunicorn master can hand over.
GUNICORN_INHERIT_ENV = "GUNICORN_FD"
#: First fd systemd passes (SD_LISTEN_FDS_START).
SYSTEMD_FIRST_FD = 3
#: Attempts and pause when an address is still in use (a previous server
#: shutting down), as Gunicorn does, before giving up with a clear error.
BIND_ATTEMPTS = 5
BIND_RETRY_SECONDS = 1.0


class BindError(Exception):
    """An address could not be bound; the message says which and why."""


@dataclass(frozen=True)
class BindAddress:
    kind: str  # "tcp" | "unix" | "fd"
    host: str = ""
    port: int = 0
    path: str = ""
    fd: int = -1

    def __str__(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}"
        if self.kind == "fd":
            return f"fd://{self.fd}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_bind(value: str, default_port: int = 8000) -> BindAddress:
    """Parse ``host:port``, ``[v6]:port``, ``unix:PATH``, ``unix://PATH``, ``fd://N``."""
    value = value.strip()
    if value.startswith("unix://"):
        return BindAddress("unix", path=value[len("unix://") :])
    if value.startswith("unix:"):
        return BindAddress("unix", path=value[len("unix:") :])
    if value.startswith("fd://"):
        number = value[len("fd://") :]
        if not number.isdigit():
            raise ValueError(f"invalid fd address {value!r}: expected fd://N")
        return BindAddress("fd", fd=int(number))
    if value.startswith("tcp://"):
        value = value[len("tcp://") :]
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            raise ValueError(f"invalid IPv6 address {value!r}: missing ']'")
        host, rest = value[1:end], value[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    elif ":" in value:
        raise ValueError(f"invalid address {value!r}: put IPv6 hosts in brackets, [::1]:8000")
    else:
        host, port_text = value, ""
    if port_text and not port_text.isdigit():
        raise ValueError(f"invalid port in {value!r}")
    port = int(port_text) if port_text else default_port
    if port > 65535:
        raise ValueError(f"port out of range in {value!r}")
    return BindAddress("tcp", host=host or "0.0.0.0", port=port)


@dataclass
class Listener:
    sock: socket.socket
    address: BindAddress
    info: ListenerInfo

    def fileno(self) -> int:
        return self.sock.fileno()

    # Hooks written for Gunicorn use ``server.LISTENERS`` entries as sockets
    # (Gunicorn's listener objects pass unknown attributes to their socket):
    # PostHog's when_ready reads each one's TCP_INFO with getsockopt.

    def getsockopt(self, level: int, option: int, buflen: int = 0) -> int | bytes:
        if buflen:
            return self.sock.getsockopt(level, option, buflen)
        return self.sock.getsockopt(level, option)

    def setsockopt(self, level: int, option: int, value: int | bytes) -> None:
        self.sock.setsockopt(level, option, value)

    def getsockname(self) -> Any:
        return self.sock.getsockname()

    @property
    def family(self) -> socket.AddressFamily:
        return self.sock.family

    @property
    def type(self) -> socket.SocketKind:
        return self.sock.type

    @property
    def is_unix(self) -> bool:
        return self.sock.family == socket.AF_UNIX

    def __str__(self) -> str:
        if self.is_unix:
            return f"unix:{self.sock.getsockname()}"
        host, port = self.sock.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"


def describe(sock: socket.socket, is_ssl: bool) -> ListenerInfo:
    if sock.family == socket.AF_UNIX:
        return ListenerInfo(server_name="", server_port="", is_unix=True, is_ssl=is_ssl)
    host, port = sock.getsockname()[:2]
    return ListenerInfo(server_name=str(host), server_port=str(port), is_unix=False,
                        is_ssl=is_ssl)


def bind(
    address: BindAddress,
    *,
    backlog: int,
    reuse_port: bool,
    umask: int,
    owner: tuple[int, int] | None,
    sleep: Callable[[float], None] = time.sleep,
    log_retry: Callable[[str], None] = lambda message: None,
) -> socket.socket:
    """Bind and listen on one address, retrying briefly while it is in use."""
    for attempt in range(1, BIND_ATTEMPTS + 1):
        try:
            return _bind_once(address, backlog=backlog, reuse_port=reuse_port, umask=umask,
                              owner=owner)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or attempt == BIND_ATTEMPTS:
                raise BindError(f"cannot listen on {address}: {exc.strerror or exc}") from exc
            log_retry(f"Connection in use: {address}, retrying in {BIND_RETRY_SECONDS:g}s")
            sleep(BIND_RETRY_SECONDS)
    raise AssertionError("unreachable")  # pragma: no cover


def _bind_once(
    address: BindAddress, *, backlog: int, reuse_port: bool, umask: int,
    owner: tuple[int, int] | None,
) -> socket.socket:
    if address.kind == "fd":
        sock = socket.socket(fileno=address.fd)
        sock.setblocking(False)
        return sock
    if address.kind == "unix":
        return _bind_unix(address.path, backlog=backlog, umask=umask, owner=owner)
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Accepted sockets inherit TCP_NODELAY: responses are written whole,
        # so Nagle's algorithm would only add delay to chunked responses.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((address.host, address.port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _bind_unix(path: str, *, backlog: int, umask: int,
               owner: tuple[int, int] | None) -> socket.socket:
    _remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(umask)
    try:
        sock.bind(path)
        if owner is not None:
            os.chown(path, owner[0], owner[1])
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(old_umask)
    sock.setblocking(False)
    return sock


def _remove_stale_socket(path: str) -> None:
    """Remove a socket file left by a dead server; refuse to touch a live one or a file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(errno.EADDRINUSE, f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody listens: a leftover
        return
    finally:
        probe.close()
    raise OSError(errno.EADDRINUSE, "Address already in use")


def apply_io_timeouts(sock: socket.socket, read_seconds: float, send_seconds: float) -> None:
    """Kernel receive/send timeouts (SO_RCVTIMEO/SO_SNDTIMEO) on a socket.

    Workers keep client sockets in blocking mode and let the kernel bound each
    receive and send, instead of Python's timeout mode, which would poll()
    before every call. Set on a TCP listener, they are inherited by every
    accepted socket; UNIX sockets do not inherit them.
    """
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(read_seconds))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval(send_seconds))


def timeval(seconds: float) -> bytes:
    """A struct timeval for SO_RCVTIMEO/SO_SNDTIMEO (0: no limit)."""
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1_000_000))


def inherited_fds(environ: Mapping[str, str], pid: int) -> tuple[list[int], str]:
    """Listener fds handed to this process, and where they came from."""
    for name in (INHERIT_ENV, GUNICORN_INHERIT_ENV):
        value = environ.get(name)
        if value:
            return [int(fd) for fd in value.split(",") if fd.strip().isdigit()], name
    count = environ.get("LISTEN_FDS")
    if count and count.isdigit() and environ.get("LISTEN_PID") == str(pid):
        return list(range(SYSTEMD_FIRST_FD, SYSTEMD_FIRST_FD + int(count))), "systemd"
    return [], ""


def adopt(fd: int) -> socket.socket:
    """Wrap an inherited listening fd (its family and type come from the fd)."""
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    os.set_inheritable(fd, False)
    return sock


def address_of(sock: socket.socket) -> BindAddress:
    if sock.family == socket.AF_UNIX:
        name = sock.getsockname()
        return BindAddress("unix", path=name if isinstance(name, str) else name.decode())
    host, port = sock.getsockname()[:2]
    return BindAddress("tcp", host=str(host), port=int(port))


#: A classic BPF socket filter that drops a TCP segment with SYN set and ACK
#: clear (a new connection attempt) and lets everything else through. A TCP
#: socket's filter sees the segment from its TCP header: byte 13 holds the flags.
_TCP_FLAGS_OFFSET = 13
_REFUSE_SYN = (
    (0x30, 0, 0, _TCP_FLAGS_OFFSET),  # ldb [13]: A = flags
    (0x45, 2, 0, 0x10),               # jset ACK: part of a handshake or a stream, keep
    (0x45, 0, 1, 0x02),               # jset SYN: a new connection, drop
    (0x06, 0, 0, 0),                  # ret 0: drop
    (0x06, 0, 0, 0xFFFFFFFF),         # ret all: keep
)
#: SO_ATTACH_FILTER from <asm-generic/socket.h> (the socket module has no name for it).
SO_ATTACH_FILTER = 26


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8),
                ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


def refuse_new_connections(listeners: list[Listener]) -> int:
    """Make the kernel ignore new connection attempts on these TCP listeners.

    Why: a connection the kernel completes after the last process holding a
    listener took its accept queue is reset when that process closes it,
    after the client may have sent its request (behind a proxy: a 502 for a
    POST, which no proxy retries). With new SYNs dropped first, the queue
    can only shrink: what is in it is taken and served, and a client that
    tries meanwhile sends its SYN again a second later and is refused then
    (or reaches whatever listens on the port by then), having sent nothing.
    Only for listeners that end with this server: the filter stays on the
    socket, which a successor master or systemd would go on using.
    Returns how many listeners now refuse (a kernel without socket filters
    leaves them as they were).
    """
    program = (_SockFilter * len(_REFUSE_SYN))(*(_SockFilter(*op) for op in _REFUSE_SYN))
    fprog = struct.pack("HxxxxxxQ", len(_REFUSE_SYN), ctypes.addressof(program))
    refused = 0
    for listener in listeners:
        if listener.sock.family not in (socket.AF_INET, socket.AF_INET6):
            continue
        try:
            listener.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        except OSError:
            continue
        refused += 1
    return refused


def close_all(listeners: list[Listener], *, unlink: bool) -> None:
    """Close listeners; remove UNIX socket files unless a successor still uses them."""
    for listener in listeners:
        path = listener.address.path if listener.is_unix else ""
        try:
            listener.sock.close()
        except OSError:
            pass
        if unlink and path:
            try:
                os.unlink(path)
            except OSError:
                pass
