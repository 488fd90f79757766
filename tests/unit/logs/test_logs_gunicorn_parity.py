"""Side by side with Gunicorn's own atom formatting (skipped without gunicorn).

Gunicorn is in the ``bench`` extras, not the test ones; run with it
installed (or on PYTHONPATH) to check that every atom prints the same.
"""

from __future__ import annotations

import base64
import datetime
import os
import types
from collections.abc import Callable
from typing import Any

import pytest

from workhorse.logs import AccessFormat, AccessRecord

glogging: Any = pytest.importorskip("gunicorn.glogging")

ATOMS = ["h", "l", "u", "r", "s", "m", "U", "q", "H", "B", "b", "f", "a", "T", "M", "D", "L", "p"]
BRACED = "{x-busy}i {X-THING}o {content-type}o {REMOTE_ADDR}e {wsgi.url_scheme}e {nope}i {nope}e"
FORMAT = " ".join(f"%({key})s" for key in [*ATOMS, *BRACED.split(), "zz"])

BASE = {
    "REQUEST_METHOD": "GET",
    "RAW_URI": "/a%20b?x=1",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "PATH_INFO": "/a b",
    "QUERY_STRING": "x=1",
    "REMOTE_ADDR": "10.0.0.1",
    "HTTP_USER_AGENT": 'ua "q"',
    "HTTP_REFERER": "http://r/",
    "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"user:pass").decode(),
    "wsgi.url_scheme": "http",
}


def variant(**changes: str | None) -> dict[str, Any]:
    environ = dict(BASE)
    for key, value in changes.items():
        if value is None:
            del environ[key]
        else:
            environ[key] = value
    return environ


CASES = [
    (
        BASE,
        [("USER-AGENT", "ua"), ("X-Busy", "3"), ("x-busy", "4")],
        [("X-Thing", 'a"b')],
        12,
        12345,
    ),
    (
        variant(HTTP_USER_AGENT=None, HTTP_REFERER=None, HTTP_AUTHORIZATION="Bearer x"),
        [],
        [],
        0,
        1_500_001,
    ),
    (variant(HTTP_AUTHORIZATION="Basic !!!"), [], [("Content-Type", "a/b")], 0, 0),
    (variant(HTTP_AUTHORIZATION="basic Om5vdXNlcg==", QUERY_STRING=""), [], [], 5, 999_999),
]


class _Cfg:
    loglevel = "info"
    errorlog = "-"
    accesslog = None
    capture_output = False
    syslog = False
    logconfig = None
    logconfig_dict: dict[str, Any] = {}
    logconfig_json = None
    disable_redirect_access_to_syslog = False
    access_log_format = FORMAT
    user = os.getuid()
    group = os.getgid()


@pytest.mark.parametrize(("environ", "req_headers", "resp_headers", "sent", "micros"), CASES)
def test_every_atom_prints_what_gunicorn_prints(
    record: Callable[..., AccessRecord],
    environ: dict[str, Any],
    req_headers: list[tuple[str, str]],
    resp_headers: list[tuple[str, str]],
    sent: int,
    micros: int,
) -> None:
    gunicorn_log = glogging.Logger(_Cfg())
    resp = types.SimpleNamespace(status="200 OK", sent=sent, headers=resp_headers)
    req = types.SimpleNamespace(headers=req_headers)
    took = datetime.timedelta(microseconds=micros)
    theirs = FORMAT % glogging.SafeAtoms(gunicorn_log.atoms(resp, req, environ, took))
    rec = record(
        request_line=f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} HTTP/1.1",
        status=200,
        response_length=sent,
        request_headers=req_headers,
        response_headers=resp_headers,
        environ=environ,
        duration=micros / 1e6,
        pid=os.getpid(),
    )
    assert AccessFormat(FORMAT).format(rec) == theirs
