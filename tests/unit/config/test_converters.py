"""Converters: strings from the command line and Python values from config files.

Every rejection must say what is accepted, so each bad-value test checks the
"expected ..." phrase, not just the exception type.
"""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path
from typing import Any

import pytest

from workhorse.config import converters as c


def rejects(converter: c.Converter[Any], value: Any) -> str:
    with pytest.raises((ValueError, TypeError)) as info:
        converter(value)
    message = str(info.value)
    assert message.startswith(f"expected {converter.accepts}")
    return message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("FALSE", False),
        (" yes ", True),
        ("no", False),
        ("on", True),
        ("off", False),
        ("1", True),
        ("0", False),
        (1, True),
        (0, False),
        (None, False),
    ],
)
def test_boolean_accepts(raw: Any, expected: bool) -> None:
    assert c.boolean(raw) is expected


@pytest.mark.parametrize("raw", ["maybe", "", 2, 1.0, [True]])
def test_boolean_rejects(raw: Any) -> None:
    message = rejects(c.boolean, raw)
    assert "true/false, 1/0, yes/no or on/off" in message


def test_sendfile_flag_none_means_unset_which_is_on() -> None:
    assert c.sendfile_flag(None) is True
    assert c.sendfile_flag(False) is False


@pytest.mark.parametrize(
    ("text", "expected"), [("y", True), ("YES", True), ("1", True), ("true", True)]
)
def test_sendfile_env_enables(text: str, expected: bool) -> None:
    assert c.sendfile_from_env(text) is expected


@pytest.mark.parametrize("text", ["0", "no", "off", "", "n"])
def test_sendfile_env_anything_else_disables(text: str) -> None:
    assert c.sendfile_from_env(text) is False


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("4", 4),
        (" 12 ", 12),
        ("010", 10),
        ("0x10", 16),
        ("0o17", 15),
        ("0b11", 3),
        (7, 7),
        (3.0, 3),
    ],
)
def test_non_negative_int_accepts(raw: Any, expected: int) -> None:
    assert c.non_negative_int(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "-1", -1, "", "1.5", 2.5, None, [1]])
def test_non_negative_int_rejects(raw: Any) -> None:
    assert "a non-negative integer" in rejects(c.non_negative_int, raw)


@pytest.mark.parametrize(("raw", "expected"), [(True, 1), (False, 0)])
def test_ints_take_bools_as_gunicorn_does(raw: bool, expected: int) -> None:
    assert c.non_negative_int(raw) == expected
    assert c.seconds(raw) == expected


def test_int_rejection_says_what_was_given() -> None:
    assert rejects(c.user, True).endswith("; got a bool")
    assert rejects(c.non_negative_int, [1]).endswith("; got list")
    assert "2.5 is not a whole number" in rejects(c.non_negative_int, 2.5)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("022", 0o22),
        ("0o022", 0o22),
        ("0022", 0o22),
        ("0", 0),
        ("18", 18),
        ("0x1ff", 0o777),
        (0o600, 384),
    ],
)
def test_file_mode_reads_leading_zero_as_octal(raw: Any, expected: int) -> None:
    assert c.file_mode(raw) == expected


@pytest.mark.parametrize("raw", ["08", "rwx", "-022"])
def test_file_mode_rejects(raw: Any) -> None:
    assert "octal" in rejects(c.file_mode, raw)


def test_bounded_int() -> None:
    frame = c.bounded_int(16384, 16777215)
    assert frame("16384") == 16384
    assert "an integer from 16384 to 16777215" in rejects(frame, "100")


@pytest.mark.parametrize(
    ("raw", "expected"), [("30", 30), ("2.5", 2.5), (0, 0), (1.25, 1.25), (" 0.5 ", 0.5)]
)
def test_seconds_accepts_ints_and_fractions(raw: Any, expected: float) -> None:
    assert c.seconds(raw) == expected


def test_seconds_from_integer_text_stays_an_int() -> None:
    assert isinstance(c.seconds("30"), int)


