"""Listening and target addresses: one grammar for bind, metrics_bind and statsd_host.

Strategy: settings keep addresses as the strings the user wrote (that is what
``--print-config`` shows and what Gunicorn keeps for ``bind``); the
converters here only check them. The master and the StatsD client call
:func:`parse_address` / :func:`parse_statsd_address` to get a typed address,
so the grammar that validated a string is the one that reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from workhorse.config.converters import (
    Converter,
    as_optional_text,
    as_string_list,
    reject,
)
from workhorse.ipnets import is_ipv6


@dataclass(frozen=True)
class TcpAddress:
    host: str
    port: int


@dataclass(frozen=True)
class UnixAddress:
    path: str


@dataclass(frozen=True)
class FdAddress:
    fd: int


Address = TcpAddress | UnixAddress | FdAddress

_UNIX_PREFIX = re.compile(r"unix:(//)?")
_HOST = re.compile(r"[A-Za-z0-9_.-]*")
_PORT = re.compile(r"\d{1,5}")


def _port(text: str | None, default_port: int | None) -> int:
    """The port after the colon; ``None`` when there was no colon."""
    if text is None:
        if default_port is None:
            reject("a port is required")
        return default_port
    if not _PORT.fullmatch(text) or int(text) > 65535:
        reject(f"port {text!r} is not a number from 0 to 65535")
    return int(text)


def _bracketed(netloc: str, default_port: int | None) -> TcpAddress:
    host, sep, rest = netloc[1:].partition("]")
    if not sep:
        reject("missing ]")
    if not is_ipv6(host):
        reject(f"{host!r} is not an IPv6 address")
    if rest and not rest.startswith(":"):
        reject(f"unexpected {rest!r} after ]")
    port = rest[1:] if rest else None
    return TcpAddress(host.lower(), _port(port, default_port))


def _tcp(netloc: str, default_port: int | None) -> TcpAddress:
    if netloc.startswith("["):
        return _bracketed(netloc, default_port)
    if netloc.count(":") > 1:
        reject("write IPv6 addresses in brackets, e.g. [::1]:8000")
    host, colon, port = netloc.partition(":")
    if not _HOST.fullmatch(host):
        reject(f"{host!r} is not a host name or IP address")
    if not colon:
        return TcpAddress(host.lower() or "0.0.0.0", _port(None, default_port))
    return TcpAddress(host.lower(), _port(port, default_port))


def _fd(text: str) -> FdAddress:
    if not text.isdigit():
        reject(f"{text!r} is not a file descriptor number")
    return FdAddress(int(text))


def parse_address(text: str, default_port: int | None = 8000) -> Address:
    """Parse ``HOST``, ``HOST:PORT``, ``[IPV6]:PORT``, ``unix:PATH``, ``fd://N``.

    ``tcp://`` is accepted as a prefix. A host without a port gets
    ``default_port``; with ``default_port=None`` the port is required.
    Raises ValueError with what is wrong.
    """
    netloc = text.strip()
    unix = _UNIX_PREFIX.match(netloc)
    if unix:
        path = netloc[unix.end() :]
        if not path:
            reject("unix: needs a path")
        return UnixAddress(path)
    if netloc.startswith("fd://"):
        return _fd(netloc[len("fd://") :])
    if netloc.startswith("tcp://"):
        netloc = netloc[len("tcp://") :]
    return _tcp(netloc, default_port)


def _bind_list(value: Any) -> list[str]:
    addresses = as_string_list(value)
    for address in addresses:
        parse_address(address)
    return addresses


bind_list = Converter(
    "addresses of the form HOST, HOST:PORT, [IPV6]:PORT, unix:PATH, unix://PATH"
    " or fd://N (a host alone gets port 8000)",
    _bind_list,
)


def _metrics_address(value: Any) -> str | None:
    text = as_optional_text(value)
    if not text:
        return None
    if isinstance(parse_address(text, default_port=None), FdAddress):
        reject("fd:// is not supported here")
    return text


metrics_address = Converter("HOST:PORT, [IPV6]:PORT, unix:PATH, or None for off", _metrics_address)

_STATSD_UNIX_HOST = re.compile(r"unix:(\d+)")


def parse_statsd_address(text: str) -> Address:
    """A StatsD address; ``unix:8125`` means host "unix", as in Gunicorn."""
    legacy = _STATSD_UNIX_HOST.fullmatch(text.strip())
    if legacy:
        return TcpAddress("unix", int(legacy.group(1)))
    return parse_address(text, default_port=8125)


def _statsd_address(value: Any) -> str | None:
    text = as_optional_text(value)
    if not text:
        return None
    if isinstance(parse_statsd_address(text), FdAddress):
        reject("fd:// is not supported here")
    return text


statsd_address = Converter(
    "HOST:PORT, HOST (port 8125), unix://PATH, or None for off", _statsd_address
)
