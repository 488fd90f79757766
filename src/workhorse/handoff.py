"""Handing open client connections between processes (the master and its workers).

Strategy: each worker shares a ``SOCK_DGRAM`` UNIX socket pair with the
master. A datagram carries up to :data:`MAX_BATCH` connections: their file
descriptors as ``SCM_RIGHTS`` and, as its payload, one small JSON record per
descriptor saying which listener the connection came in on and what a PROXY
protocol header said about it (already read, so the receiver must not
expect one again). The kernel's receive queue keeps whatever the client
sent meanwhile, so a request that arrives while a connection travels is
served by whoever receives it.

Two flows use it: a stopping worker gives its idle keep-alive connections to
the master, which passes them to a sibling (or holds them until one is
ready); and the master gives a sibling the idle connections of a worker it
had to kill. Neither side imports the other: this module is their contract.
"""

from __future__ import annotations

import array
import json
import os
import select
import socket
import time
from dataclasses import dataclass

#: Connections per datagram: well under the kernel's SCM_MAX_FD (253), and a
#: payload of a few KiB even when every record carries PROXY addresses.
MAX_BATCH = 64
#: Enough for MAX_BATCH records with PROXY protocol addresses.
MAX_PAYLOAD = 32768


@dataclass(frozen=True)
class Handed:
    """One connection in transit: its descriptor (in the receiving process) and origin."""

    fd: int
    listener: int
    #: The environ a PROXY header gave it (None: none was expected or it said UNKNOWN).
    proxy_environ: dict[str, str] | None = None
    #: Its PROXY header, if one was expected, was already consumed.
    proxy_done: bool = False


def send(sock: socket.socket, items: list[Handed], *, wait: float) -> int:
    """Send ``items`` in batches; returns how many were sent (the rest: not sent).

    Never blocks longer than ``wait`` seconds in all for room in the
    receiver's queue (the master passes 0: it must never block on a worker).
    The caller keeps ownership of every descriptor: it closes its copies of
    the ones sent, and decides what to do with the others.
    """
    sent = 0
    deadline = time.monotonic() + wait
    for start in range(0, len(items), MAX_BATCH):
        batch = items[start : start + MAX_BATCH]
        payload = json.dumps([_record(item) for item in batch]).encode()
        if not _send_batch(sock, payload, [item.fd for item in batch], deadline):
            break
        sent += len(batch)
    return sent


def _send_batch(sock: socket.socket, payload: bytes, fds: list[int], deadline: float) -> bool:
    while True:
        try:
            # sendmsg itself: socket.send_fds ignores its flags before Python 3.12.
            sock.sendmsg([payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                      array.array("i", fds))], socket.MSG_DONTWAIT)
            return True
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLOUT)
            poller.poll(left * 1000)
        except OSError:
            return False


def return_queued(sock: socket.socket, *, wait: float) -> None:
    """Send back to the master every connection queued on ``sock`` (which the
    caller has shut for reading, so no more come): a worker on its way out
    gives back what the master sent it as it began to stop."""
    sock.setblocking(False)
    while True:
        try:
            items = receive(sock)
        except OSError:
            return
        sent = send(sock, items, wait=wait)
        for item in items:
            os.close(item.fd)  # sent: the master has its copy; not sent: lost anyway
        if sent < len(items):
            return


def announce_ready(sock: socket.socket) -> None:
    """Tell the master this worker can adopt connections now (an empty batch).

    The master would notice on its next look at the scoreboard; connections
    it holds for a worker should not wait for that.
    """
    try:
        sock.send(b"[]", socket.MSG_DONTWAIT)
    except OSError:
        pass


def receive(sock: socket.socket) -> list[Handed]:
    """One datagram's connections; [] when there is none (or it was malformed).

    Raises BlockingIOError on a non-blocking socket with nothing queued.
    """
    # Close-on-exec from the start: nothing of ours may leak into a program
    # the receiver (or its app) starts.
    data, ancillary, _flags, _addr = sock.recvmsg(
        MAX_PAYLOAD, socket.CMSG_SPACE(MAX_BATCH * 4), socket.MSG_CMSG_CLOEXEC)
    fds = _descriptors(ancillary)
    try:
        records = json.loads(data)
        if not isinstance(records, list) or len(records) != len(fds):
            raise ValueError("one record per descriptor expected")
        return [_handed(fd, record) for fd, record in zip(fds, records, strict=True)]
    except (ValueError, TypeError, KeyError):
        for fd in fds:
            os.close(fd)
        return []


def _descriptors(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    fds = array.array("i")
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return list(fds)


def _record(item: Handed) -> dict[str, object]:
    return {"listener": item.listener, "proxy": item.proxy_environ,
            "proxy_done": item.proxy_done}


def _handed(fd: int, record: dict[str, object]) -> Handed:
    listener = record["listener"]
    proxy = record.get("proxy")
    if not isinstance(listener, int) or not (proxy is None or isinstance(proxy, dict)):
        raise TypeError("malformed hand-off record")
    return Handed(fd=fd, listener=listener,
                  proxy_environ={str(k): str(v) for k, v in proxy.items()} if proxy else None,
                  proxy_done=bool(record.get("proxy_done")))