@pytest.mark.parametrize("raw", ["-1", -0.5, "soon", "inf", "nan", "0x", None])
def test_seconds_rejects(raw: Any) -> None:
    assert "a non-negative number of seconds" in rejects(c.seconds, raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("512M", 512 * 1024**2),
        ("512m", 512 * 1024**2),
        ("2G", 2 * 1024**3),
        ("64K", 64 * 1024),
        ("1000", 1000),
        (" 10 M ", 10 * 1024**2),
        (4096, 4096),
        ("0", 0),
    ],
)
def test_byte_size_accepts(raw: Any, expected: int) -> None:
    assert c.byte_size(raw) == expected


@pytest.mark.parametrize("raw", ["512T", "M", "-1", "1.5G", -5, "lots"])
def test_byte_size_rejects(raw: Any) -> None:
    assert "K, M or G suffix" in rejects(c.byte_size, raw)


def test_string_strips_and_rejects_non_strings() -> None:
    assert c.string("  info ") == "info"
    assert rejects(c.string, 5) == "expected a string; got int"


def test_optional_string() -> None:
    assert c.optional_string(None) is None
    assert c.optional_string(" x ") == "x"
    rejects(c.optional_string, 1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a", ["a"]),
        (["a", " b "], ["a", "b"]),
        (("a",), ["a"]),
        ([], []),
        (None, []),
        ("", []),
    ],
)
def test_string_list(raw: Any, expected: list[str]) -> None:
    assert c.string_list(raw) == expected


@pytest.mark.parametrize("raw", [5, ["a", 1], {"a"}])
def test_string_list_rejects(raw: Any) -> None:
    assert "a list of strings" in rejects(c.string_list, raw)


def test_warmup_paths_accepts_paths_and_urls() -> None:
    assert c.warmup_paths("/admin/login/?next=/") == ["/admin/login/?next=/"]
    assert c.warmup_paths(["/", "https://example.com:8443/x"]) == [
        "/", "https://example.com:8443/x"]


@pytest.mark.parametrize("raw", ["admin/", "/a b", "ftp://example.com/", "http:///x",
                                 "http://example.com:99999/", [5]])
def test_warmup_paths_rejects(raw: Any) -> None:
    rejects(c.warmup_paths, raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SCRIPT_NAME,PATH_INFO", ["SCRIPT_NAME", "PATH_INFO"]),
        (" a , b ,, ", ["a", "b"]),
        (["x", "y"], ["x", "y"]),
        ("", []),
        (None, []),
    ],
)
def test_comma_list(raw: Any, expected: list[str]) -> None:
    assert c.comma_list(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("127.0.0.1,::1", ["127.0.0.1", "::1"]),
        ("10.0.0.0/8, 192.168.1.7", ["10.0.0.0/8", "192.168.1.7"]),
        ("*", ["*"]),
        (["fd00::/8"], ["fd00::/8"]),
    ],
)
def test_address_list_accepts(raw: Any, expected: list[str]) -> None:
    assert c.address_list(raw) == expected


@pytest.mark.parametrize(
    ("raw", "culprit"),
    [
        ("127.0.0.1,localhost", "'localhost'"),
        ("192.168.1.1/24", "'192.168.1.1/24'"),
        ("300.1.1.1", "'300.1.1.1'"),
    ],
)
def test_address_list_rejects_naming_the_entry(raw: str, culprit: str) -> None:
    message = rejects(c.address_list, raw)
    assert "IP addresses and CIDR networks" in message
    assert "or * for any" in message
    assert culprit in message


def test_dictionaries() -> None:
    assert c.dictionary({"version": 1}) == {"version": 1}
    assert c.string_dict({"X-A": "on"}) == {"X-A": "on"}
    assert "a dict" in rejects(c.dictionary, "version=1")
    assert "a dict of strings to strings" in rejects(c.string_dict, {1: "on"})


def test_a_header_value_that_is_not_a_string_is_dropped_with_advice() -> None:
    # Gunicorn accepts it but compares it with the header's text: it never matches.
    headers = {"X-A": "on", "X-B": 1}
    assert c.string_dict(headers) == {"X-A": "on"}
    assert "{'X-B': 1}" in (c.string_dict.advice(headers) or "")
    assert c.string_dict.advice({"X-A": "on"}) is None


def test_env_assignments() -> None:
    assert c.env_assignments(["A=1", "B=x=y", "C="]) == ["A=1", "B=x=y", "C="]
    assert c.env_assignments("A=1") == ["A=1"]
    message = rejects(c.env_assignments, ["A=1", "NOEQUALS"])
    assert "KEY=VALUE" in message and "'NOEQUALS'" in message
    rejects(c.env_assignments, ["=value"])


