"""ASGI 3 on the sans-I/O HTTP core: scopes, the request cycle, WebSocket, lifespan.

Strategy: this package is the protocol between an ASGI application and
:mod:`workhorse.http`, with no socket and no process in it, so the ``asgi``
worker's event loop and the tests drive the same code. The worker parses
with ``ServerConnection`` and moves bytes; these objects turn a request into
a scope (:mod:`.scope`), run the ``http.*`` message sequence of one request
(:mod:`.http_cycle`), a WebSocket session on wsproto (:mod:`.ws_handshake`,
:mod:`.websocket`; wsproto is optional: ``pip install workhorse[asgi]``),
the lifespan protocol (:mod:`.lifespan`) and load the application
(:mod:`.app_loader`). An application's mistakes raise
:class:`ASGIProtocolError` from its ``send``; a client gone raises
:class:`ClientDisconnected` (an ``OSError``, as ASGI 2.4 asks).
"""

from .app_loader import load_asgi_app
from .errors import ASGIProtocolError, ClientDisconnected
from .http_cycle import HTTPCycle
from .lifespan import Lifespan, LifespanResult, Outcome
from .scope import ScopeBuilder
from .websocket import WebSocketSession, unavailable_response, websocket_support
from .ws_handshake import HandshakeError, is_websocket_upgrade

__all__ = [
    "ASGIProtocolError",
    "ClientDisconnected",
    "HTTPCycle",
    "HandshakeError",
    "Lifespan",
    "LifespanResult",
    "Outcome",
    "ScopeBuilder",
    "WebSocketSession",
    "is_websocket_upgrade",
    "load_asgi_app",
    "unavailable_response",
    "websocket_support",
]
