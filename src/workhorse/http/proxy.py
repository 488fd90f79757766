"""The PROXY protocol header (HAProxy's v1 text and v2 binary forms).

Strategy: a load balancer that speaks the PROXY protocol sends one header
before the first HTTP byte, naming the real client. :func:`parse_proxy_header`
looks at the start of a connection's bytes and returns the header's contents
with the number of bytes it used, or NEED_DATA while it cannot decide yet;
the caller feeds the rest of the buffer to ``ServerConnection``. Anything
that is neither form, or a form with a bad field, is a ProtocolError(400):
a connection on a PROXY-protocol listener that starts otherwise is not from
the proxy and must not be served.

Addresses are validated with ``ipaddress`` and returned in their canonical
text form. v1 ``UNKNOWN``, v2 ``LOCAL`` (the proxy's own health checks) and v2
families other than TCP over IPv4/IPv6 (UDP, UNIX, UNSPEC: meaningless for
HTTP) come back with ``family="UNKNOWN"`` and no addresses, meaning "use the
connection's real endpoints", as the specification asks of receivers. v2
TLVs are skipped.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Final

from .errors import ProtocolError, quote
from .events import NEED_DATA, NeedData

#: v1: the whole line, CRLF included, is at most 107 bytes (the worst case
#: "PROXY TCP6" line), as the specification states.
V1_MAX_LINE: Final = 107
V1_PREFIX: Final = b"PROXY "
V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
#: v2 fixed part: signature, version/command, family/transport, length.
V2_HEADER_SIZE: Final = 16
# v2 address block sizes: two addresses and two ports.
_V2_INET_SIZE: Final = 12
_V2_INET6_SIZE: Final = 36
_V2_UNIX_SIZE: Final = 216


@dataclasses.dataclass(frozen=True, slots=True)
class ProxyInfo:
    """What the proxy said about the connection it relays."""

    src_addr: str | None
    src_port: int | None
    dst_addr: str | None
    dst_port: int | None
    #: 1 (text) or 2 (binary).
    version: int
    #: "TCP4", "TCP6" or "UNKNOWN" (use the real connection endpoints).
    family: str = "UNKNOWN"


def _garbage(detail: str) -> ProtocolError:
    return ProtocolError(400, "Invalid PROXY protocol header", detail)


def parse_proxy_header(buf: bytes, *, eof: bool = False) -> tuple[ProxyInfo, int] | NeedData:
    """Parse the PROXY header at the start of ``buf``.

    Returns ``(info, consumed)`` or NEED_DATA; raises ProtocolError(400) on
    anything else, and when ``eof`` says no more bytes will come.
    """
    if buf.startswith(V2_SIGNATURE):
        result = _parse_v2(buf)
    elif buf.startswith(V1_PREFIX):
        result = _parse_v1(buf)
    elif V2_SIGNATURE.startswith(buf) or V1_PREFIX.startswith(buf):
        result = NEED_DATA
    else:
        raise _garbage(f"no PROXY protocol header: {quote(buf[:16])}")
    if eof and result is NEED_DATA:
        raise _garbage("connection closed inside the PROXY protocol header")
    return result


def _port(text: bytes) -> int:
    if not text.isdigit() or len(text) > 5 or (text[:1] == b"0" and text != b"0"):
        raise _garbage(f"invalid port {quote(text)}")
    port = int(text)
    if port > 65535:
        raise _garbage(f"invalid port {quote(text)}")
    return port


def _parse_v1(buf: bytes) -> tuple[ProxyInfo, int] | NeedData:
    end = buf.find(b"\r\n", 0, V1_MAX_LINE)
    if end < 0:
        if b"\n" in buf[:V1_MAX_LINE] or len(buf) >= V1_MAX_LINE:
            raise _garbage(f"PROXY v1 line not ended by CRLF within 107 bytes {quote(buf[:40])}")
        return NEED_DATA
    if b"\n" in buf[:end] or b"\r" in buf[:end]:
        raise _garbage(f"bare CR or LF in PROXY v1 line {quote(buf[:end])}")
    parts = buf[:end].split(b" ")
    family = parts[1] if len(parts) > 1 else b""
    if family == b"UNKNOWN":
        # The rest of an UNKNOWN line is ignored by definition.
        return ProxyInfo(None, None, None, None, 1, "UNKNOWN"), end + 2
    if family not in (b"TCP4", b"TCP6") or len(parts) != 6:
        raise _garbage(f"invalid PROXY v1 line {quote(buf[:end])}")
    import ipaddress  # only PROXY-protocol connections need it

    address_type = ipaddress.IPv4Address if family == b"TCP4" else ipaddress.IPv6Address
    try:
        src = address_type(parts[2].decode("ascii"))
        dst = address_type(parts[3].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        raise _garbage(f"invalid address in PROXY v1 line {quote(buf[:end])}") from None
    info = ProxyInfo(
        str(src), _port(parts[4]), str(dst), _port(parts[5]), 1, family.decode("ascii")
    )
    return info, end + 2


def _parse_v2(buf: bytes) -> tuple[ProxyInfo, int] | NeedData:
    if len(buf) < V2_HEADER_SIZE:
        return NEED_DATA
    version_command, family, length = struct.unpack_from("!BBH", buf, 12)
    if version_command >> 4 != 2:
        raise _garbage(f"PROXY v2 header with version {version_command >> 4}")
    command = version_command & 0x0F
    if command > 1:
        raise _garbage(f"PROXY v2 header with unknown command {command}")
    total = V2_HEADER_SIZE + length
    if len(buf) < total:
        return NEED_DATA
    address_family, transport = family >> 4, family & 0x0F
    if address_family > 3 or transport > 2:
        raise _garbage(f"PROXY v2 header with unknown family 0x{family:02x}")
    needed = {1: _V2_INET_SIZE, 2: _V2_INET6_SIZE, 3: _V2_UNIX_SIZE}.get(address_family, 0)
    if length < needed:
        raise _garbage(f"PROXY v2 address block of {length} bytes, family needs {needed}")
    if command == 0 or transport != 1 or address_family not in (1, 2):
        # LOCAL (health check), or a family HTTP cannot use: real endpoints.
        return ProxyInfo(None, None, None, None, 2, "UNKNOWN"), total
    import ipaddress  # only PROXY-protocol connections need it

    if address_family == 1:
        src4 = ipaddress.IPv4Address(buf[16:20])
        dst4 = ipaddress.IPv4Address(buf[20:24])
        sport, dport = struct.unpack_from("!HH", buf, 24)
        return ProxyInfo(str(src4), sport, str(dst4), dport, 2, "TCP4"), total
    src6 = ipaddress.IPv6Address(buf[16:32])
    dst6 = ipaddress.IPv6Address(buf[32:48])
    sport, dport = struct.unpack_from("!HH", buf, 48)
    return ProxyInfo(str(src6), sport, str(dst6), dport, 2, "TCP6"), total
