"""How many connections wait in a listening socket's accept queue, and its limit.

Strategy: ask the kernel, never the workers. Requests waiting for a worker
sit in the listen (accept) queue, which only the kernel can see, and the
kernel tells it without any hook in the request path:

- TCP: ``getsockopt(IPPROTO_TCP, TCP_INFO)`` on the listening socket. For a
  socket in the LISTEN state Linux reuses two fields of ``struct tcp_info``:
  ``tcpi_unacked`` is the accept queue's length and ``tcpi_sacked`` its
  limit (the backlog given to ``listen``, capped by ``somaxconn``).
- UNIX: there is no such option, so we ask the socket-diagnostics netlink
  family (``NETLINK_SOCK_DIAG``) about the one socket with our inode, with
  ``UDIAG_SHOW_RQLEN``; for a listener the ``UNIX_DIAG_RQLEN`` attribute
  holds (queued, limit). This is what ``ss -xl`` prints as Recv-Q/Send-Q.

Each reading is a handful of system calls (the netlink exchange is answered
synchronously inside ``sendto``), so the master can sample every second.
Anything the kernel will not say (an old kernel, a sandbox without
``unix_diag``, a socket that is not listening) gives ``None``, never a
guess.
"""

from __future__ import annotations

import os
import socket
import struct

#: The TCP state number of a listening socket (include/net/tcp_states.h).
TCP_LISTEN = 10

# --- struct tcp_info (include/uapi/linux/tcp.h) -----------------------------
#: Eight one-byte fields (state, ca_state, retransmits, probes, backoff,
#: options, wscale pair, flags) then 32-bit fields rto, ato, snd_mss,
#: rcv_mss, unacked, sacked, ...: we only need the prefix up to ``sacked``.
_TCP_INFO_PREFIX = struct.Struct("=B7xIIIIII")  # state, rto, ato, snd_mss, rcv_mss, unacked, sacked
_TCP_INFO_STATE = 0
_TCP_INFO_UNACKED = 5
_TCP_INFO_SACKED = 6

# --- netlink and sock_diag (include/uapi/linux/{netlink,sock_diag,unix_diag}.h) ---
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLMSG_ERROR = 0x2
NLMSG_DONE = 0x3
UDIAG_SHOW_RQLEN = 0x10
UNIX_DIAG_RQLEN = 4
#: Attribute type bits that are flags, not part of the type.
NLA_TYPE_MASK = 0x3FFF
#: "No cookie": look the socket up by inode alone.
NO_COOKIE = 0xFFFFFFFF
#: Far more than one socket's reply (about 60 bytes) needs.
REPLY_BUFFER = 8192

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_UNIX_DIAG_REQ = struct.Struct("=BBHIII2I")  # family, protocol, pad, states, ino, show, cookie
_UNIX_DIAG_MSG = struct.Struct("=BBBBI2I")  # family, type, state, pad, ino, cookie
_NLATTR = struct.Struct("=HH")  # len, type
_RQLEN = struct.Struct("=II")  # queued, limit (for a listener)


def listen_queue(sock: socket.socket) -> tuple[int, int] | None:
    """``(queued, limit)`` of a listening TCP or UNIX stream socket, or ``None``.

    ``queued`` is the number of connections the kernel completed that no
    worker has accepted yet; ``limit`` is the queue's capacity.
    """
    try:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            return _tcp_listen_queue(sock)
        if sock.family == socket.AF_UNIX:
            return _unix_listen_queue(sock)
    except OSError:
        return None
    return None


def _tcp_listen_queue(sock: socket.socket) -> tuple[int, int] | None:
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_PREFIX.size)
    if len(raw) < _TCP_INFO_PREFIX.size:
        return None
    fields = _TCP_INFO_PREFIX.unpack(raw)
    if fields[_TCP_INFO_STATE] != TCP_LISTEN:
        return None  # on a connected socket these fields mean something else
    return fields[_TCP_INFO_UNACKED], fields[_TCP_INFO_SACKED]


def _unix_listen_queue(sock: socket.socket) -> tuple[int, int] | None:
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        return None
    inode = os.fstat(sock.fileno()).st_ino
    reply = _sock_diag_exchange(_unix_diag_request(inode))
    if reply is None:
        return None
    return _parse_unix_diag_reply(reply, inode)


def _unix_diag_request(inode: int) -> bytes:
    """A netlink message asking for the receive-queue figures of one UNIX socket."""
    body = _UNIX_DIAG_REQ.pack(
        socket.AF_UNIX, 0, 0, 1 << TCP_LISTEN, inode & 0xFFFFFFFF, UDIAG_SHOW_RQLEN,
        NO_COOKIE, NO_COOKIE,
    )
    header = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0)
    return header + body


def _sock_diag_exchange(request: bytes) -> bytes | None:
    """Send one request to the kernel's sock_diag and return its reply."""
    kind = socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
    with socket.socket(socket.AF_NETLINK, kind, NETLINK_SOCK_DIAG) as diag:
        diag.setblocking(False)  # gevent's class ignores SOCK_NONBLOCK
        diag.sendto(request, (0, 0))
        try:
            return diag.recv(REPLY_BUFFER)
        except BlockingIOError:
            return None  # the kernel answers inside sendto; no reply means no answer


def _parse_unix_diag_reply(reply: bytes, inode: int) -> tuple[int, int] | None:
    offset = 0
    while offset + _NLMSGHDR.size <= len(reply):
        length, kind, _, _, _ = _NLMSGHDR.unpack_from(reply, offset)
        if length < _NLMSGHDR.size or offset + length > len(reply):
            return None
        if kind in (NLMSG_ERROR, NLMSG_DONE):
            return None
        if kind == SOCK_DIAG_BY_FAMILY:
            found = _rqlen_of(reply[offset + _NLMSGHDR.size : offset + length], inode)
            if found is not None:
                return found
        offset += _align(length)
    return None


def _rqlen_of(message: bytes, inode: int) -> tuple[int, int] | None:
    if len(message) < _UNIX_DIAG_MSG.size:
        return None
    _, _, state, _, ino, _, _ = _UNIX_DIAG_MSG.unpack_from(message)
    if ino != inode & 0xFFFFFFFF or state != TCP_LISTEN:
        return None
    offset = _UNIX_DIAG_MSG.size
    while offset + _NLATTR.size <= len(message):
        length, kind = _NLATTR.unpack_from(message, offset)
        if length < _NLATTR.size:
            return None
        if kind & NLA_TYPE_MASK == UNIX_DIAG_RQLEN and length >= _NLATTR.size + _RQLEN.size:
            queued, limit = _RQLEN.unpack_from(message, offset + _NLATTR.size)
            return queued, limit
        offset += _align(length)
    return None


def _align(length: int) -> int:
    """Netlink messages and attributes are padded to 4 bytes."""
    return (length + 3) & ~3
