"""Config: the combined dataclass, its derived properties, print_config, support levels."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from workhorse.config import (
    Config,
    ConfigError,
    LoadedConfig,
    Support,
    all_settings,
    iter_settings,
    print_config,
)
from workhorse.config.sections import SECTIONS

Load = Callable[..., LoadedConfig]
Write = Callable[[str, str], Path]

SETTINGS = {info.name: info for info in iter_settings(Config)}

ACCEPTED = {
    "http_parser",
    "worker_tmp_dir",
    "tmp_upload_dir",
    "protocol",
    "uwsgi_allow_ips",
    "ssl_version",
    "reload_engine",
    "spew",
    "http_protocols",
    "http2_cleartext",
    "http2_max_concurrent_streams",
    "http2_initial_window_size",
    "http2_max_frame_size",
    "http2_max_header_list_size",
    "dirty_apps",
    "dirty_workers",
    "dirty_timeout",
    "dirty_threads",
    "dirty_graceful_timeout",
    "on_dirty_starting",
    "dirty_post_fork",
    "dirty_worker_init",
    "dirty_worker_exit",
}


def test_config_is_a_plain_mutable_dataclass() -> None:
    config = Config()
    assert dataclasses.is_dataclass(config)
    config.workers = 4
    config.bind.append("unix:/tmp/x.sock")
    assert Config().bind == ["127.0.0.1:8000"]
    assert Config().workers == 1


def test_fields_follow_the_section_order() -> None:
    sections = [info.spec.section for info in iter_settings(Config)]
    ordered = list(dict.fromkeys(sections))
    expected = [next(iter_settings(section)).spec.section for section in SECTIONS]
    assert ordered == expected
    assert [info.name for info in all_settings()] == [info.name for info in iter_settings(Config)]


def test_every_setting_is_documented() -> None:
    for info in all_settings():
        assert info.spec.help.strip(), info.name
        assert "\n" not in info.spec.help, info.name
        assert info.spec.convert.accepts, info.name


def test_accepted_settings_and_their_notes() -> None:
    accepted = {name for name, info in SETTINGS.items() if info.spec.support is Support.ACCEPTED}
    assert accepted == ACCEPTED
    assert all(SETTINGS[name].spec.note for name in accepted)


def test_worker_tmp_dir_note_explains_the_shared_memory_heartbeat() -> None:
    assert "heartbeat lives in shared memory" in (SETTINGS["worker_tmp_dir"].spec.note or "")


def test_defaults_pass_their_own_converter() -> None:
    for info in all_settings():
        if info.spec.anchored:
            continue
        assert info.spec.convert(info.default_value()) == info.default_value(), info.name


@pytest.mark.parametrize(
    ("worker_class", "threads", "expected"),
    [
        ("sync", 1, "sync"),
        ("sync", 4, "gthread"),
        ("gthread", 1, "gthread"),
        ("gunicorn.workers.sync.SyncWorker", 1, "sync"),
        ("gunicorn.workers.sync.SyncWorker", 2, "gthread"),
        ("gunicorn.workers.gthread.ThreadWorker", 1, "gthread"),
        ("workhorse.workers.sync", 1, "sync"),
        ("workhorse.workers.gthread", 8, "gthread"),
        ("egg:gunicorn#sync", 1, "sync"),
    ],
)
def test_worker_class_name(worker_class: str, threads: int, expected: str) -> None:
    config = Config(worker_class=worker_class, threads=threads)
    assert config.worker_class_name == expected


@pytest.mark.parametrize("worker_class", ["eventlet", "tornado",
                                          "geventwebsocket.gunicorn.workers.GeventWebSocketWorker"])
def test_unsupported_worker_class(worker_class: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config(worker_class=worker_class).worker_class_name  # noqa: B018
    if "." in worker_class:
        assert info.value.message.startswith(f"worker_class: cannot import {worker_class!r}")
        return
    assert info.value.message == (
        f"worker_class: {worker_class!r} is not supported by workhorse; accepted: sync, "
        "gthread, asgi, gevent (and Gunicorn's and uvicorn's dotted names for them)"
    )


@pytest.mark.parametrize("worker_class", [
    "gevent", "gunicorn.workers.ggevent.GeventWorker", "egg:gunicorn#gevent",
    "workhorse.workers.gevent", "gevent_wsgi", "gevent_pywsgi", "egg:gunicorn#gevent_pywsgi",
    "gunicorn.workers.ggevent.GeventPyWSGIWorker"])
def test_gevent_worker_names(worker_class: str) -> None:
    from workhorse.config import worker_classes

    assert Config(worker_class=worker_class).worker_class_name == "gevent"
    pywsgi = worker_class in worker_classes.GEVENT_PYWSGI
    assert bool(worker_classes.alias_note(worker_class)) == pywsgi


def test_the_gevent_worker_refuses_an_old_gevent(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from workhorse.config import worker_classes

    old = tmp_path / "gevent-23.9.1.dist-info"  # found before the installed one
    old.mkdir()
    (old / "METADATA").write_text("Metadata-Version: 2.1\nName: gevent\nVersion: 23.9.1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    worker_classes._require_gevent.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"needs gevent 24\.10\.1 or later \(older ones "
                                              r"have known security flaws\); 23\.9\.1 is "
                                              r"installed \(pip install 'workhorse\[gevent\]'\)"):
            Config(worker_class="gevent").worker_class_name  # noqa: B018
    finally:
        worker_classes._require_gevent.cache_clear()


def test_the_gevent_worker_refuses_a_missing_gevent() -> None:
    import subprocess
    import sys

    src = Path(__file__).resolve().parents[3] / "src"
    # -S: no site-packages, so no gevent, as in an install without the extra.
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "from workhorse.config.settings import Config\n"
            "from workhorse.config.errors import ConfigError\n"
            "try:\n    Config(worker_class='gevent').worker_class_name\n"
            "except ConfigError as exc:\n    print(exc.message)\n")
    out = subprocess.run([sys.executable, "-S", "-c", code, str(src)], capture_output=True,
                         text=True, timeout=30)
    assert out.stdout.strip() == ("worker_class gevent needs gevent, which is not installed "
                                  "(pip install 'workhorse[gevent]')"), out.stderr


@pytest.mark.parametrize(("version", "numbers"), [
    ("24.10.1", (24, 10, 1)), ("25.4.2.post1", (25, 4, 2)), ("26.0rc1", (26, 0)),
    ("23.9.0", (23, 9, 0))])
def test_gevent_versions_compare_by_their_numbers(version: str,
                                                  numbers: tuple[int, ...]) -> None:
    from workhorse.config import worker_classes

    assert worker_classes._version_tuple(version) == numbers


@pytest.mark.parametrize("worker_class", [
    "asgi", "gunicorn.workers.gasgi.ASGIWorker", "uvicorn.workers.UvicornWorker",
    "uvicorn.workers.UvicornH11Worker", "uvicorn_worker.UvicornWorker",
    "uvicorn_worker.UvicornH11Worker"])
def test_asgi_worker_names(worker_class: str) -> None:
    assert Config(worker_class=worker_class).worker_class_name == "asgi"


def test_a_uvicorn_worker_subclass_is_the_asgi_worker_with_its_config_kwargs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workhorse.config import worker_classes

    (tmp_path / "myworkers.py").write_text(
        "from uvicorn_worker import UvicornWorker\n"
        "class Worker(UvicornWorker):\n"
        "    CONFIG_KWARGS = {'loop': 'asyncio', 'http': 'h11', 'lifespan': 'off'}\n"
        "class Other:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert Config(worker_class="myworkers.Worker").worker_class_name == "asgi"
    assert worker_classes.uvicorn_overrides("myworkers.Worker") == {
        "asgi_loop": "asyncio", "asgi_lifespan": "off"}
    assert "subclass of uvicorn's worker" in worker_classes.alias_note("myworkers.Worker")
    with pytest.raises(ConfigError, match=r"'myworkers\.Other' is not supported"):
        Config(worker_class="myworkers.Other").worker_class_name  # noqa: B018
    with pytest.raises(ConfigError, match=r"cannot import 'nowhere\.Worker'"):
        Config(worker_class="nowhere.Worker").worker_class_name  # noqa: B018


def test_unsupported_worker_class_fails_the_load(load: Load) -> None:
    with pytest.raises(ConfigError, match="'eventlet' is not supported by workhorse"):
        load(["-k", "eventlet"])


def test_proc_name_or_default() -> None:
    assert Config().proc_name_or_default == "workhorse"
    assert Config(proc_name="api").proc_name_or_default == "api"


def test_is_ssl_and_ssl_options() -> None:
    assert Config().is_ssl is False
    config = Config(certfile="/etc/cert.pem", keyfile="/etc/key.pem")
    assert config.is_ssl is True
    assert config.ssl_options == {
        "keyfile": "/etc/key.pem",
        "certfile": "/etc/cert.pem",
        "ssl_version": 2,
        "cert_reqs": 0,
        "ca_certs": None,
        "suppress_ragged_eofs": True,
        "do_handshake_on_connect": False,
        "ciphers": None,
    }


def test_env_vars() -> None:
    assert Config(raw_env=["A=1", "B=x=y", "C="]).env_vars == {"A": "1", "B": "x=y", "C": ""}


def test_print_config_format(load: Load) -> None:
    text = print_config(load(["-w", "3"]).config)
    lines = text.splitlines()
    names = [line.split(" = ", 1)[0].rstrip() for line in lines]
    assert names == sorted(SETTINGS)
    assert len({line.index(" = ") for line in lines}) == 1
    assert "workers                            = 3" in lines
    assert "on_starting                        = <on_starting()>" in lines
    assert "bind                               = ['127.0.0.1:8000']" in lines


def test_print_config_flag_is_a_setting(load: Load) -> None:
    assert load(["--print-config"]).config.print_config is True
    assert load(["--check-config"]).config.check_config is True


def test_accepted_setting_at_its_default_is_silent(load: Load) -> None:
    assert load().warnings == []


def test_accepted_setting_warns_once(load: Load, write: Write) -> None:
    write("gunicorn.conf.py", "worker_tmp_dir = '/dev/shm'\nspew = True\n")
    loaded = load(["--worker-tmp-dir", "/tmp", "--spew"], {"GUNICORN_CMD_ARGS": "--spew"})
    assert loaded.warnings == [
        "worker_tmp_dir: accepted for Gunicorn compatibility but not implemented by workhorse:"
        " not needed: workhorse's worker heartbeat lives in shared memory, not in a temporary"
        " file, so there is no directory to choose",
        "spew: accepted for Gunicorn compatibility but not implemented by workhorse:"
        " line tracing is not implemented; use a debugger or faulthandler",
    ]


def test_accepted_hook_warns_when_set(load: Load, write: Write) -> None:
    write("gunicorn.conf.py", "def on_dirty_starting(arbiter):\n    pass\n")
    (warning,) = load().warnings
    assert warning.startswith("on_dirty_starting: accepted for Gunicorn compatibility")


@pytest.mark.parametrize(
    "argv",
    [
        ["--http-parser", "python"],
        ["--reload-engine", "poll"],
        ["--logger-class", "simple"],
        ["--http-protocols", "h1"],
        ["--protocol", "http"],
        ["--ssl-version", "TLS"],
    ],
)
def test_honoured_values_of_accepted_settings_are_silent(load: Load, argv: list[str]) -> None:
    assert load(argv).warnings == []


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["--http-parser", "fast"], "http_parser"),
        (["--reload-engine", "inotify"], "reload_engine"),
        (["--http-protocols", "h2,h1"], "http_protocols"),
        (["--protocol", "uwsgi"], "protocol"),
    ],
)
def test_other_values_of_accepted_settings_warn(load: Load, argv: list[str], name: str) -> None:
    (warning,) = load(argv).warnings
    assert warning.startswith(f"{name}: accepted for Gunicorn compatibility but not implemented")


def test_label_names_setting_and_flags() -> None:
    assert SETTINGS["workers"].label == "workers (-w/--workers)"
    assert SETTINGS["errorlog"].label == "errorlog (--error-logfile/--log-file)"
    assert SETTINGS["secure_scheme_headers"].label == "secure_scheme_headers"


def test_derived_values_hooks_read_are_gunicorns() -> None:
    from gunicorn.config import Config as GunicornConfig

    values = {
        "bind": ["127.0.0.1:8001", "unix:/tmp/app.sock", "[::1]:8002"],
        "raw_env": ["A=1", "B=2=3"],
        "worker_class": "gthread",
        "user": os.geteuid(),
        "group": os.getegid(),
    }
    theirs = GunicornConfig()
    ours = Config()
    for name, value in values.items():
        theirs.set(name, value)
        setattr(ours, name, value)
    for name in ("address", "uid", "gid", "env", "worker_class_str"):
        assert getattr(ours, name) == getattr(theirs, name), name