def test_choice_is_case_insensitive_and_lists_the_values() -> None:
    level = c.choice("debug", "info", "warning", "error", "critical")
    assert level(" WARNING ") == "warning"
    assert rejects(level, "verbose") == "expected one of: debug, info, warning, error, critical"


def test_choice_aliases() -> None:
    mode = c.choice("off", "on", aliases={"false": "off"})
    assert mode("False") == "off"


def test_header_name() -> None:
    assert c.header_name("X-Request-ID") == "X-Request-ID"
    assert c.header_name("") is None
    assert c.header_name(None) is None
    assert "not allowed in a header name" in rejects(c.header_name, "X Request")


def test_user_and_group_by_name_id_and_default() -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    my_group = grp.getgrgid(os.getegid()).gr_name
    assert c.user(me) == os.geteuid()
    assert c.user("1234") == 1234
    assert c.user(1234) == 1234
    assert c.user(None) == os.geteuid()
    assert c.group(my_group) == os.getegid()
    assert c.group(None) == os.getegid()


def test_user_and_group_reject_unknown_names() -> None:
    assert "no such user: 'no-such-user-xyz'" in rejects(c.user, "no-such-user-xyz")
    assert "a user name or a numeric uid" in rejects(c.user, -1)
    assert rejects(c.group, "no-such-group-xyz") == (
        "expected a group name or a numeric gid; no such group: 'no-such-group-xyz'"
    )


def test_directory(tmp_path: Path) -> None:
    assert c.directory(str(tmp_path / "." / "")) == str(tmp_path)
    assert "does not exist" in rejects(c.directory, str(tmp_path / "missing"))
    (tmp_path / "file").write_text("")
    assert "is not a directory" in rejects(c.directory, str(tmp_path / "file"))


def test_files_or_patterns(tmp_path: Path) -> None:
    existing = tmp_path / "settings.toml"
    existing.write_text("")
    pattern = str(tmp_path / "templates" / "**" / "*.html")
    assert c.files_or_patterns([str(existing), pattern]) == [str(existing), pattern]
    assert "does not exist" in rejects(c.files_or_patterns, str(tmp_path / "nope.txt"))


class Custom:
    pass


def test_class_path() -> None:
    assert c.class_path("sync") == "sync"
    assert c.class_path(Custom) == f"{__name__}.Custom"
    assert c.class_path(lambda: Custom) == f"{__name__}.Custom"
    rejects(c.class_path, "")
    rejects(c.class_path, 3)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("off", "off"),
        ("V1", "v1"),
        ("v2", "v2"),
        ("auto", "auto"),
        ("true", "auto"),
        ("false", "off"),
        ("1", "auto"),
        ("none", "off"),
        (True, "auto"),
        (False, "off"),
        (None, "off"),
    ],
)
def test_proxy_protocol(raw: Any, expected: str) -> None:
    assert c.proxy_protocol(raw) == expected


def test_proxy_protocol_rejects() -> None:
    assert "off, v1, v2, auto" in rejects(c.proxy_protocol, "v3")


def test_http2_cleartext() -> None:
    assert c.http2_cleartext(True) == "prior-knowledge"
    assert c.http2_cleartext("Both") == "both"
    assert "prior-knowledge" in rejects(c.http2_cleartext, "yes")


def test_http_protocols() -> None:
    assert c.http_protocols("h2, h1") == ["h2", "h1"]
    assert c.http_protocols("") == ["h1"]
    assert "unknown protocol 'spdy'" in rejects(c.http_protocols, "h1,spdy")
    assert "listed twice" in rejects(c.http_protocols, "h1,h1")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(0, 0), ("2", 2), ("CERT_REQUIRED", 2), ("cert_optional", 1), ("none", 0)],
)
def test_cert_reqs(raw: Any, expected: int) -> None:
    assert c.cert_reqs(raw) == expected


@pytest.mark.parametrize("raw", [3, "CERT_MAYBE", -1])
def test_cert_reqs_rejects(raw: Any) -> None:
    assert "CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED" in rejects(c.cert_reqs, raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(2, 2), ("TLS", 2), ("SSLv23", 2), ("TLSv1_2", 5), ("PROTOCOL_TLS_SERVER", 17)],
)
def test_ssl_version(raw: Any, expected: int) -> None:
    assert c.ssl_version(raw) == expected


