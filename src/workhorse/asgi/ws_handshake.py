"""The WebSocket opening handshake (RFC 6455 4.2), from a request our core parsed.

Strategy: the HTTP head was parsed and validated by :mod:`workhorse.http`, so
the handshake is read from the :class:`~workhorse.http.Request` instead of
being parsed again: :func:`is_websocket_upgrade` tells an upgrade request
from a plain one (GET, ``Upgrade: websocket``, ``Connection: upgrade``), and
:func:`read_handshake` checks the rest or raises :class:`HandshakeError`
carrying the status (400, or 426 with ``Sec-WebSocket-Version: 13`` for a
version we do not speak) and the headers to answer with.
:func:`switching_protocols` builds the 101 response once the app accepted.
Nothing here needs wsproto, so a server without it can still answer cleanly.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
from collections.abc import Iterable
from typing import Final

from workhorse.http import ProtocolError, Request, http_date
from workhorse.http.writer import check_field_name, check_field_value

#: The only version of the protocol (RFC 6455 4.1).
WEBSOCKET_VERSION: Final = "13"
#: RFC 6455 1.3: appended to the client's key before hashing.
ACCEPT_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: The client's key is 16 random bytes, base64-encoded (RFC 6455 4.1).
KEY_BYTES: Final = 16
#: Fields of the 101 response that the handshake itself decides.
RESERVED_ACCEPT_HEADERS: Final = frozenset({
    "upgrade", "connection", "sec-websocket-accept", "sec-websocket-protocol",
    "sec-websocket-extensions", "sec-websocket-version", "content-length",
    "transfer-encoding", "keep-alive", "te", "trailer",
})  # fmt: skip


class HandshakeError(ProtocolError):
    """The upgrade request is not a valid WebSocket handshake.

    Answer with ``error_response(exc.status, exc.reason, extra_headers=exc.headers)``
    and close the connection.
    """

    def __init__(self, status: int, reason: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(status, reason)
        self.headers = tuple(headers)


@dataclasses.dataclass(frozen=True, slots=True)
class Handshake:
    """What a valid opening handshake asks for."""

    key: str
    #: Sec-WebSocket-Protocol tokens, in the client's order of preference.
    subprotocols: tuple[str, ...]
    #: Sec-WebSocket-Extensions offers as received (``name; param=value``).
    extension_offers: tuple[str, ...]


def is_websocket_upgrade(request: Request) -> bool:
    """Does ``request`` ask for a WebSocket (GET, Upgrade: websocket, Connection: upgrade)?

    Anything else is served as plain HTTP, the Upgrade header being a request
    the server may ignore (RFC 9110 7.8).
    """
    if request.method != "GET":
        return False
    upgrade = connection = False
    for name, value in request.headers:
        if name == "UPGRADE":
            upgrade = upgrade or "websocket" in tokens(value)
        elif name == "CONNECTION":
            connection = connection or "upgrade" in tokens(value)
    return upgrade and connection


def read_handshake(request: Request) -> Handshake:
    """Check the rest of an upgrade request; raises HandshakeError."""
    if request.version < (1, 1):
        raise HandshakeError(400, "WebSocket needs HTTP/1.1")
    if request.chunked or request.content_length:
        raise HandshakeError(400, "A WebSocket handshake has no body")
    keys: list[str] = []
    versions: list[str] = []
    subprotocols: list[str] = []
    offers: list[str] = []
    for name, value in request.headers:
        if name == "SEC-WEBSOCKET-KEY":
            keys.append(value)
        elif name == "SEC-WEBSOCKET-VERSION":
            versions.append(value)
        elif name == "SEC-WEBSOCKET-PROTOCOL":
            subprotocols.extend(token for part in value.split(",") if (token := part.strip()))
        elif name == "SEC-WEBSOCKET-EXTENSIONS":
            offers.extend(offer for part in value.split(",") if (offer := part.strip()))
    version_header = (("Sec-WebSocket-Version", WEBSOCKET_VERSION),)
    if versions != [WEBSOCKET_VERSION]:
        if not versions:
            raise HandshakeError(400, "Missing Sec-WebSocket-Version", version_header)
        raise HandshakeError(426, "Unsupported WebSocket version", version_header)
    if len(keys) != 1 or not valid_key(keys[0]):
        raise HandshakeError(400, "Missing or invalid Sec-WebSocket-Key")
    return Handshake(keys[0], tuple(subprotocols), tuple(offers))


def valid_key(key: str) -> bool:
    """A base64 string that decodes to 16 bytes."""
    try:
        return len(base64.b64decode(key.encode("ascii"), validate=True)) == KEY_BYTES
    except (binascii.Error, UnicodeEncodeError):
        return False


def accept_token(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    digest = hashlib.sha1(key.encode("ascii") + ACCEPT_GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def switching_protocols(
    handshake: Handshake,
    subprotocol: str | None,
    extensions: str | None,
    headers: Iterable[tuple[str, str]],
    server_name: str,
) -> bytes:
    """The 101 response head; ``headers`` are the app's (validated here)."""
    lines = [
        "HTTP/1.1 101 Switching Protocols\r\n",
        "Upgrade: websocket\r\n",
        "Connection: Upgrade\r\n",
        f"Sec-WebSocket-Accept: {accept_token(handshake.key)}\r\n",
    ]
    if subprotocol is not None:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}\r\n")
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}\r\n")
    has_server = has_date = False
    for name, value in headers:
        lower = check_field_name(name)
        check_field_value(name, value)
        if lower in RESERVED_ACCEPT_HEADERS:
            raise ValueError(f"{name!r} is the handshake's to set, not the application's")
        has_server = has_server or lower == "server"
        has_date = has_date or lower == "date"
        lines.append(f"{name}: {value}\r\n")
    if not has_server:
        lines.append(f"Server: {server_name}\r\n")
    if not has_date:
        lines.append(f"Date: {http_date()}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


def tokens(value: str) -> list[str]:
    """A comma-separated list field's tokens, lowercased."""
    return [part.strip().lower() for part in value.split(",")]
