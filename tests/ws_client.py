"""A small blocking WebSocket client on wsproto, for tests against real servers.

``connect(host, port, path)`` performs the opening handshake and returns a
:class:`Client` (or raises :class:`Refused` with the HTTP status when the
server answers something else than 101); ``send_text``/``send_bytes``,
``receive`` (the next message, or a ``Closed`` with the code) and ``close``.
Every read has a timeout.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)


class Refused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"the server answered {status}")
        self.status = status


@dataclass
class Closed:
    code: int
    reason: str


class Client:
    def __init__(self, sock: socket.socket, ws: WSConnection, subprotocol: str | None) -> None:
        self.sock = sock
        self.ws = ws
        self.subprotocol = subprotocol
        self._pending: list[object] = []

    def send_text(self, text: str) -> None:
        self.sock.sendall(self.ws.send(TextMessage(data=text)))

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(self.ws.send(BytesMessage(data=data)))

    def receive(self) -> str | bytes | Closed:
        """The next whole message (wsproto hands a large one over in parts as
        they arrive: they are joined), or the close. Events that came with it
        wait in ``_pending`` for the next call."""
        parts: list[str | bytes] = []
        while True:
            self._drain()
            while self._pending:
                event = self._pending.pop(0)
                if isinstance(event, TextMessage | BytesMessage):
                    data = event.data
                    parts.append(data if isinstance(data, str) else bytes(data))
                    if event.message_finished:
                        return _joined(parts)
                elif isinstance(event, CloseConnection):
                    try:
                        self.sock.sendall(self.ws.send(event.response()))
                    except OSError:
                        pass
                    return Closed(event.code, event.reason or "")
            data = self.sock.recv(65536)
            if not data:
                return Closed(1006, "")
            self.ws.receive_data(data)

    def _drain(self) -> None:
        for event in self.ws.events():
            if isinstance(event, Ping):
                self.sock.sendall(self.ws.send(event.response()))
            else:
                self._pending.append(event)

    def close(self, code: int = 1000) -> Closed | None:
        try:
            self.sock.sendall(self.ws.send(CloseConnection(code=code)))
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return None
                self.ws.receive_data(data)
                for event in self.ws.events():
                    if isinstance(event, CloseConnection):
                        return Closed(event.code, event.reason or "")
        except OSError:
            return None
        finally:
            self.sock.close()


def _joined(parts: list[str | bytes]) -> str | bytes:
    if all(isinstance(part, str) for part in parts):
        return "".join(str(part) for part in parts)
    return b"".join(part for part in parts if isinstance(part, bytes))


def connect(host: str, port: int, path: str, *, subprotocols: list[str] | None = None,
            timeout: float = 10.0) -> Client:
    sock = socket.create_connection((host, port), timeout=timeout)
    ws = WSConnection(ConnectionType.CLIENT)
    sock.sendall(ws.send(Request(host=f"{host}:{port}", target=path,
                                 subprotocols=subprotocols or [])))
    while True:
        data = sock.recv(65536)
        if not data:
            sock.close()
            raise Refused(0)
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, AcceptConnection):
                return Client(sock, ws, event.subprotocol)
            if isinstance(event, RejectConnection):
                status = event.status_code
                if event.has_body:
                    for more in ws.events():
                        if isinstance(more, RejectData) and more.body_finished:
                            break
                sock.close()
                raise Refused(status)
