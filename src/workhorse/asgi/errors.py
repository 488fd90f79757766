"""The two ways an ASGI exchange goes wrong after it started, as exceptions.

Strategy: whose fault it is decides the type, as in :mod:`workhorse.http.errors`.
The application breaking the message sequence or sending a malformed message
raises :class:`ASGIProtocolError` out of its ``send()``, with a message that
says what it did wrong; the worker answers 500 if nothing was written yet,
else closes the connection, and logs the message. The client having gone
away raises :class:`ClientDisconnected` out of ``send()``: an ``OSError``, as
ASGI 2.4 asks, so frameworks (Starlette's ``ClientDisconnect``) know it is
not a bug, and the worker does not log it as an error.
"""

from __future__ import annotations


class ASGIProtocolError(RuntimeError):
    """The application broke the ASGI contract; the message says how."""


class ClientDisconnected(OSError):
    """``send()`` after the client closed the connection (ASGI 2.4)."""

    def __init__(self, message: str = "the client closed the connection") -> None:
        super().__init__(message)