@pytest.mark.parametrize("raw", ["TLSv9", 99, None, True, [1]])
def test_ssl_version_keeps_the_default_for_what_it_cannot_read(raw: Any) -> None:
    # Gunicorn stores any value and ignores it; the setting is deprecated.
    assert c.ssl_version(raw) == c.DEFAULT_SSL_VERSION
    assert (c.ssl_version.advice(raw) is None) is (raw is None)


def test_converter_repr_names_what_it_accepts() -> None:
    assert repr(c.string) == "Converter('a string')"


# -- Gunicorn's spellings and limits -----------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("warn", "warning"), ("FATAL", "critical"), ("WARNING", "warning"), (" debug ", "debug")],
)
def test_log_level_spellings(raw: str, expected: str) -> None:
    assert c.log_level(raw) == expected
    assert c.log_level.advice(raw) is None


@pytest.mark.parametrize("raw", ["trace", "", "verbose"])
def test_an_unknown_log_level_is_kept_with_advice(raw: str) -> None:
    # Gunicorn runs at info for a word it does not know; the logger does the same.
    assert c.log_level(raw) == raw
    assert "logging at info" in (c.log_level.advice(raw) or "")


@pytest.mark.parametrize(
    ("raw", "expected", "advised"),
    [("http", "http", False), ("UWSGI", "uwsgi", False), (None, "http", False),
     ("h2", "http", True)],
)  # fmt: skip
def test_protocol_is_uwsgi_or_http(raw: Any, expected: str, advised: bool) -> None:
    assert c.protocol(raw) == expected
    assert (c.protocol.advice(raw) is not None) is advised


def test_none_stands_for_a_default_where_gunicorn_accepts_it() -> None:
    assert c.string_or("-", "stderr")(None) == "-"
    assert c.string_or("-", "stderr")(" x ") == "x"
    assert c.choice("drop", "refuse", none="drop")(None) == "drop"
    assert "one of: drop, refuse" in rejects(c.choice("drop", "refuse"), None)


@pytest.mark.parametrize("raw", [None, "", False, 0, [], ()])
def test_any_false_value_is_an_empty_list(raw: Any) -> None:
    assert c.string_list(raw) == []
    assert c.env_assignments(raw) == []


def test_worker_class_drops_one_leading_hash_as_gunicorn() -> None:
    assert c.worker_class_path("#gthread") == "gthread"
    assert c.worker_class_path("##gthread") == "#gthread"


def test_seconds_read_base_prefixes_as_gunicorn() -> None:
    assert c.seconds("0x1e") == 30
    assert c.seconds("0o17") == 15


@pytest.mark.parametrize(
    ("raw", "expected", "advised"),
    [(0, 0, False), (8189, 8189, False), (8190, 8190, False), (8191, 8190, True),
     ("100000", 8190, True)],
)  # fmt: skip
def test_request_line_limit_is_capped_at_8190(raw: Any, expected: int, advised: bool) -> None:
    assert c.request_line_limit(raw) == expected
    assert (c.request_line_limit.advice(raw) is not None) is advised


@pytest.mark.parametrize(
    ("raw", "expected", "advised"),
    [(0, 32768, False), (1, 1, False), (32767, 32767, False), (32768, 32768, False),
     (32769, 32768, True)],
)  # fmt: skip
def test_header_count_limit_0_and_above_32768_mean_32768(
    raw: Any, expected: int, advised: bool
) -> None:
    assert c.header_count_limit(raw) == expected
    assert (c.header_count_limit.advice(raw) is not None) is advised


@pytest.mark.parametrize(("raw", "expected"), [(0, 8190), (1, 1), (8190, 8190), (100000, 100000)])
def test_header_field_size_limit_0_means_8190(raw: Any, expected: int) -> None:
    assert c.header_field_size_limit(raw) == expected


@pytest.mark.parametrize(
    "converter", [c.request_line_limit, c.header_count_limit, c.header_field_size_limit]
)
def test_limits_still_refuse_negative_numbers(converter: c.Converter[Any]) -> None:
    assert "a non-negative integer" in rejects(converter, -1)
