"""Which peers may speak for the client, and what they may say.

Strategy: ``forwarded_allow_ips`` and ``proxy_allow_ips`` are lists of IPs,
CIDR networks or ``*``. A peer on a UNIX socket is always trusted, as in
Gunicorn: only local processes (the proxy) can connect there. Answers are
memoised per address because a proxy connects from a handful of addresses
and the check sits on the request path.

The rules that decide what a request's headers may change (the scheme, the
script name, headers with ``_`` in their names, repeated singletons) are the
small functions below, shared by the WSGI environ and the ASGI scope so that
both interfaces tell an application the same thing about the same request.
Each builder keeps its own loop over the headers (the common header costs a
dict lookup, not a call) and calls these only on the branches that need them.
"""

from __future__ import annotations

from collections.abc import Iterable

from workhorse.http import ProtocolError
from workhorse.ipnets import Network, parse_ip

#: Memoised answers kept per matcher; a proxy has few addresses, a direct
#: internet-facing server has many, so the memo is bounded and reset when full.
MEMO_LIMIT = 4096

#: Fields that must appear at most once (RFC 9110 5.3 singletons that
#: Gunicorn also enforces): a repeat is ambiguous to anything downstream.
SINGLETON_FIELDS = frozenset({"HOST", "CONTENT-TYPE"})
#: The forwarder header that mounts the application below a path prefix (the
#: name as received, uppercased: with ``_``, so only ``forwarder_headers`` or
#: ``header_map=dangerous`` let it through, exactly as in Gunicorn).
SCRIPT_NAME_HEADER = "SCRIPT_NAME"


class TrustedPeers:
    """Decide whether a peer address is in an allow-list."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.allow_all = False
        self.networks: list[Network] = []
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            if entry == "*":
                self.allow_all = True
            else:
                self.networks.append(_network(entry))
        self._memo: dict[str, bool] = {}

    def __contains__(self, address: str | None) -> bool:
        """``address`` is an IP string, or None for a UNIX-socket peer."""
        if address is None or self.allow_all:
            return True
        known = self._memo.get(address)
        if known is not None:
            return known
        answer = self._check(address)
        if len(self._memo) >= MEMO_LIMIT:
            self._memo.clear()
        self._memo[address] = answer
        return answer

    def _check(self, address: str) -> bool:
        try:
            ip = parse_ip(address)
        except ValueError:
            return False
        return any(net.holds(ip) for net in self.networks)


def _network(entry: str) -> Network:
    """Like ``ip_network(strict=False)``: host bits are masked off, not refused."""
    address, slash, prefix = entry.partition("/")
    bits, value = parse_ip(address)
    if ":" in address and bits == 32:
        return Network(32, value, 32 - (128 - int(prefix)) if slash else 32)
    width = int(prefix) if slash else bits
    shift = bits - width
    return Network(bits, value >> shift << shift, width)


def check_singleton(name: str, seen: set[str]) -> None:
    """Refuse a second ``Host``/``Content-Type`` (``name`` is in SINGLETON_FIELDS)."""
    if name in seen:
        raise ProtocolError(400, f"Duplicate {name.title()} header")
    seen.add(name)


def scheme_vote(secure_value: str, value: str, scheme: str | None) -> str:
    """The scheme a trusted ``secure_scheme_headers`` field says, given the one
    said so far: ``value`` equal to the configured ``secure_value`` means https.

    Two such fields that disagree are a 400: guessing could serve a page meant
    for https over http, or the other way round.
    """
    this = "https" if value == secure_value else "http"
    if scheme is not None and scheme != this:
        raise ProtocolError(400, "Contradictory scheme headers")
    return this


def underscore_header_allowed(
    name: str, trusted: bool, forwarder_headers: frozenset[str], header_map: str
) -> bool:
    """Keep a header whose name contains ``_``? (``name`` uppercased.)

    Such a name maps to the same environ key as its dashed twin
    (``X_Forwarded_For`` vs ``X-Forwarded-For``) and could spoof it, so it is
    kept only from a trusted peer that may send it (``forwarder_headers``),
    or when ``header_map`` is ``dangerous``; ``drop`` (the default) drops it
    and ``refuse`` answers 400.
    """
    if trusted and (name in forwarder_headers or "*" in forwarder_headers):
        return True
    if header_map == "dangerous":
        return True
    if header_map == "drop":
        return False
    raise ProtocolError(400, f"Header name with underscore refused: {name}")


def check_script_name(path: str, script_name: str) -> None:
    """A request outside the mount point is refused (400), as in Gunicorn.

    ``path`` is the request path still percent-encoded, as received.
    """
    if not path.startswith(script_name):
        raise ProtocolError(400, f"Request path does not start with SCRIPT_NAME {script_name!r}")
