"""ASGI ``http`` and ``websocket`` scopes from a parsed request head.

Strategy: one :class:`ScopeBuilder` per listener, built at boot from the same
``EnvironPolicy`` and ``ListenerInfo`` the WSGI environ uses, so both
interfaces apply the trust rules of :mod:`workhorse.wsgi.trust` to the same
settings: the scheme comes from ``secure_scheme_headers`` only from a peer in
``forwarded_allow_ips`` (contradicting ones are a 400), headers with ``_`` in
their names are dropped, refused or kept by ``header_map`` and
``forwarder_headers``, a repeated ``Host``/``Content-Type`` is a 400, and the
script name (``root_path``) is the ``root_path`` setting or a trusted
forwarder's ``SCRIPT_NAME`` header, refused (400) when the path is outside it.

What ASGI says differently from WSGI:

- ``path`` is the whole path (``root_path`` included: ASGI derives
  PATH_INFO by stripping ``root_path`` from it), percent-decoded and then
  UTF-8 decoded with U+FFFD for invalid bytes, as uvicorn and Gunicorn do
  (``raw_path`` keeps the bytes as received, so nothing is lost);
- ``headers`` are ``(name, value)`` byte tuples in received order, names
  lowercased (a memo maps our uppercased names back);
- ``client`` is the PROXY protocol's source when the handler got one, else
  the peer; ``None`` for a UNIX-socket peer; ``server`` is the listener's
  address, ``None`` on a UNIX socket (its path is not known here);
- ``state`` is a shallow copy of the lifespan state, per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from workhorse.http import Request
from workhorse.wsgi.environ import EnvironPolicy, ListenerInfo
from workhorse.wsgi.trust import (
    SCRIPT_NAME_HEADER,
    SINGLETON_FIELDS,
    check_script_name,
    check_singleton,
    scheme_vote,
    underscore_header_allowed,
)

from .types import Scope

#: ASGI version and the version of the HTTP & WebSocket message format spec
#: implemented: 2.4 makes send() raise OSError once the client is gone; 2.5
#: only adds a ``reason`` to websocket.disconnect, which we send.
ASGI_VERSION: Final = "3.0"
HTTP_SPEC_VERSION: Final = "2.4"
WEBSOCKET_SPEC_VERSION: Final = "2.5"
#: Header names remembered as lowercased bytes: clients use a few dozen.
NAME_MEMO_SIZE: Final = 1024
_NO_SCHEME_HEADERS: Final[Mapping[str, str]] = {}


class ScopeBuilder:
    """Makes the scope of each request served on one listener."""

    __slots__ = ("_names", "_secure", "_server", "listener", "policy", "root_path", "state")

    def __init__(
        self, policy: EnvironPolicy, listener: ListenerInfo, state: dict[str, Any] | None = None
    ) -> None:
        self.policy = policy
        self.listener = listener
        #: The lifespan namespace; each scope gets a shallow copy (pass the
        #: :class:`~workhorse.asgi.lifespan.Lifespan`'s ``state``).
        self.state: dict[str, Any] = {} if state is None else state
        self.root_path = decode_path(policy.script_name)
        self._secure = listener.is_ssl
        self._server: tuple[str, int] | None = (
            None if listener.is_unix else (listener.server_name, int(listener.server_port))
        )
        self._names: dict[str, bytes] = {}

    def http_scope(
        self,
        request: Request,
        peer: tuple[Any, ...] | None,
        proxy_environ: Mapping[str, str] | None = None,
    ) -> Scope:
        """The ``http`` scope of ``request``; raises ProtocolError (400) where
        the WSGI environ would. ``peer`` is the socket's peer address (None on a
        UNIX socket); ``proxy_environ`` what the PROXY protocol header said."""
        headers, secure, script_name = self._headers(request, peer)
        path = request.path
        return {
            "type": "http",
            "asgi": {"version": ASGI_VERSION, "spec_version": HTTP_SPEC_VERSION},
            "http_version": "1.0" if request.version == (1, 0) else "1.1",
            "method": request.method,
            "scheme": "https" if secure else "http",
            "path": decode_path(path),
            "raw_path": path.encode("latin-1"),
            "query_string": request.query.encode("latin-1"),
            "root_path": self.root_path if script_name is None else decode_path(script_name),
            "headers": headers,
            "client": client_address(peer, proxy_environ),
            "server": self._server,
            "state": self.state.copy(),
            "extensions": {"http.response.trailers": {}},
        }

    def websocket_scope(
        self,
        request: Request,
        peer: tuple[Any, ...] | None,
        proxy_environ: Mapping[str, str] | None = None,
    ) -> Scope:
        """The ``websocket`` scope of an upgrade request (see :meth:`http_scope`)."""
        headers, secure, script_name = self._headers(request, peer)
        path = request.path
        return {
            "type": "websocket",
            "asgi": {"version": ASGI_VERSION, "spec_version": WEBSOCKET_SPEC_VERSION},
            "http_version": "1.1",
            "scheme": "wss" if secure else "ws",
            "path": decode_path(path),
            "raw_path": path.encode("latin-1"),
            "query_string": request.query.encode("latin-1"),
            "root_path": self.root_path if script_name is None else decode_path(script_name),
            "headers": headers,
            "client": client_address(peer, proxy_environ),
            "server": self._server,
            "subprotocols": offered_subprotocols(request),
            "state": self.state.copy(),
            "extensions": {"websocket.http.response": {}},
        }

    def _headers(
        self, request: Request, peer: tuple[Any, ...] | None
    ) -> tuple[list[tuple[bytes, bytes]], bool, str | None]:
        """The headers the app may see, whether the request is secure, and the
        forwarded script name (None: the setting's), after the trust rules."""
        policy = self.policy
        trusted = peer is None or peer[0] in policy.trusted_forwarders
        scheme_headers = policy.secure_scheme_headers if trusted else _NO_SCHEME_HEADERS
        scheme: str | None = None
        script_name: str | None = None
        seen_singletons: set[str] = set()
        names = self._names
        headers: list[tuple[bytes, bytes]] = []
        append = headers.append
        for name, value in request.headers:
            if name in SINGLETON_FIELDS:
                check_singleton(name, seen_singletons)
            if scheme_headers and name in scheme_headers:
                scheme = scheme_vote(scheme_headers[name], value, scheme)
            if "_" in name:
                if not underscore_header_allowed(
                    name, trusted, policy.forwarder_headers, policy.header_map
                ):
                    continue
                if name == SCRIPT_NAME_HEADER:
                    script_name = value
            append((names.get(name) or self._lower(name), value.encode("latin-1")))
        path_root = self.policy.script_name if script_name is None else script_name
        if path_root:
            check_script_name(request.path, path_root)
        secure = self._secure if scheme is None else scheme == "https"
        return headers, secure, script_name

    def _lower(self, name: str) -> bytes:
        lower = name.lower().encode("latin-1")
        if len(self._names) >= NAME_MEMO_SIZE:
            self._names.clear()  # a client inventing names cannot grow it
        self._names[name] = lower
        return lower


def decode_path(path: str) -> str:
    """Percent-decode a path received as latin-1 text, then decode it as UTF-8.

    Invalid UTF-8 becomes U+FFFD: the app gets a str it can always encode
    again, and ``raw_path`` has the exact bytes for those that need them.
    """
    if "%" not in path and path.isascii():
        return path
    from urllib.parse import unquote_to_bytes  # loaded by the first encoded path only

    return unquote_to_bytes(path.encode("latin-1")).decode("utf-8", "replace")


def client_address(
    peer: tuple[Any, ...] | None, proxy_environ: Mapping[str, str] | None
) -> tuple[str, int] | None:
    """The client as ASGI wants it: ``(host, port)``, or None when unknown."""
    if proxy_environ:
        address = proxy_environ.get("REMOTE_ADDR")
        port = proxy_environ.get("REMOTE_PORT", "")
        if address and port.isdigit():
            return address, int(port)
    if peer is None:
        return None
    if len(peer) == 2:
        return peer  # immutable: the connection's own tuple serves every request
    return peer[0], peer[1]  # an IPv6 sockaddr: (host, port, flowinfo, scope_id)


def offered_subprotocols(request: Request) -> list[str]:
    """The Sec-WebSocket-Protocol tokens, in the client's order of preference."""
    offered: list[str] = []
    for name, value in request.headers:
        if name == "SEC-WEBSOCKET-PROTOCOL":
            offered.extend(token for part in value.split(",") if (token := part.strip()))
    return offered
