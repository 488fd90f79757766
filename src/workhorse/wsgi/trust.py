"""Which peers may speak for the client (proxy headers, PROXY protocol).

Strategy: ``forwarded_allow_ips`` and ``proxy_allow_ips`` are lists of IPs,
CIDR networks or ``*``. A peer on a UNIX socket is always trusted, as in
Gunicorn: only local processes (the proxy) can connect there. Answers are
memoised per address because a proxy connects from a handful of addresses
and the check sits on the request path.
"""

from __future__ import annotations

from collections.abc import Iterable

from workhorse.ipnets import Network, parse_ip

#: Memoised answers kept per matcher; a proxy has few addresses, a direct
#: internet-facing server has many, so the memo is bounded and reset when full.
MEMO_LIMIT = 4096


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
