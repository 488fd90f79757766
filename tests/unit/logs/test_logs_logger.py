"""The Logger: outputs, levels, setup errors, user logging configs, syslog."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workhorse.config.settings import Config
from workhorse.logs import AccessRecord, Logger, LogSetupError
from workhorse.logs.handlers import parse_syslog_address

SEED_FORMAT = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" rt=%(L)s busy=%({x-busy}i)s'
)
ERROR_LINE = re.compile(
    r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[(\d+)\] \[([A-Z]+)\] (.*)$"
)

Settings = Callable[..., Any]
Make = Callable[..., AccessRecord]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_settings_dataclass_satisfies_the_protocol(settings: Settings) -> None:
    cfg: Config = settings()
    assert cfg.errorlog == "-"


def test_error_log_line_format_in_a_file(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "error.log"
    log = Logger(settings(errorlog=str(path)))
    log.info("Booting worker with pid: %s", 77)
    log.close()
    [line] = lines(path)
    match = ERROR_LINE.match(line)
    assert match is not None, line
    assert match.groups() == (str(os.getpid()), "INFO", "Booting worker with pid: 77")


def test_levels_and_every_method(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "error.log"
    log = Logger(settings(errorlog=str(path), loglevel="WARNING"))
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    log.critical("c")
    log.log("error", "by name")
    log.log(logging.CRITICAL, "by number")
    log.log("nonsense", "unknown names mean info: filtered out")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("caught")
    log.close()
    text = path.read_text()
    found = [m.group(2, 3) for m in map(ERROR_LINE.match, text.splitlines()) if m]
    assert found == [
        ("WARNING", "w"),
        ("ERROR", "e"),
        ("CRITICAL", "c"),
        ("ERROR", "by name"),
        ("CRITICAL", "by number"),
        ("ERROR", "caught"),
    ]
    assert "RuntimeError: boom" in text


def test_loglevel_debug(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "error.log"
    log = Logger(settings(errorlog=str(path), loglevel="debug"))
    log.debug("shown")
    log.close()
    assert "[DEBUG] shown" in path.read_text()


def test_dash_means_stderr_and_stdout(
    settings: Settings, record: Make, capsys: pytest.CaptureFixture[str]
) -> None:
    log = Logger(settings(errorlog="-", accesslog="-", access_log_format="%(s)s %(r)s"))
    log.info("to stderr")
    log.access(record())
    log.close()
    out, err = capsys.readouterr()
    assert out == "200 GET /a?b=1 HTTP/1.1\n"
    assert err.endswith("[INFO] to stderr\n")


def test_access_log_file_with_the_seed_format(
    settings: Settings, record: Make, tmp_path: Path
) -> None:
    path = tmp_path / "access.log"
    log = Logger(settings(accesslog=str(path), access_log_format=SEED_FORMAT))
    assert log.access_log_enabled
    rec = record(remote_addr="127.0.0.1", request_headers=[("USER-AGENT", "curl/8")])
    rec.request_headers.append(("x-busy", "3"))
    log.access(rec)
    log.close()
    [line] = lines(path)
    assert line.startswith("127.0.0.1 - - [")
    assert line.endswith('"GET /a?b=1 HTTP/1.1" 200 12 "-" "curl/8" rt=0.000000 busy=3')


def test_access_log_appends(settings: Settings, record: Make, tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text("existing line\n")
    log = Logger(settings(accesslog=str(path), access_log_format="%(s)s"))
    log.access(record())
    log.close()
    assert lines(path) == ["existing line", "200"]


def test_no_access_log_is_a_no_op(
    settings: Settings, record: Make, capsys: pytest.CaptureFixture[str]
) -> None:
    log = Logger(settings(accesslog=None))
    assert not log.access_log_enabled
    assert logging.getLogger("gunicorn.access").handlers == []
    log.access(record())
    log.close()
    assert capsys.readouterr() == ("", "")


def test_a_logging_config_turns_the_access_log_on_like_gunicorn(
    settings: Settings, record: Make, tmp_path: Path
) -> None:
    path = tmp_path / "from-dict.log"
    config = {
        "root": {"handlers": []},
        "handlers": {"f": {"class": "logging.FileHandler", "filename": str(path)}},
        "loggers": {"gunicorn.access": {"handlers": ["f"], "level": "INFO"}},
    }
    log = Logger(settings(accesslog=None, logconfig_dict=config, access_log_format="%(s)s"))
    assert log.access_log_enabled
    log.access(record())
    log.close()
    assert lines(path) == ["200"]


def test_logconfig_dict_reconfigures_gunicorns_loggers(
    settings: Settings, record: Make, tmp_path: Path
) -> None:
    errors, access = tmp_path / "e.log", tmp_path / "a.log"
    config = {
        "formatters": {
            "generic": {"format": "E %(levelname)s %(message)s"},
            "plain": {"format": "A %(message)s"},
        },
        "handlers": {
            "errors": {
                "class": "logging.FileHandler",
                "filename": str(errors),
                "formatter": "generic",
            },
            "access": {
                "class": "logging.FileHandler",
                "filename": str(access),
                "formatter": "plain",
            },
        },
        "loggers": {
            "gunicorn.error": {"handlers": ["errors"], "level": "DEBUG", "propagate": False},
            "gunicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
        "root": {"level": "WARNING", "handlers": []},
    }
    stray = tmp_path / "our-own.log"
    log = Logger(
        settings(
            errorlog=str(stray), accesslog="-", logconfig_dict=config, access_log_format="%(s)s"
        )
    )
    log.debug("dbg")
    log.access(record(status=404))
    log.close()
    assert lines(errors) == ["E DEBUG dbg"]
    assert lines(access) == ["A 404"]
    assert lines(stray) == []


def test_logconfig_dict_is_merged_over_gunicorns_defaults(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    # No "loggers" key: the default loggers and their handlers stay, and
    # the user's formatter replaces the default "generic" one by name.
    config = {"formatters": {"generic": {"format": "CUSTOM %(message)s"}}}
    log = Logger(settings(logconfig_dict=config))
    log.warning("hello")
    log.close()
    assert "CUSTOM hello\n" in capsys.readouterr().err


def test_merging_is_top_level_only_like_gunicorn(settings: Settings, tmp_path: Path) -> None:
    # Replacing "handlers" drops the default "console" handler that the
    # default root logger refers to: Gunicorn fails on this dict too.
    config = {
        "handlers": {"f": {"class": "logging.FileHandler", "filename": str(tmp_path / "f")}},
        "loggers": {"gunicorn.error": {"handlers": ["f"]}},
    }
    with pytest.raises(LogSetupError, match=r"root logger.*'console'"):
        Logger(settings(logconfig_dict=config))


def test_logconfig_dict_errors_name_the_setting(settings: Settings) -> None:
    config = {"handlers": {"h": {"class": "no.such.Handler"}}}
    with pytest.raises(LogSetupError, match=r"^logconfig_dict: ") as info:
        Logger(settings(logconfig_dict=config))
    assert info.value.setting == "logconfig_dict"
    assert "Cannot resolve 'no.such.Handler'" in info.value.reason


def test_logconfig_json(settings: Settings, tmp_path: Path) -> None:
    target = tmp_path / "j.log"
    config = {
        "version": 1,
        "root": {"handlers": ["f"]},
        "handlers": {"f": {"class": "logging.FileHandler", "filename": str(target)}},
        "loggers": {"gunicorn.error": {"handlers": ["f"], "level": "INFO", "propagate": False}},
    }
    path = tmp_path / "log.json"
    path.write_text(json.dumps(config))
    log = Logger(settings(logconfig_json=str(path)))
    log.info("via json")
    log.close()
    assert lines(target) == ["via json"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "No such file"), ("{not json", "not valid JSON"), ("[1, 2]", "JSON object")],
)
def test_logconfig_json_errors(
    settings: Settings, tmp_path: Path, content: str | None, reason: str
) -> None:
    path = tmp_path / "log.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(LogSetupError, match=reason) as info:
        Logger(settings(logconfig_json=str(path)))
    assert info.value.setting == "logconfig_json"
    assert info.value.path == str(path)


def test_logconfig_ini_with_here(settings: Settings, tmp_path: Path) -> None:
    ini = tmp_path / "logging.ini"
    ini.write_text(
        "[loggers]\nkeys=root,error\n\n"
        "[handlers]\nkeys=file\n\n"
        "[formatters]\nkeys=plain\n\n"
        "[logger_root]\nlevel=WARNING\nhandlers=\n\n"
        "[logger_error]\nlevel=INFO\nhandlers=file\nqualname=gunicorn.error\npropagate=0\n\n"
        "[handler_file]\nclass=FileHandler\nformatter=plain\n"
        "args=('%(here)s/ini.log', 'a')\n\n"
        "[formatter_plain]\nformat=INI %(message)s\n"
    )
    log = Logger(settings(logconfig=str(ini)))
    log.info("via ini")
    log.close()
    assert lines(tmp_path / "ini.log") == ["INI via ini"]


def test_logconfig_ini_errors(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(LogSetupError, match="file not found"):
        Logger(settings(logconfig=str(tmp_path / "missing.ini")))
    bad = tmp_path / "bad.ini"
    bad.write_text("[loggers]\nkeys=root\n")
    with pytest.raises(LogSetupError, match=r"^logconfig ") as info:
        Logger(settings(logconfig=str(bad)))
    assert info.value.path == str(bad)


def test_missing_directory_is_a_clear_setup_error(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "nope" / "error.log"
    with pytest.raises(LogSetupError) as info:
        Logger(settings(errorlog=str(path)))
    error = info.value
    assert (error.setting, error.path) == ("errorlog", str(path))
    assert "No such file or directory" in error.reason
    assert "does not exist" in error.reason
    assert str(path) in str(error)
    assert not (tmp_path / "nope").exists()  # we do not create it


def test_a_directory_as_access_log_is_a_setup_error(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(LogSetupError, match="Is a directory") as info:
        Logger(settings(accesslog=str(tmp_path)))
    assert info.value.setting == "accesslog"


def test_a_malformed_access_format_is_a_setup_error(settings: Settings) -> None:
    with pytest.raises(LogSetupError, match=r"^access_log_format: "):
        Logger(settings(accesslog="-", access_log_format="%(h)s %(oops"))


def test_setup_again_does_not_stack_handlers(
    settings: Settings, record: Make, tmp_path: Path
) -> None:
    first, second = tmp_path / "1.log", tmp_path / "2.log"
    cfg = settings(errorlog=str(first), accesslog=str(first), access_log_format="%(s)s")
    log = Logger(cfg)
    log.setup(cfg)
    log.setup(settings(errorlog=str(second), accesslog=str(second), access_log_format="%(m)s"))
    assert len(logging.getLogger("gunicorn.error").handlers) == 1
    assert len(logging.getLogger("gunicorn.access").handlers) == 1
    log.info("after reload")
    log.access(record())
    log.close()
    assert lines(first) == []
    assert lines(second)[1] == "GET"
    assert lines(second)[0].endswith("after reload")


def test_a_failed_reload_keeps_the_old_logs(
    settings: Settings, record: Make, tmp_path: Path
) -> None:
    good = tmp_path / "good.log"
    log = Logger(settings(errorlog=str(good), accesslog=str(good), access_log_format="%(s)s"))
    with pytest.raises(LogSetupError):
        log.setup(settings(errorlog=str(tmp_path / "missing" / "e.log")))
    log.info("still here")
    log.access(record())
    log.close()
    assert lines(good)[0].endswith("still here")
    assert lines(good)[1] == "200"


def test_formatters_can_read_atoms_from_record_args(
    settings: Settings, record: Make, tmp_path: Path
) -> None:
    seen: list[tuple[object, object, object]] = []

    class JsonishFilter(logging.Filter):
        def filter(self, rec: logging.LogRecord) -> bool:
            args: Any = rec.args
            seen.append((args["h"], args["s"], args.get("{x-busy}i")))
            return True

    log = Logger(settings(accesslog=str(tmp_path / "a.log"), access_log_format="%(r)s"))
    handler = logging.getLogger("gunicorn.access").handlers[0]
    handler.addFilter(JsonishFilter())
    log.access(record(request_headers=[("x-busy", "3")]))
    log.close()
    assert seen == [("192.0.2.7", "200", "3")]


def streams(*names: str) -> list[Any]:
    return [
        handler.stream
        for name in names
        for handler in logging.getLogger(name).handlers
        if isinstance(handler, logging.StreamHandler)
    ]


def test_fileno_of_error_log_and_close_on_exec(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "e.log"
    log = Logger(settings(errorlog=str(path), accesslog=str(tmp_path / "a.log")))
    fd = log.fileno_of_error_log()
    assert fd is not None
    assert os.path.samefile(f"/proc/self/fd/{fd}", path)
    for stream in streams("gunicorn.access"):
        fcntl.fcntl(stream.fileno(), fcntl.F_SETFD, 0)
    log.close_on_exec()
    for stream in streams("gunicorn.error", "gunicorn.access"):
        assert fcntl.fcntl(stream.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    log.close()


def test_fileno_of_a_stderr_error_log(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open(tmp_path / "stderr", "w") as fake_stderr:
        monkeypatch.setattr(sys, "stderr", fake_stderr)
        log = Logger(settings(errorlog="-"))
        assert log.fileno_of_error_log() == fake_stderr.fileno()
        log.close()


@pytest.mark.parametrize(
    ("addr", "expected"),
    [
        ("udp://localhost:514", (socket.SOCK_DGRAM, ("localhost", 514))),
        ("udp://Example.COM", (socket.SOCK_DGRAM, ("example.com", 514))),
        ("udp://", (socket.SOCK_DGRAM, ("localhost", 514))),
        ("tcp://10.0.0.1:1514", (socket.SOCK_STREAM, ("10.0.0.1", 1514))),
        ("udp://[::1]:5140", (socket.SOCK_DGRAM, ("::1", 5140))),
        ("udp://[FE80::1]", (socket.SOCK_DGRAM, ("fe80::1", 514))),
        ("unix:///dev/log", (None, "/dev/log")),
        ("unix:///dev/log#dgram", (socket.SOCK_DGRAM, "/dev/log")),
        ("unix:///dev/log#stream", (socket.SOCK_STREAM, "/dev/log")),
    ],
)
def test_syslog_addresses(addr: str, expected: tuple[object, object]) -> None:
    assert parse_syslog_address(addr) == expected


@pytest.mark.parametrize(
    "addr", ["localhost:514", "udp://host:port", "udp://[::1", "unix:///x#seqpacket"]
)
def test_bad_syslog_addresses(settings: Settings, addr: str) -> None:
    with pytest.raises(LogSetupError, match=r"^syslog_addr "):
        Logger(settings(syslog=True, syslog_addr=addr))


def test_bad_syslog_facility(settings: Settings) -> None:
    with pytest.raises(LogSetupError, match="unknown facility 'nope'"):
        Logger(settings(syslog=True, syslog_facility="nope"))


def test_syslog_over_udp(settings: Settings, record: Make) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)
        port = server.getsockname()[1]
        cfg = settings(
            syslog=True,
            syslog_addr=f"udp://127.0.0.1:{port}",
            syslog_facility="local3",
            proc_name="myapp:app",
            accesslog=None,
            access_log_format="%(s)s %(r)s",
        )
        log = Logger(cfg)
        assert log.access_log_enabled  # syslog takes the access log too
        log.error("to syslog")
        log.access(record())
        log.close()
        error, access = server.recv(4096).decode(), server.recv(4096).decode()
    pid = os.getpid()
    local3_err = 19 * 8 + 3
    local3_info = 19 * 8 + 6
    assert error == f"<{local3_err}>gunicorn.myapp.app.error: [{pid}] to syslog\x00"
    assert (
        access == f"<{local3_info}>gunicorn.myapp.app.access: [{pid}] 200 GET /a?b=1 HTTP/1.1\x00"
    )


def test_syslog_over_a_unix_socket_without_the_access_log(
    settings: Settings, record: Make, tmp_path: Path
) -> None:
    path = str(tmp_path / "log.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(5)
        cfg = settings(
            syslog=True,
            syslog_addr=f"unix://{path}#dgram",
            syslog_prefix="svc",
            disable_redirect_access_to_syslog=True,
            accesslog=None,
        )
        log = Logger(cfg)
        assert not log.access_log_enabled
        log.warning("hi")
        log.access(record())
        log.close()
        assert server.recv(4096).decode().endswith(f"gunicorn.svc.error: [{os.getpid()}] hi\x00")
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.recv(4096)


def test_syslog_down_at_start_does_not_stop_the_server(
    settings: Settings, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # Like C's openlog(), a unix syslog socket that is not there yet is not
    # an error: records are dropped, and that is said once.
    log = Logger(settings(syslog=True, syslog_addr=f"unix://{tmp_path}/none.sock"))
    log.error("lost 1")
    log.error("lost 2")
    log.close()
    err = capfd.readouterr().err
    assert err.count("cannot write to the log syslog") == 1


def test_the_direct_access_line_is_the_one_logging_writes(
    settings: Settings, record: Make, tmp_path: Path
) -> None:
    # Our own plain handler alone: lines skip the LogRecord. A filter added
    # later sends them through logging again. Both must write the same line.
    path = tmp_path / "access.log"
    log = Logger(settings(accesslog=str(path), access_log_format=SEED_FORMAT))
    rec = record(request_headers=[("USER-AGENT", "curl/8"), ("x-busy", "2")])
    log.access(rec)
    seen: list[logging.LogRecord] = []

    class Count(logging.Filter):
        def filter(self, r: logging.LogRecord) -> bool:
            seen.append(r)
            return True

    logging.getLogger("gunicorn.access").addFilter(counter := Count())
    try:
        log.access(rec)
    finally:
        logging.getLogger("gunicorn.access").removeFilter(counter)
    log.close()
    direct, through_logging = lines(path)
    assert len(seen) == 1
    assert direct == through_logging
    assert direct.endswith('"curl/8" rt=0.000000 busy=2')


def test_a_handler_added_at_run_time_gets_every_access_line(
    settings: Settings, record: Make, tmp_path: Path
) -> None:
    # An app (say Django's LOGGING) may attach its own handler to
    # gunicorn.access after the server set it up.
    path = tmp_path / "access.log"
    log = Logger(settings(accesslog=str(path), access_log_format="%(s)s %(U)s"))
    got: list[str] = []

    class Collect(logging.Handler):
        def emit(self, r: logging.LogRecord) -> None:
            got.append(r.getMessage())

    extra = Collect()
    access_logger = logging.getLogger("gunicorn.access")
    access_logger.addHandler(extra)
    try:
        log.access(record())
    finally:
        access_logger.removeHandler(extra)
    log.access(record())
    log.close()
    assert got == ["200 /a"]
    assert lines(path) == ["200 /a", "200 /a"]


def test_syslog_tag_without_prefix_is_the_application_as_in_gunicorn(settings: Settings) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)
        cfg = settings(syslog=True, syslog_addr=f"udp://127.0.0.1:{server.getsockname()[1]}",
                       default_proc_name="site.wsgi:application", accesslog=None)
        log = Logger(cfg)
        log.error("tagged")
        log.close()
        assert "gunicorn.site.wsgi.application.error: " in server.recv(4096).decode()


def test_errorlog_none_writes_only_warnings_and_errors_to_stderr(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    log = Logger(settings(errorlog=""))  # what None converts to
    log.info("routine")
    log.warning("worth seeing")
    log.error("broken")
    log.close()
    err = capsys.readouterr().err
    assert "routine" not in err
    assert "[WARNING] worth seeing" in err and "[ERROR] broken" in err
