"""Build a PEP 3333 environ from a parsed request.

Strategy: everything that is the same for every request on a listener (WSGI
version flags, server name and port, errors stream, file wrapper) is built
once into a template that each request copies; header names are mapped to
``HTTP_*`` keys through a memo so the common headers cost one dict lookup.
Policy decisions that depend on who the peer is (scheme headers, forwarder
headers, headers with underscores) follow Gunicorn's rules exactly, because
apps behind proxies depend on them for security; the rules themselves live in
:mod:`workhorse.wsgi.trust`, shared with the ASGI scope:

- ``wsgi.url_scheme`` comes from ``secure_scheme_headers`` only when the peer
  is in ``forwarded_allow_ips``; two such headers that disagree are a 400.
- A header name containing ``_`` would map to the same environ key as its
  dashed twin (``X_Forwarded_For`` vs ``X-Forwarded-For``) and could spoof
  it, so it is dropped (``header_map=drop``, default), refused (``refuse``,
  400) or kept (``dangerous``), unless it is a forwarder header sent by a
  trusted peer.
- ``REMOTE_ADDR`` is the peer's address, or the client's address from a
  PROXY protocol header sent by a peer in ``proxy_allow_ips``. Like
  Gunicorn, workhorse does not rewrite it from ``X-Forwarded-For``; the app's
  middleware decides how far to trust that header.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workhorse import SERVER_SOFTWARE
from workhorse.http import Request
from workhorse.wsgi.trust import (
    SCRIPT_NAME_HEADER,
    SINGLETON_FIELDS,
    TrustedPeers,
    check_script_name,
    check_singleton,
    scheme_vote,
    underscore_header_allowed,
)

#: Header names whose environ key is fixed by CGI rather than ``HTTP_*``.
CGI_HEADERS = {"CONTENT-TYPE": "CONTENT_TYPE", "CONTENT-LENGTH": "CONTENT_LENGTH"}


@dataclass(frozen=True)
class ListenerInfo:
    """What the environ needs to know about the socket a request came in on."""

    server_name: str
    server_port: str
    is_unix: bool
    is_ssl: bool


@dataclass(frozen=True)
class EnvironPolicy:
    """The settings that shape an environ, read once from the config."""

    trusted_forwarders: TrustedPeers
    secure_scheme_headers: Mapping[str, str]
    forwarder_headers: frozenset[str]
    header_map: str  # "drop" | "refuse" | "dangerous"
    script_name: str
    multithread: bool
    multiprocess: bool


class EnvironBuilder:
    """Makes the environ of each request served on one listener."""

    def __init__(
        self,
        policy: EnvironPolicy,
        listener: ListenerInfo,
        errors: Any,
        file_wrapper: Any,
    ) -> None:
        self.policy = policy
        self.listener = listener
        self.default_scheme = "https" if listener.is_ssl else "http"
        self.template: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.multithread": policy.multithread,
            "wsgi.multiprocess": policy.multiprocess,
            "wsgi.run_once": False,
            "wsgi.errors": errors,
            "wsgi.file_wrapper": file_wrapper,
            "wsgi.input_terminated": True,
            "SERVER_SOFTWARE": SERVER_SOFTWARE,
            "SERVER_NAME": listener.server_name,
            "SERVER_PORT": listener.server_port,
            "SCRIPT_NAME": policy.script_name,
        }
        self._keys: dict[str, str] = dict(CGI_HEADERS)

    def environ_key(self, name: str) -> str:
        key = self._keys.get(name)
        if key is None:
            key = "HTTP_" + name.replace("-", "_")
            if len(self._keys) < 1024:
                self._keys[name] = key
        return key

    def build(
        self,
        request: Request,
        peer: tuple[str, int] | None,
        wsgi_input: Any,
        proxy: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The environ for ``request`` from ``peer`` (None for a UNIX-socket peer)."""
        environ = self.template.copy()
        environ["REQUEST_METHOD"] = request.method
        environ["QUERY_STRING"] = request.query
        environ["RAW_URI"] = request.target
        environ["SERVER_PROTOCOL"] = "HTTP/1.1" if request.version == (1, 1) else "HTTP/1.0"
        environ["wsgi.input"] = wsgi_input
        if peer is None:
            environ["REMOTE_ADDR"] = ""
            peer_ip = None
        else:
            peer_ip = peer[0]
            environ["REMOTE_ADDR"] = peer_ip
            environ["REMOTE_PORT"] = str(peer[1])
        trusted = peer_ip in self.policy.trusted_forwarders
        scheme, script_name = self._apply_headers(environ, request, trusted)
        environ["wsgi.url_scheme"] = scheme
        if self.listener.is_unix:
            self._server_from_host(environ, scheme)
        self._set_path(environ, request, script_name)
        if proxy:
            environ.update(proxy)
        return environ

    def _apply_headers(
        self, environ: dict[str, Any], request: Request, trusted: bool
    ) -> tuple[str, str | None]:
        """Copy the headers in; return the scheme and the forwarded script name."""
        keys = self._keys
        policy = self.policy
        scheme_headers = policy.secure_scheme_headers if trusted else {}
        scheme: str | None = None
        script_name: str | None = None
        seen_singletons: set[str] = set()
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
                    # Only this exact name, never its dashed twin ("Script-Name",
                    # which any client may send): it is the one the rule above gates.
                    script_name = value
            key = keys.get(name) or self.environ_key(name)
            if key in environ and key not in CGI_HEADERS.values():
                environ[key] = f"{environ[key]},{value}"
            else:
                environ[key] = value
        return scheme or self.default_scheme, script_name

    def _server_from_host(self, environ: dict[str, Any], scheme: str) -> None:
        # WSGI has no notion of a UNIX socket; like Gunicorn, take the server
        # name and port from the Host header when there is one.
        host = environ.get("HTTP_HOST")
        if host:
            name, port = split_host(host, "443" if scheme == "https" else "80")
            environ["SERVER_NAME"] = name
            environ["SERVER_PORT"] = port

    def _set_path(self, environ: dict[str, Any], request: Request, script_name: str | None) -> None:
        path = request.path
        if script_name is None:
            script_name = environ["SCRIPT_NAME"]
        else:
            environ["SCRIPT_NAME"] = script_name
        if script_name:
            check_script_name(path, script_name)
            path = path[len(script_name) :]
        environ["PATH_INFO"] = unquote_path(path) if "%" in path else path


def unquote_path(path: str) -> str:
    """Percent-decode a path into a WSGI (latin-1) string."""
    from urllib.parse import unquote_to_bytes  # loaded by the first encoded path only

    return unquote_to_bytes(path).decode("latin-1")


def split_host(host: str, default_port: str) -> tuple[str, str]:
    """Split a Host header value into name and port (IPv6 literals keep brackets)."""
    if host.startswith("["):
        end = host.find("]")
        if end != -1:
            rest = host[end + 1 :]
            if rest.startswith(":") and rest[1:].isdigit():
                return host[: end + 1], rest[1:]
            return host[: end + 1], default_port
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, port
    return host, default_port


def script_name_default(root_path: str) -> str:
    """SCRIPT_NAME for every request: ``root_path``, else the process env, as Gunicorn."""
    return (root_path or os.environ.get("SCRIPT_NAME", "")).rstrip("/")
