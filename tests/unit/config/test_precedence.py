"""Precedence: defaults < env vars < config file < GUNICORN_CMD_ARGS < WORKHORSE_CMD_ARGS < CLI."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from workhorse.config import ConfigError, LoadedConfig, load_config

Load = Callable[..., LoadedConfig]
Write = Callable[[str, str], Path]


def test_defaults(load: Load, tmp_path: Path) -> None:
    loaded = load()
    config = loaded.config
    assert config.workers == 1
    assert config.bind == ["127.0.0.1:8000"]
    assert config.forwarded_allow_ips == ["127.0.0.1", "::1"]
    assert config.chdir == str(tmp_path)
    assert config.control_socket == str(tmp_path / "workhorse.ctl")
    assert config.user == os.geteuid()
    assert config.group == os.getegid()
    assert config.sendfile is True
    assert config.default_proc_name == "workhorse"
    assert set(loaded.sources.values()) == {"default"}
    assert loaded.warnings == []
    assert loaded.app_uri is None


def test_port_sets_the_default_bind(load: Load) -> None:
    loaded = load(environ={"PORT": "5000"})
    assert loaded.config.bind == ["0.0.0.0:5000"]
    assert loaded.sources["bind"] == "env:PORT"


def test_web_concurrency_sets_the_default_workers(load: Load) -> None:
    loaded = load(environ={"WEB_CONCURRENCY": "6"})
    assert loaded.config.workers == 6
    assert loaded.sources["workers"] == "env:WEB_CONCURRENCY"


def test_forwarded_allow_ips_env(load: Load) -> None:
    loaded = load(environ={"FORWARDED_ALLOW_IPS": "10.0.0.0/8,*"})
    assert loaded.config.forwarded_allow_ips == ["10.0.0.0/8", "*"]
    assert loaded.sources["forwarded_allow_ips"] == "env:FORWARDED_ALLOW_IPS"


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("yes", True), ("0", False), ("off", False)]
)
def test_sendfile_env(load: Load, value: str, expected: bool) -> None:
    assert load(environ={"SENDFILE": value}).config.sendfile is expected


def test_no_sendfile_flag_beats_the_env(load: Load) -> None:
    assert load(["--no-sendfile"], {"SENDFILE": "1"}).config.sendfile is False


def test_bad_env_value_names_the_setting_and_the_variable(load: Load) -> None:
    with pytest.raises(ConfigError) as info:
        load(environ={"WEB_CONCURRENCY": "many"})
    assert info.value.message == (
        "Invalid value for workers (-w/--workers): 'many': expected a non-negative integer"
        " (from env:WEB_CONCURRENCY)"
    )


def test_bad_port_shows_the_variables_value(load: Load) -> None:
    with pytest.raises(ConfigError, match=r"bind \(-b/--bind\): 'http'.*port 'http'"):
        load(environ={"PORT": "http"})


def test_config_file_beats_env(load: Load, write: Write) -> None:
    path = write("gunicorn.conf.py", "workers = 3\nbind = '127.0.0.1:9000'\n")
    loaded = load(environ={"WEB_CONCURRENCY": "6", "PORT": "5000"})
    assert loaded.config.workers == 3
    assert loaded.config.bind == ["127.0.0.1:9000"]
    assert loaded.sources["workers"] == f"file:{path}"


def test_gunicorn_cmd_args_beat_the_config_file(load: Load, write: Write) -> None:
    write("gunicorn.conf.py", "workers = 3\ntimeout = 10\n")
    loaded = load(environ={"GUNICORN_CMD_ARGS": "-w 4"})
    assert loaded.config.workers == 4
    assert loaded.config.timeout == 10
    assert loaded.sources["workers"] == "GUNICORN_CMD_ARGS"


def test_workhorse_cmd_args_beat_gunicorn_cmd_args(load: Load) -> None:
    environ = {
        "GUNICORN_CMD_ARGS": "-w 4 --timeout 5",
        "WORKHORSE_CMD_ARGS": "-w 5 --boot-timeout 9",
    }
    loaded = load(environ=environ)
    assert (loaded.config.workers, loaded.config.timeout, loaded.config.boot_timeout) == (5, 5, 9)
    assert loaded.sources["workers"] == "WORKHORSE_CMD_ARGS"
    assert loaded.sources["timeout"] == "GUNICORN_CMD_ARGS"


def test_command_line_beats_everything(load: Load, write: Write) -> None:
    write("gunicorn.conf.py", "workers = 3\n")
    environ = {
        "WEB_CONCURRENCY": "2",
        "GUNICORN_CMD_ARGS": "-w 4",
        "WORKHORSE_CMD_ARGS": "-w 5",
    }
    loaded = load(["-w", "7"], environ)
    assert loaded.config.workers == 7
    assert loaded.sources["workers"] == "command line"


def test_lists_are_replaced_not_merged(load: Load, write: Write) -> None:
    write("gunicorn.conf.py", "bind = ['127.0.0.1:9000', 'unix:/tmp/a.sock']\n")
    loaded = load(["-b", "127.0.0.1:1", "-b", "[::1]:2"])
    assert loaded.config.bind == ["127.0.0.1:1", "[::1]:2"]


def test_cmd_args_are_split_like_a_shell(load: Load) -> None:
    fmt = '%(h)s "%(r)s"'
    loaded = load(environ={"GUNICORN_CMD_ARGS": f"--access-logformat '{fmt}' --log-level debug"})
    assert loaded.config.access_log_format == fmt
    assert loaded.config.loglevel == "debug"


def test_unbalanced_quotes_in_cmd_args(load: Load) -> None:
    with pytest.raises(ConfigError, match="GUNICORN_CMD_ARGS: cannot split"):
        load(environ={"GUNICORN_CMD_ARGS": "--name 'oops"})


def test_positional_arguments_in_cmd_args_are_ignored_with_a_warning(load: Load) -> None:
    loaded = load(environ={"GUNICORN_CMD_ARGS": "app:app"})
    assert loaded.app_uri is None
    assert loaded.warnings == ["GUNICORN_CMD_ARGS: positional arguments are ignored: app:app"]


def test_app_module_argument(load: Load) -> None:
    loaded = load(["-w", "2", "myapp.wsgi:application"])
    assert loaded.app_uri == "myapp.wsgi:application"
    assert loaded.config.default_proc_name == "myapp.wsgi:application"
    assert loaded.config.proc_name_or_default == "myapp.wsgi:application"


def test_wsgi_app_setting_is_the_fallback(load: Load, write: Write) -> None:
    write("gunicorn.conf.py", "wsgi_app = 'site.wsgi:app'\n")
    assert load().app_uri == "site.wsgi:app"
    assert load(["other:app"]).app_uri == "other:app"


def test_extra_positional_arguments_warn(load: Load) -> None:
    loaded = load(["a:app", "b:app"])
    assert loaded.app_uri == "a:app"
    assert loaded.warnings == ["extra arguments are ignored: b:app"]


def test_relative_chdir_is_taken_from_the_start_directory(load: Load, tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    assert load(["--chdir", "site"]).config.chdir == str(tmp_path / "site")


def test_missing_chdir(load: Load, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(["--chdir", "nowhere"])
    assert info.value.message == (
        f"Invalid value for chdir (--chdir): {str(tmp_path / 'nowhere')!r}:"
        f" expected an existing directory; {str(tmp_path / 'nowhere')!r} does not exist"
    )


def test_control_socket_relative_and_absolute(load: Load, tmp_path: Path) -> None:
    assert load(["--control-socket", "run/ctl"]).config.control_socket == str(tmp_path / "run/ctl")
    assert load(["--control-socket", "/run/w.ctl"]).config.control_socket == "/run/w.ctl"


def test_umask_octal_from_the_command_line(load: Load) -> None:
    assert load(["-m", "027"]).config.umask == 0o27
    assert load(["--control-socket-mode", "0660"]).config.control_socket_mode == 0o660


def test_proxy_protocol_bare_flag_means_auto(load: Load) -> None:
    assert load(["--proxy-protocol"]).config.proxy_protocol == "auto"
    assert load(["--proxy-protocol", "v2"]).config.proxy_protocol == "v2"
    assert load().config.proxy_protocol == "off"


def test_log_file_is_an_alias_of_error_logfile(load: Load) -> None:
    assert load(["--log-file", "/var/log/w.log"]).config.errorlog == "/var/log/w.log"
    assert load(["--error-logfile", "-"]).config.errorlog == "-"


def test_store_true_flags(load: Load) -> None:
    config = load(["-D", "--preload", "--reuse-port", "--initgroups"]).config
    assert (config.daemon, config.preload_app, config.reuse_port, config.initgroups) == (
        True,
        True,
        True,
        True,
    )


def test_no_timeout_stack_dump(load: Load) -> None:
    assert load().config.timeout_stack_dump is True
    assert load(["--no-timeout-stack-dump"]).config.timeout_stack_dump is False


def test_new_settings_from_the_command_line(load: Load) -> None:
    config = load(
        [
            "--boot-timeout",
            "90",
            "--boot-backoff-max",
            "15.5",
            "--max-worker-memory",
            "512M",
            "--limit-request-body",
            "10M",
            "--metrics-bind",
            "127.0.0.1:9101",
            "--header-timeout",
            "5",
            "--body-timeout",
            "7",
            "--send-timeout",
            "11",
            "--request-id-header",
            "X-Trace",
        ]
    ).config
    assert config.boot_timeout == 90
    assert config.boot_backoff_max == 15.5
    assert config.max_worker_memory == 512 * 1024**2
    assert config.limit_request_body == 10 * 1024**2
    assert config.metrics_bind == "127.0.0.1:9101"
    assert (config.header_timeout, config.body_timeout, config.send_timeout) == (5, 7, 11)
    assert config.request_id_header == "X-Trace"


def test_timeouts_accept_fractions(load: Load) -> None:
    config = load(["-t", "2.5", "--graceful-timeout", "0.5", "--keep-alive", "1.5"]).config
    assert (config.timeout, config.graceful_timeout, config.keepalive) == (2.5, 0.5, 1.5)


def test_raw_env(load: Load) -> None:
    config = load(["-e", "A=1", "-e", "B=two=2"]).config
    assert config.env_vars == {"A": "1", "B": "two=2"}


def test_raw_env_without_equals(load: Load) -> None:
    with pytest.raises(ConfigError) as info:
        load(["-e", "A=1", "-e", "BROKEN"])
    assert info.value.message.startswith("Invalid value for raw_env (-e/--env): ['A=1', 'BROKEN']")
    assert "'BROKEN' is not KEY=VALUE" in info.value.message


def test_loading_changes_nothing_in_the_process(load: Load, write: Write, tmp_path: Path) -> None:
    import sys

    write("gunicorn.conf.py", "import os\nworkers = 2\n")
    cwd, path, environ = os.getcwd(), list(sys.path), dict(os.environ)
    load(["--chdir", str(tmp_path), "-e", "X=1"])
    assert (os.getcwd(), sys.path, dict(os.environ)) == (cwd, path, environ)


def test_start_directory_keeps_a_symlinked_pwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "releases" / "42"
    real.mkdir(parents=True)
    link = tmp_path / "current"
    link.symlink_to(real)
    monkeypatch.chdir(real)
    loaded = load_config([], {"PWD": str(link)})
    assert loaded.config.chdir == str(link)
    assert load_config([], {"PWD": str(tmp_path)}).config.chdir == str(real)
    assert load_config([], {}).config.chdir == str(real)
