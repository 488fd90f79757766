"""Which peers may speak for the client (proxy headers, PROXY protocol).

Strategy: ``forwarded_allow_ips`` and ``proxy_allow_ips`` are lists of IPs,
CIDR networks or ``*``. A peer on a UNIX socket is always trusted, as in
Gunicorn: only local processes (the proxy) can connect there. Answers are
memoised per address because a proxy connects from a handful of addresses
and the check sits on the request path.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

#: Memoised answers kept per matcher; a proxy has few addresses, a direct
#: internet-facing server has many, so the memo is bounded and reset when full.
MEMO_LIMIT = 4096


class TrustedPeers:
    """Decide whether a peer address is in an allow-list."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.allow_all = False
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            if entry == "*":
                self.allow_all = True
            else:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
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
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            mapped = ip.ipv4_mapped
            if any(mapped in net for net in self.networks):
                return True
        return any(ip in net for net in self.networks)
