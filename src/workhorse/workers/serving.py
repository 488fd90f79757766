"""Build, once per worker, what the request path needs from the config.

Strategy: settings are read here, at boot, into small immutable objects
(HTTP limits, environ policy, handler settings, the TLS context), so the
request path never looks a setting up by name. ``open_client`` turns an
accepted socket into a :class:`Connection` the same way for every worker kind.
"""

from __future__ import annotations

import socket
from typing import Any

from workhorse import SERVER_SOFTWARE
from workhorse.config import hooks as default_hooks
from workhorse.config.settings import Config
from workhorse.http import Limits, ServerConnection
from workhorse.listeners import Listener
from workhorse.scoreboard import RequestSlot, Scoreboard
from workhorse.workers.connection import Connection, set_io_timeouts
from workhorse.workers.handler import HandlerSettings, RequestHandler
from workhorse.wsgi.environ import EnvironBuilder, EnvironPolicy, script_name_default
from workhorse.wsgi.filewrapper import FileWrapper
from workhorse.wsgi.trust import TrustedPeers

#: PROXY protocol versions accepted for each value of ``proxy_protocol``.
PROXY_VERSIONS = {"off": frozenset(), "v1": frozenset({1}), "v2": frozenset({2}),
                  "auto": frozenset({1, 2})}
#: Access-log atoms that need the scoreboard scanned at each request start.
BUSY_IDLE_ATOMS = ("%(busy)", "%(idle)")


def http_limits(cfg: Config) -> Limits:
    return Limits(
        max_request_line=int(cfg.limit_request_line),
        max_header_count=int(cfg.limit_request_fields),
        max_header_field_size=int(cfg.limit_request_field_size),
        max_body_size=cfg.limit_request_body or 0,
        permit_obsolete_folding=bool(cfg.permit_obsolete_folding),
        permit_unconventional_http_method=bool(cfg.permit_unconventional_http_method),
        permit_unconventional_http_version=bool(cfg.permit_unconventional_http_version),
        casefold_http_method=bool(cfg.casefold_http_method),
        strip_header_spaces=bool(cfg.strip_header_spaces),
    )


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(part) for part in value or ()]


def environ_policy(cfg: Config, *, multithread: bool) -> EnvironPolicy:
    return EnvironPolicy(
        trusted_forwarders=TrustedPeers(_as_list(cfg.forwarded_allow_ips)),
        secure_scheme_headers={
            str(name).upper(): str(value)
            for name, value in dict(cfg.secure_scheme_headers or {}).items()
        },
        forwarder_headers=frozenset(name.upper() for name in _as_list(cfg.forwarder_headers)),
        header_map=str(cfg.header_map),
        script_name=script_name_default(cfg.root_path or ""),
        multithread=multithread,
        multiprocess=int(cfg.workers) > 1,
    )


def environ_builders(cfg: Config, listeners: list[Listener], errors: Any, *,
                     multithread: bool) -> list[EnvironBuilder]:
    policy = environ_policy(cfg, multithread=multithread)
    return [EnvironBuilder(policy, listener.info, errors, FileWrapper) for listener in listeners]


def handler_settings(cfg: Config, log: Any) -> HandlerSettings:
    return HandlerSettings(
        # 0 means no limit, for the kernel (SO_RCVTIMEO) and for our deadlines.
        header_timeout=float(cfg.header_timeout),
        body_timeout=float(cfg.body_timeout),
        send_timeout=float(cfg.send_timeout),
        keepalive=float(cfg.keepalive),
        sendfile=cfg.sendfile is not False,
        request_id_header=(cfg.request_id_header or "").upper(),
        trusted_forwarders=TrustedPeers(_as_list(cfg.forwarded_allow_ips)),
        access_log=bool(log.access_log_enabled),
        server_header=SERVER_SOFTWARE,
        proxy_versions=PROXY_VERSIONS[str(cfg.proxy_protocol)],
        proxy_peers=TrustedPeers(_as_list(cfg.proxy_allow_ips)),
        max_queue_time=cfg.max_queue_time,
    )


def needs_busy_idle(cfg: Config, log: Any) -> bool:
    fmt = str(cfg.access_log_format or "")
    return bool(log.access_log_enabled) and any(atom in fmt for atom in BUSY_IDLE_ATOMS)


def user_hook(cfg: Config, name: str) -> Any:
    """The hook when the user set one, else None (so the request path skips it)."""
    hook = getattr(cfg, name, None)
    if hook is None or hook is getattr(default_hooks, name, None):
        return None
    return hook


def make_handler(worker: Any, board: Scoreboard, slot: RequestSlot, thread: int,
                 builders: list[EnvironBuilder]) -> RequestHandler:
    cfg = worker.cfg
    return RequestHandler(
        worker=worker,
        app=worker.wsgi,
        builders=builders,
        settings=handler_settings(cfg, worker.log),
        slot=slot,
        log=worker.log,
        timeout=float(cfg.timeout or 0),
        pre_request=user_hook(cfg, "pre_request"),
        post_request=user_hook(cfg, "post_request"),
        busy_idle=board.count_busy_idle if needs_busy_idle(cfg, worker.log) else None,
        slot_id=worker.slot * board.threads + thread,
    )


def open_client(worker: Any, handler: RequestHandler, sock: socket.socket, peer: Any,
                index: int, conn: ServerConnection, *, tls: bool = True,
                plain: type[Connection] = Connection) -> Connection | None:
    """The connection for an accepted socket: kernel timeouts, the TLS handshake
    (unless ``tls`` is False), a PROXY header expected from trusted proxies.

    ``plain`` is the class of a connection without TLS (and
    ``worker.tls_module`` supplies ``wrap`` and ``TLSConnection``): the gevent
    worker's sockets wait in its hub. None when the TLS handshake failed (the
    socket is closed).
    """
    settings = handler.settings
    if sock.family == socket.AF_UNIX:
        set_io_timeouts(sock, settings.header_timeout, settings.send_timeout)
    timeouts = {"read_timeout": settings.header_timeout, "send_timeout": settings.send_timeout}
    client: Connection
    if worker.tls is not None and tls:
        secure = worker.tls_module.wrap(worker.tls, sock, worker.cfg)
        if secure is None:
            worker.log.debug("TLS handshake failed with %s", peer)
            sock.close()
            return None
        client = worker.tls_module.TLSConnection(secure, peer, conn, index, **timeouts)
    else:
        client = plain(sock, peer, conn, index, **timeouts)
    handler.adopt(client)
    return client


def tls_support(cfg: Config) -> Any:
    """The TLS module and server context when TLS is configured, else (None, None).

    Importing :mod:`ssl` costs memory in every worker, so it is only loaded here.
    """
    if not (cfg.certfile or cfg.keyfile):
        return None, None
    from workhorse.workers import tls

    return tls, tls.server_context(cfg, user_hook(cfg, "ssl_context"))
