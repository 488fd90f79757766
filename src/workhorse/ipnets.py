"""IP addresses and networks as integers, for allow-lists.

Strategy: :mod:`ipaddress` would do, but it costs about a MiB of memory in
every process that imports it, and all workhorse needs is "parse this
address or network" and "is this peer in that network". Addresses are
parsed with the C ``inet_pton`` and compared as integers; an IPv4 address
mapped into IPv6 (``::ffff:10.0.0.1``, what a dual-stack listener reports)
matches IPv4 networks.
"""

from __future__ import annotations

import socket
from typing import NamedTuple

_MAPPED_PREFIX = 0xFFFF << 32  # ::ffff:0:0/96


class Network(NamedTuple):
    bits: int  # 32 or 128
    value: int  # the network address
    prefix: int

    def holds(self, address: tuple[int, int]) -> bool:
        """Whether an address from :func:`parse_ip` is in this network."""
        bits, value = address
        if bits != self.bits:
            return False
        shift = self.bits - self.prefix
        return bool(value >> shift == self.value >> shift)


def parse_ip(text: str) -> tuple[int, int]:
    """(32 or 128, integer value) of an IP address; IPv4-mapped IPv6 becomes IPv4."""
    text = text.split("%", 1)[0]  # drop an IPv6 zone id
    try:
        if ":" in text:
            value = int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
            if value >> 32 == _MAPPED_PREFIX >> 32:
                return 32, value & 0xFFFFFFFF
            return 128, value
        return 32, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except OSError:
        raise ValueError(f"{text!r} is not an IP address") from None


def parse_network(text: str) -> Network:
    """``10.0.0.0/8``, ``::1``, ``192.0.2.7``; host bits must be zero (like ipaddress)."""
    address, slash, prefix_text = text.strip().partition("/")
    bits, value = parse_ip(address)
    if ":" in address and bits == 32:  # a mapped address written as IPv6 stays IPv6
        bits, value = 128, _MAPPED_PREFIX | value
    if slash:
        if not prefix_text.isdigit() or not 0 <= int(prefix_text) <= bits:
            raise ValueError(f"{text!r} has an invalid prefix length")
        prefix = int(prefix_text)
    else:
        prefix = bits
    if value & ((1 << (bits - prefix)) - 1):
        raise ValueError(f"{text!r} has host bits set")
    return Network(bits, value, prefix)


def is_ipv6(text: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6, text.split("%", 1)[0])
    except OSError:
        return False
    return True
