"""The address grammar shared by bind, metrics_bind and statsd_host."""

from __future__ import annotations

import pytest

from workhorse.config import addresses as a


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8000", a.TcpAddress("127.0.0.1", 8000)),
        ("LocalHost", a.TcpAddress("localhost", 8000)),
        ("example.com:80", a.TcpAddress("example.com", 80)),
        ("[::1]:9000", a.TcpAddress("::1", 9000)),
        ("[::1]", a.TcpAddress("::1", 8000)),
        ("tcp://0.0.0.0:5000", a.TcpAddress("0.0.0.0", 5000)),
        (":8080", a.TcpAddress("", 8080)),
        ("", a.TcpAddress("0.0.0.0", 8000)),
        ("0.0.0.0:0", a.TcpAddress("0.0.0.0", 0)),
        ("unix:/run/app.sock", a.UnixAddress("/run/app.sock")),
        ("unix:///run/app.sock", a.UnixAddress("/run/app.sock")),
        ("unix:relative.sock", a.UnixAddress("relative.sock")),
        ("fd://3", a.FdAddress(3)),
    ],
)
def test_parse_address(text: str, expected: a.Address) -> None:
    assert a.parse_address(text) == expected


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("127.0.0.1:http", "port 'http' is not a number from 0 to 65535"),
        ("127.0.0.1:70000", "port '70000'"),
        ("127.0.0.1:", "port ''"),
        ("::1:8000", "write IPv6 addresses in brackets"),
        ("[::g]:80", "'::g' is not an IPv6 address"),
        ("[::1]x", "unexpected 'x' after ]"),
        ("[::1", "missing ]"),
        ("[::1]:", "port ''"),
        ("bad host:80", "'bad host' is not a host name"),
        ("unix:", "unix: needs a path"),
        ("fd://three", "'three' is not a file descriptor number"),
    ],
)
def test_parse_address_errors(text: str, detail: str) -> None:
    with pytest.raises(ValueError) as info:
        a.parse_address(text)
    assert detail in str(info.value)


def test_parse_address_without_default_port_needs_one() -> None:
    with pytest.raises(ValueError, match="a port is required"):
        a.parse_address("127.0.0.1", default_port=None)


def test_bind_list_keeps_the_strings() -> None:
    assert a.bind_list(["127.0.0.1:8000", " unix:/tmp/s "]) == ["127.0.0.1:8000", "unix:/tmp/s"]
    assert a.bind_list("0.0.0.0:80") == ["0.0.0.0:80"]


def test_bind_list_error_names_the_forms_and_the_problem() -> None:
    with pytest.raises(ValueError, match="x") as info:
        a.bind_list(["127.0.0.1:8000", "127.0.0.1:x"])
    message = str(info.value)
    assert message.startswith("expected addresses of the form HOST, HOST:PORT, [IPV6]:PORT")
    assert "unix:PATH" in message and "fd://N" in message
    assert "port 'x'" in message


def test_metrics_address() -> None:
    assert a.metrics_address("127.0.0.1:9101") == "127.0.0.1:9101"
    assert a.metrics_address("unix:/run/metrics.sock") == "unix:/run/metrics.sock"
    assert a.metrics_address(None) is None
    assert a.metrics_address("") is None
    with pytest.raises(ValueError, match=r"HOST:PORT.*a port is required"):
        a.metrics_address("127.0.0.1")
    with pytest.raises(ValueError, match="fd:// is not supported"):
        a.metrics_address("fd://3")


def test_statsd_address_keeps_gunicorns_unix_host_reading() -> None:
    assert a.parse_statsd_address("unix:8125") == a.TcpAddress("unix", 8125)
    assert a.parse_statsd_address("localhost") == a.TcpAddress("localhost", 8125)
    assert a.parse_statsd_address("unix:///var/run/statsd.sock") == a.UnixAddress(
        "/var/run/statsd.sock"
    )
    assert a.statsd_address("10.0.0.1:8125") == "10.0.0.1:8125"
    assert a.statsd_address(None) is None
    with pytest.raises(ValueError, match="unix://PATH"):
        a.statsd_address("fd://4")
