"""What Gunicorn 27 accepts, workhorse accepts: each converter against Gunicorn's validator.

Gunicorn (installed by the test extra) is the control. Every probe value is
given to Gunicorn's validator for a setting and to our converter for it. A
value Gunicorn's validator takes must be taken here too, unless it is in
``REFUSED_ON_PURPOSE`` with the reason: there, Gunicorn takes the value but
cannot run with it (it fails at start, or the value is a mistake Gunicorn
only survives because nothing uses it), and refusing it at load, with an
error that names the setting, is the better answer.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import pytest
from gunicorn import config as gunicorn_config

from workhorse.config import Config, iter_settings

SETTINGS = {info.name: info for info in iter_settings(Config)}
GUNICORN = {setting.name: setting for setting in gunicorn_config.KNOWN_SETTINGS}

PROBES: list[Any] = [
    None, True, False, 0, 1, -1, 2.0, 2.5, "", " ", "0", "1", "010", "0x10", "1_000", "+3",
    "2.5", "true", "TRUE", "yes", "warn", "fatal", "trace", "WARNING", "foo", "#gthread",
    "AUTO", "h3", "3", [], ["a"], {}, {"X": 1}, "a,b", "*", "unix:8125", "fd://3", "tcp://h:1",
    "-1", "0600", "022", "http", "uwsgi", "HTTP", "drop", "Drop", "auto", "off", "v1",
]  # fmt: skip

_NOT_ADDRESS = "Gunicorn stores it, then fails to bind at start (exit 1)"
_NOT_ENV = "Gunicorn stores it, then exits 1 at start: 'environment setting ... invalid'"
_NOT_PASTE_GLOBAL = (
    "not KEY=VALUE: Gunicorn stores it and fails with 'environment setting ... invalid'"
    " when --paste loads the app (without --paste the setting is unused)"
)
_NO_CLASS = "Gunicorn stores it, then exits 1 at start: class uri invalid or not found"
_NOT_A_USER = (
    "a bool or -1 is not an account: Gunicorn switches to uid/gid 1 or 0 for a bool"
    " and its worker fails to boot for -1"
)
_DICT_AS_LIST = "Gunicorn iterates a dict's keys as the list; certainly a mistake"

#: (setting, probe) -> why workhorse refuses at load what Gunicorn's validator takes.
REFUSED_ON_PURPOSE: dict[tuple[str, Any], str] = {
    **{("bind", v): _NOT_ADDRESS for v in ("+3", "#gthread", "a,b", "*")},
    ("bind", repr({"X": 1})): _DICT_AS_LIST,
    ("config", None): "-c needs a path; in a config file 'config' has no effect (a warning)",
    **{("worker_class", v): _NO_CLASS for v in (None, "", " ")},
    **{("logger_class", v): _NO_CLASS for v in (None, "", " ")},
    ("loglevel", None): "Gunicorn stores it, then fails at start (None.lower())",
    **{(name, v): _NOT_A_USER for name in ("user", "group") for v in (True, False, -1)},
    **{
        ("cert_reqs", v): "above 2 (CERT_REQUIRED): Gunicorn runs only while TLS is off,"
        " since ssl refuses the value once it is used"
        for v in ("0x10", "1_000", "+3", "3")
    },
    **{
        ("statsd_host", v): "not a host name: Gunicorn runs but no metric can be delivered"
        for v in ("+3", "#gthread", "a,b", "*")
    },
    ("statsd_host", "fd://3"): "not yet: a StatsD client on an inherited descriptor"
    " needs workhorse.logs.statsd (listed in docs/compatibility.md)",
    **{(name, repr({"X": 1})): _DICT_AS_LIST for name in ("raw_paste_global_conf", "dirty_apps")},
}


def _assignments_refusal(name: str, value: Any) -> str | None:
    """raw_env and raw_paste_global_conf entries must be KEY=VALUE."""
    if name not in ("raw_env", "raw_paste_global_conf"):
        return None
    entries = [value] if isinstance(value, str) else value
    if isinstance(entries, list) and all("=" in str(item) for item in entries):
        return None
    return _NOT_ENV if name == "raw_env" else _NOT_PASTE_GLOBAL


def _key(value: Any) -> Any:
    return repr(value) if isinstance(value, (dict, list)) else value


def gunicorn_accepts(name: str, value: Any) -> bool:
    with contextlib.redirect_stderr(io.StringIO()):  # ssl_version prints a deprecation
        try:
            GUNICORN[name].validator(value)
        except Exception:
            return False
    return True


def workhorse_accepts(name: str, value: Any) -> bool:
    try:
        SETTINGS[name].spec.convert(value)
    except (TypeError, ValueError):
        return False
    return True


def test_every_gunicorn_27_setting_is_a_workhorse_setting() -> None:
    assert sorted(set(GUNICORN) - set(SETTINGS)) == []


@pytest.mark.parametrize("name", sorted(set(GUNICORN) - {"chdir"}))
def test_what_gunicorn_runs_with_is_accepted(name: str) -> None:
    # chdir is checked against the file system; test_precedence covers it.
    refused = {
        _key(value): reason
        for value in PROBES
        if gunicorn_accepts(name, value) and not workhorse_accepts(name, value)
        for reason in [
            REFUSED_ON_PURPOSE.get((name, _key(value)))
            or _assignments_refusal(name, value)
        ]
        if reason is None
    }
    assert refused == {}


def test_every_refusal_on_purpose_is_still_a_refusal() -> None:
    stale = [
        (name, value)
        for name, value in REFUSED_ON_PURPOSE
        if workhorse_accepts(name, next(v for v in PROBES if _key(v) == value))
    ]
    assert stale == []
