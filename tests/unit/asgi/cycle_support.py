"""Helpers for driving HTTPCycle without sockets, and reading its bytes back with h11.

h11 is an independent HTTP/1.1 implementation: a response it parses the way a
test expects was framed right, whatever our own core believes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import h11

from workhorse.asgi.http_cycle import HTTPCycle
from workhorse.http import NEED_DATA, Data, EndOfMessage, Request, ServerConnection


class Wire:
    """The worker's ``write``: collects the bytes; can hold the writer back
    (``hold()``) the way a full transport buffer does."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self._gate: asyncio.Future[None] | None = None

    def write(self, data: bytes) -> Awaitable[None] | None:
        assert type(data) is bytes and data, data
        self.writes.append(data)
        return self._gate

    def hold(self) -> None:
        self._gate = asyncio.get_running_loop().create_future()

    def release(self) -> None:
        assert self._gate is not None
        self._gate.set_result(None)
        self._gate = None

    @property
    def data(self) -> bytes:
        return b"".join(self.writes)


def cycle_for(raw: bytes, **kwargs: Any) -> tuple[ServerConnection, HTTPCycle, Wire]:
    """A connection that has parsed the head of ``raw``, its cycle and wire.

    The body bytes in ``raw`` stay in the connection: :func:`pump` feeds them.
    """
    conn = ServerConnection()
    conn.receive_data(raw)
    assert isinstance(conn.next_event(), Request)
    wire = Wire()
    return conn, HTTPCycle(conn, wire.write, **kwargs), wire


def pump(conn: ServerConnection, cycle: HTTPCycle) -> None:
    """What the worker does while the app wants body: parse and feed."""
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            return
        if isinstance(event, Data):
            cycle.feed_body(event.data)
        elif isinstance(event, EndOfMessage):
            cycle.feed_end()
            return


def h11_read(method: str, response: bytes, *, eof: bool = False) -> dict[str, Any]:
    """Parse ``response`` as a client that sent ``method /`` over HTTP/1.1."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method=method, target="/", headers=[("Host", "a")]))
    client.send(h11.EndOfMessage())
    client.receive_data(response)
    if eof:
        client.receive_data(b"")
    result: dict[str, Any] = {"body": b""}
    while True:
        event = client.next_event()
        if isinstance(event, h11.Response):
            result["status"] = event.status_code
            result["headers"] = [(k.decode(), v.decode("latin-1")) for k, v in event.headers]
        elif isinstance(event, h11.Data):
            result["body"] += event.data
        elif isinstance(event, h11.EndOfMessage):
            result["trailers"] = [(k.decode(), v.decode("latin-1")) for k, v in event.headers]
            result["rest"] = client.trailing_data[0]
            return result
        else:
            raise AssertionError(f"incomplete response: {event!r} after {result!r}")


def header(result: dict[str, Any], name: str) -> list[str]:
    return [value for key, value in result["headers"] if key == name]


async def settle() -> None:
    """Let every ready task run until they all wait on something."""
    for _ in range(5):
        await asyncio.sleep(0)
