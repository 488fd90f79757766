"""The PROXY protocol reader (v1 text, v2 binary)."""

from __future__ import annotations

import struct

import pytest

from workhorse.http import NEED_DATA, ProtocolError, ProxyInfo, parse_proxy_header
from workhorse.http.proxy import V2_SIGNATURE

REQUEST = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"


def v2(command: int, family: int, addresses: bytes, tlvs: bytes = b"") -> bytes:
    body = addresses + tlvs
    return V2_SIGNATURE + struct.pack("!BBH", 0x20 | command, family, len(body)) + body


def test_v1_tcp4() -> None:
    header = b"PROXY TCP4 192.168.0.1 10.0.0.1 56324 443\r\n"
    result = parse_proxy_header(header + REQUEST)
    assert result == (ProxyInfo("192.168.0.1", 56324, "10.0.0.1", 443, 1, "TCP4"), len(header))


def test_v1_tcp6() -> None:
    header = b"PROXY TCP6 2001:db8::1 ::1 65535 0\r\n"
    info, used = parse_proxy_header(header)  # type: ignore[misc]
    assert info == ProxyInfo("2001:db8::1", 65535, "::1", 0, 1, "TCP6")
    assert used == len(header)


def test_v1_tcp6_is_canonicalised() -> None:
    info, _ = parse_proxy_header(b"PROXY TCP6 2001:0db8:0:0:0:0:0:0001 ::1 1 2\r\n")  # type: ignore[misc]
    assert info.src_addr == "2001:db8::1"


def test_v1_unknown_ignores_the_rest() -> None:
    header = b"PROXY UNKNOWN whatever follows 1 2 3\r\n"
    assert parse_proxy_header(header + REQUEST) == (
        ProxyInfo(None, None, None, None, 1, "UNKNOWN"),
        len(header),
    )
    assert parse_proxy_header(b"PROXY UNKNOWN\r\n") == (
        ProxyInfo(None, None, None, None, 1, "UNKNOWN"),
        15,
    )


@pytest.mark.parametrize("cut", range(0, 43))
def test_v1_needs_data_until_the_line_ends(cut: int) -> None:
    header = b"PROXY TCP4 192.168.0.1 10.0.0.1 56324 443\r\n"
    assert parse_proxy_header(header[:cut]) is NEED_DATA
    with pytest.raises(ProtocolError):
        parse_proxy_header(header[:cut], eof=True)


@pytest.mark.parametrize(
    "line",
    [
        b"PROXY TCP4 192.168.0.1 10.0.0.1 56324\r\n",  # missing port
        b"PROXY TCP4 192.168.0.1 10.0.0.1 56324 443 x\r\n",
        b"PROXY TCP4 192.168.0.256 10.0.0.1 1 2\r\n",
        b"PROXY TCP4 ::1 10.0.0.1 1 2\r\n",  # family mismatch
        b"PROXY TCP6 10.0.0.1 ::1 1 2\r\n",
        b"PROXY TCP4 192.168.0.1 10.0.0.1 65536 2\r\n",
        b"PROXY TCP4 192.168.0.1 10.0.0.1 -1 2\r\n",
        b"PROXY TCP4 192.168.0.1 10.0.0.1 080 2\r\n",  # leading zero
        b"PROXY TCP4 192.168.0.01 10.0.0.1 80 2\r\n",  # leading zero in an octet
        b"PROXY TCP4  192.168.0.1 10.0.0.1 1 2\r\n",  # double space
        b"PROXY UDP4 192.168.0.1 10.0.0.1 1 2\r\n",
        b"PROXY tcp4 192.168.0.1 10.0.0.1 1 2\r\n",
        b"PROXY TCP4 192.168.0.1 10.0.0.1 1 2\n",  # bare LF
        b"PROXY\r\n",
        b"PROXY \r\n",
        b"PROXY TCP4 " + b"1" * 100 + b"\r\n",  # longer than 107 bytes
        b"PROXY TCP4 \xff.0.0.1 10.0.0.1 1 2\r\n",
    ],
)
def test_v1_garbage(line: bytes) -> None:
    with pytest.raises(ProtocolError) as error:
        parse_proxy_header(line + REQUEST)
    assert error.value.status == 400


