"""Access log atoms: Gunicorn's meanings and formats, and workhorse's own."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from workhorse.logs import DEFAULT_ACCESS_LOG_FORMAT, AccessFormat, AccessRecord
from workhorse.logs.access import ATOM_NAMES, basic_auth_user, format_keys

Make = Callable[..., AccessRecord]

SEED_FORMAT = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" rt=%(L)s busy=%({x-busy}i)s'
)

ENVIRON = {
    "REQUEST_METHOD": "POST",
    "PATH_INFO": "/a b",
    "QUERY_STRING": "x=1",
    "SERVER_PROTOCOL": "HTTP/1.0",
    "REMOTE_ADDR": "10.0.0.1",
    "HTTP_REFERER": "http://ref/",
    "HTTP_USER_AGENT": "agent/1",
    "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"alice:secret").decode(),
    "wsgi.url_scheme": "https",
}


def atom(make: Make, name: str, **fields: Any) -> str:
    return AccessFormat(f"%({name})s").format(make(**fields))


@pytest.mark.usefixtures("utc")
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("h", "10.0.0.1"),
        ("l", "-"),
        ("u", "alice"),
        ("t", "[10/Oct/2000:13:55:37 +0000]"),
        ("r", "POST /a%20b?x=1 HTTP/1.0"),
        ("m", "POST"),
        ("U", "/a b"),
        ("q", "x=1"),
        ("H", "HTTP/1.0"),
        ("s", "201"),
        ("B", "1234"),
        ("b", "1234"),
        ("f", "http://ref/"),
        ("a", "agent/1"),
        ("T", "1"),
        ("M", "1500"),
        ("D", "1500001"),
        ("L", "1.500001"),
        ("p", "<4242>"),
        ("queue_ms", "2.500"),
        ("busy", "5"),
        ("idle", "1"),
        ("slot", "3"),
        ("rid", "rid-1"),
        ("bytes_in", "80"),
    ],
)
def test_every_atom_with_an_environ(record: Make, name: str, expected: str) -> None:
    fields = {
        "environ": ENVIRON,
        "request_line": "POST /a%20b?x=1 HTTP/1.0",
        "status": 201,
        "response_length": 1234,
        "duration": 1.500001,
        "queue_time": 0.0025,
        "busy_workers": 5,
        "idle_workers": 1,
    }
    assert atom(record, name, **fields) == expected


def test_atom_names_cover_the_documented_table() -> None:
    from workhorse.logs import access

    assert access.__doc__ is not None
    for name in ATOM_NAMES:
        assert f"\n    {name} " in access.__doc__


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("h", "192.0.2.7"),
        ("m", "GET"),
        ("U", "/raw%20path"),
        ("q", "b=1"),
        ("H", "HTTP/1.1"),
        ("f", "http://r/"),
        ("a", "ua"),
        ("u", "bob"),
    ],
)
def test_without_an_environ_the_record_fields_are_used(
    record: Make, name: str, expected: str
) -> None:
    headers = [
        ("REFERER", "http://r/"),
        ("USER-AGENT", "ua"),
        ("AUTHORIZATION", "Basic " + base64.b64encode(b"bob:pw").decode()),
    ]
    assert atom(record, name, path="/raw%20path", request_headers=headers) == expected


@pytest.mark.parametrize("name", ["f", "a", "u"])
def test_absent_headers_print_a_dash(record: Make, name: str) -> None:
    assert atom(record, name, environ={"REQUEST_METHOD": "GET"}) == "-"
    assert atom(record, name, request_headers=[]) == "-"


def test_empty_remote_address_prints_a_dash(record: Make) -> None:
    assert atom(record, "h", remote_addr="") == "-"


def test_empty_query_prints_empty_like_gunicorn(record: Make) -> None:
    assert atom(record, "q", query="") == ""


@pytest.mark.parametrize(
    ("length", "big_b", "small_b"),
    [(None, "0", "-"), (0, "0", "0"), (7, "7", "7")],
)
def test_response_length(record: Make, length: int | None, big_b: str, small_b: str) -> None:
    # Gunicorn prints b as "-" only when nothing was sent at all: its
    # response counter starts at 0, so an empty body prints "0".
    assert atom(record, "B", response_length=length) == big_b
    assert atom(record, "b", response_length=length) == small_b


@pytest.mark.parametrize(
    ("duration", "t", "m", "d", "el"),
    [
        (0.0, "0", "0", "0", "0.000000"),
        (0.0015, "0", "1", "1500", "0.001500"),
        (0.999999, "0", "999", "999999", "0.999999"),
        (2.0000004, "2", "2000", "2000000", "2.000000"),
        (61.25, "61", "61250", "61250000", "61.250000"),
    ],
)
def test_request_times(record: Make, duration: float, t: str, m: str, d: str, el: str) -> None:
    fmt = AccessFormat("%(T)s %(M)s %(D)s %(L)s")
    assert fmt.format(record(duration=duration)) == f"{t} {m} {d} {el}"


def test_time_uses_the_local_offset_and_the_end_of_the_response(record: Make) -> None:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "XST-02:30"  # a POSIX TZ, needs no tz database
    time.tzset()
    try:
        fmt = AccessFormat("%(t)s")
        assert fmt.format(record(duration=0.2)) == "[10/Oct/2000:16:25:36 +0230]"
        # the cached text is replaced when the second changes
        assert fmt.format(record(duration=3.0)) == "[10/Oct/2000:16:25:39 +0230]"
        assert fmt.format(record(duration=0.7)) == "[10/Oct/2000:16:25:36 +0230]"
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.mark.parametrize(
    ("header", "user"),
    [
        ("Basic " + base64.b64encode(b"alice:pw").decode(), "alice"),
        ("basic " + base64.b64encode(b"alice:pw:x").decode(), "alice"),
        ("BASIC  " + base64.b64encode(b"nocolon").decode() + " ", "nocolon"),
        ("Basic " + base64.b64encode(b":pw").decode(), None),
        ("Basic !!!not-base64", None),
        ("Basic " + base64.b64encode(b"\xff\xfe:pw").decode(), None),
        ("Basic", None),
        ("Bearer abc.def", None),
        ("", None),
    ],
)
def test_basic_auth_user(record: Make, header: str, user: str | None) -> None:
    assert (basic_auth_user(header) or None) == user
    environ = {"HTTP_AUTHORIZATION": header}
    assert atom(record, "u", environ=environ) == (user or "-")


def test_request_header_atoms_ignore_case_and_the_last_wins(record: Make) -> None:
    headers = [("X-BUSY", "1"), ("ACCEPT", "*/*"), ("x-busy", "3")]
    rec = record(request_headers=headers)
    assert AccessFormat("%({x-busy}i)s %({X-Busy}i)s %({accept}I)s").format(rec) == "3 3 */*"
    assert AccessFormat("%({x-missing}i)s").format(rec) == "-"


def test_a_header_appended_after_the_record_is_made_is_seen(record: Make) -> None:
    # A pre_request hook appends to the request's header list in place.
    rec = record(request_headers=[("HOST", "h")])
    rec.request_headers.append(("x-busy", "3"))
    assert AccessFormat("busy=%({x-busy}i)s").format(rec) == "busy=3"


def test_response_header_and_environ_atoms(record: Make) -> None:
    rec = record(
        response_headers=[("Content-Type", "text/html"), ("X-Trace", "t1")],
        environ={"REMOTE_ADDR": "10.1.1.1", "wsgi.url_scheme": "https", "Mixed_Case": "m"},
    )
    fmt = AccessFormat(
        "%({content-type}o)s %({X-TRACE}o)s %({nope}o)s "
        "%({remote_addr}e)s %({WSGI.URL_SCHEME}e)s %({mixed_case}e)s %({nope}e)s"
    )
    assert fmt.format(rec) == "text/html t1 - 10.1.1.1 https m -"


def test_unknown_atoms_print_a_dash(record: Make) -> None:
    assert AccessFormat("%(zz)s %({x}z)s %({}i)s").format(record()) == "- - -"


def test_double_quotes_are_escaped_in_string_atoms(record: Make) -> None:
    rec = record(
        request_line='GET /"x" HTTP/1.1',
        request_headers=[("USER-AGENT", 'a "quoted" agent'), ("X-Q", '"')],
    )
    line = AccessFormat('"%(r)s" "%(a)s" %({x-q}i)s').format(rec)
    assert line == r'"GET /\"x\" HTTP/1.1" "a \"quoted\" agent" \"'


@pytest.mark.parametrize("name", ["queue_ms", "busy", "idle"])
def test_unknown_scoreboard_values_print_a_dash(record: Make, name: str) -> None:
    assert atom(record, name) == "-"


def test_empty_request_id_prints_a_dash(record: Make) -> None:
    assert atom(record, "rid", request_id="") == "-"


@pytest.mark.usefixtures("utc")
def test_the_seed_format(record: Make) -> None:
    rec = record(
        remote_addr="127.0.0.1",
        request_line="GET /a?b=1 HTTP/1.1",
        status=200,
        response_length=12,
        request_headers=[("HOST", "localhost"), ("USER-AGENT", "curl/8.5.0")],
        duration=0.012345,
    )
    rec.request_headers.append(("x-busy", "3"))  # what the seed pre_request hook does
    line = AccessFormat(SEED_FORMAT).format(rec)
    assert line == (
        '127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /a?b=1 HTTP/1.1" 200 12 '
        '"-" "curl/8.5.0" rt=0.012345 busy=3'
    )


@pytest.mark.usefixtures("utc")
def test_the_default_format(record: Make) -> None:
    rec = record(environ=ENVIRON, request_line="POST /a%20b?x=1 HTTP/1.0", status=302)
    assert AccessFormat(DEFAULT_ACCESS_LOG_FORMAT).format(rec) == (
        '10.0.0.1 - alice [10/Oct/2000:13:55:36 +0000] "POST /a%20b?x=1 HTTP/1.0" 302 12 '
        '"http://ref/" "agent/1"'
    )


def test_format_keys_are_found_once_in_order() -> None:
    assert format_keys("%(h)s %% %(s)d %({x}i)s %(h)s %(D)06d") == ("h", "s", "{x}i", "D")


@pytest.mark.parametrize("bad", ["%(h)", "%(h)s %(", "%(h)z", "%(h)s %s %s"])
def test_a_malformed_format_is_rejected_at_parse_time(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid access log format"):
        AccessFormat(bad)


def test_numeric_conversions_work_on_numeric_atoms(record: Make) -> None:
    assert AccessFormat("%(D)08d %(B)d").format(record(duration=0.5)) == "00500000 12"


def test_only_the_formats_atoms_are_computed(record: Make) -> None:
    atoms = AccessFormat("%(s)s").atoms(record())
    assert dict.__contains__(atoms, "s")
    assert not dict.__contains__(atoms, "u")
    assert not dict.__contains__(atoms, "t")


def test_atoms_answer_like_gunicorns_full_mapping(record: Make) -> None:
    rec = record(
        environ={"REMOTE_ADDR": "10.0.0.9"},
        request_headers=[("X-Busy", "2")],
        response_headers=[("Content-Type", "a/b")],
    )
    atoms = AccessFormat("%(s)s").atoms(rec)
    # lookups outside the format still answer
    assert atoms["h"] == "10.0.0.9"
    assert atoms["{X-BUSY}i"] == "2"
    assert atoms["nope"] == "-"
    assert atoms.get("nope", "default") == "default"
    assert atoms.get("B") == 12
    assert "h" in atoms
    assert "{x-busy}i" in atoms
    assert "{nope}i" not in atoms
    # iterating yields every atom, with Gunicorn's lower-cased braced keys
    full = dict(atoms)
    assert set(ATOM_NAMES) <= set(full)
    assert full["{x-busy}i"] == "2"
    assert full["{content-type}o"] == "a/b"
    assert full["{remote_addr}e"] == "10.0.0.9"
    assert bool(AccessFormat("").atoms(rec))


def test_the_format_is_parsed_once_and_reused(record: Make) -> None:
    fmt = AccessFormat("%(s)s %(rid)s")
    records: Iterator[AccessRecord] = (record(status=s, request_id=str(s)) for s in (200, 404))
    assert [fmt.format(r) for r in records] == ["200 200", "404 404"]
