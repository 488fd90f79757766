"""The command-line parser derived from the registry, and its usage errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from workhorse import __version__
from workhorse.config import Config, ConfigError, LoadedConfig, iter_settings, make_cli_parser

Load = Callable[..., LoadedConfig]


def test_unknown_flag_is_a_usage_error(load: Load) -> None:
    with pytest.raises(ConfigError) as info:
        load(["--foo", "app:app"])
    error = info.value
    assert error.message == "unrecognized arguments: --foo"
    assert error.exit_code == 2
    assert error.render() == (
        "usage: workhorse [OPTIONS] [APP_MODULE]\nworkhorse: error: unrecognized arguments: --foo\n"
    )


def test_unknown_flag_in_cmd_args_names_the_variable(load: Load) -> None:
    for var in ("GUNICORN_CMD_ARGS", "WORKHORSE_CMD_ARGS"):
        with pytest.raises(ConfigError) as info:
            load(environ={var: "--bogus 1"})
        assert info.value.message == f"unrecognized arguments: --bogus (in {var})"
        assert info.value.exit_code == 2


def test_missing_flag_value_is_a_usage_error(load: Load) -> None:
    with pytest.raises(ConfigError) as info:
        load(["--workers"])
    assert info.value.message == "argument -w/--workers: expected one argument"
    assert info.value.exit_code == 2


def test_bad_value_is_a_config_error_naming_setting_flags_value_and_accepted(load: Load) -> None:
    with pytest.raises(ConfigError) as info:
        load(["-w", "abc"])
    error = info.value
    assert error.message == (
        "Invalid value for workers (-w/--workers): 'abc': expected a non-negative integer"
    )
    assert error.exit_code == 1
    assert error.render() == f"Error: {error.message}\n"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--header-map", "keep"], "one of: drop, refuse, dangerous"),
        (["--reload-engine", "fsevents"], "one of: auto, poll, inotify"),
        (["--proxy-protocol", "v3"], "off, v1, v2, auto"),
        (["--cert-reqs", "maybe"], "CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED"),
        (["-b", "localhost:http"], "HOST:PORT"),
        (["--forwarded-allow-ips", "10.0.0.1/8"], "CIDR networks"),
        (["--max-worker-memory", "lots"], "K, M or G suffix"),
        (["--timeout", "-3"], "a non-negative number of seconds"),
        (["--daemon", "--preload", "--access-logfile"], "expected one argument"),
    ],
)
def test_errors_name_the_accepted_values(load: Load, argv: list[str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(argv)
    assert expected in info.value.message


def test_abbreviated_long_flags_work_as_in_gunicorn(load: Load) -> None:
    assert load(["--grace", "3"]).config.graceful_timeout == 3


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        make_cli_parser().parse_args(["-v"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"workhorse (version {__version__})\n"


def test_help_groups_options_by_section_with_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        make_cli_parser().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith("usage: workhorse [OPTIONS] [APP_MODULE]")
    for section in ("Server Socket:", "Worker Processes:", "Security:", "Control:"):
        assert section in text
    assert "-w INT, --workers INT Number of worker processes. [1, or $WEB_CONCURRENCY" in text
    assert "--boot-timeout SECONDS" in text
    assert "--proxy-protocol [MODE]" in text


def test_every_flag_is_in_the_parser() -> None:
    parser = make_cli_parser()
    known = set(parser._option_string_actions)
    flags = {flag for info in iter_settings(Config) for flag in info.spec.flags}
    assert flags <= known


def test_parser_leaves_unset_options_out() -> None:
    namespace = make_cli_parser().parse_args(["-w", "2", "app:app"])
    assert vars(namespace) == {"workers": "2", "args": ["app:app"]}