def test_v1_line_without_end_is_bounded() -> None:
    with pytest.raises(ProtocolError, match="107"):
        parse_proxy_header(b"PROXY TCP4 " + b"1" * 200)


@pytest.mark.parametrize("data", [REQUEST, b"GET", b"\x16\x03\x01", b"proxy tcp4"])
def test_not_a_proxy_header(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_proxy_header(data)


def test_empty_buffer_needs_data() -> None:
    assert parse_proxy_header(b"") is NEED_DATA


def test_v2_tcp4_with_tlvs() -> None:
    addresses = bytes([192, 168, 0, 1, 10, 0, 0, 1]) + struct.pack("!HH", 56324, 443)
    header = v2(1, 0x11, addresses, tlvs=b"\x04\x00\x03abc")
    info, used = parse_proxy_header(header + REQUEST)  # type: ignore[misc]
    assert info == ProxyInfo("192.168.0.1", 56324, "10.0.0.1", 443, 2, "TCP4")
    assert used == len(header)


def test_v2_tcp6() -> None:
    src = bytes(15) + b"\x01"
    dst = b"\x20\x01\x0d\xb8" + bytes(11) + b"\x02"
    header = v2(1, 0x21, src + dst + struct.pack("!HH", 1, 2))
    info, used = parse_proxy_header(header)  # type: ignore[misc]
    assert info == ProxyInfo("::1", 1, "2001:db8::2", 2, 2, "TCP6")
    assert used == len(header)


def test_v2_local_uses_the_real_endpoints() -> None:
    header = v2(0, 0x00, b"")
    assert parse_proxy_header(header + REQUEST) == (
        ProxyInfo(None, None, None, None, 2, "UNKNOWN"),
        16,
    )
    # LOCAL may still carry (ignored) addresses.
    header = v2(0, 0x11, bytes(12))
    assert parse_proxy_header(header)[1] == 28  # type: ignore[index]


@pytest.mark.parametrize(("family", "size"), [(0x12, 12), (0x22, 36), (0x31, 216), (0x00, 0)])
def test_v2_families_http_cannot_use(family: int, size: int) -> None:
    header = v2(1, family, bytes(size))
    assert parse_proxy_header(header) == (
        ProxyInfo(None, None, None, None, 2, "UNKNOWN"),
        16 + size,
    )


def test_v2_needs_data_until_complete() -> None:
    addresses = bytes(8) + struct.pack("!HH", 1, 2)
    header = v2(1, 0x11, addresses)
    for cut in range(len(header)):
        assert parse_proxy_header(header[:cut]) is NEED_DATA
    assert parse_proxy_header(header)[1] == len(header)  # type: ignore[index]


@pytest.mark.parametrize(
    "header",
    [
        V2_SIGNATURE + struct.pack("!BBH", 0x10 | 1, 0x11, 12) + bytes(12),  # version 1
        V2_SIGNATURE + struct.pack("!BBH", 0x30 | 1, 0x11, 12) + bytes(12),  # version 3
        V2_SIGNATURE + struct.pack("!BBH", 0x22, 0x11, 12) + bytes(12),  # command 2
        V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x11, 11) + bytes(11),  # short IPv4 block
        V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x21, 12) + bytes(12),  # short IPv6 block
        V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x41, 12) + bytes(12),  # family 4
        V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x13, 12) + bytes(12),  # transport 3
    ],
)
def test_v2_garbage(header: bytes) -> None:
    with pytest.raises(ProtocolError) as error:
        parse_proxy_header(header)
    assert error.value.status == 400
