"""--paste: the ini file's app, Gunicorn's rules for the path, APP_MODULE, logging and globals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from workhorse.config import ConfigError, LoadedConfig
from workhorse.config import paste as pastedeploy
from workhorse.wsgi import paste as paste_loader

Load = Callable[..., LoadedConfig]
Write = Callable[[str, str], Path]

APP_INI = "[app:main]\nuse = call:pasteapp:make_app\n"
LOGGING_INI = APP_INI + (
    "[loggers]\nkeys = root\n[handlers]\nkeys = console\n[formatters]\nkeys = plain\n"
    "[logger_root]\nhandlers = console\n[handler_console]\nclass = StreamHandler\n"
    "args = (sys.stderr,)\nformatter = plain\n[formatter_plain]\nformat = %(message)s\n"
)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [("FOO=1", ("FOO", "1")), ("A=b=c", ("A", "b=c")), ("A\\=B=c\\=d", ("A=B", "c=d")),
     ("EMPTY=", ("EMPTY", ""))],
)  # fmt: skip
def test_global_variables_split_at_the_first_unescaped_equals(
    entry: str, expected: tuple[str, str]
) -> None:
    assert pastedeploy.split_global(entry) == expected


def test_a_global_variable_without_equals_is_refused(load: Load) -> None:
    with pytest.raises(ConfigError) as info:
        load(["--paste-global", "A\\=B"])
    assert "raw_paste_global_conf (--paste-global)" in info.value.message
    assert "is not KEY=VALUE" in info.value.message


@pytest.mark.parametrize(
    ("path", "name", "variables"),
    [("/srv/app.ini", "", {}), ("/srv/my app?.ini", "admin", {"A": "1&2", "B=": "#x"})],
)
def test_the_app_uri_round_trips(path: str, name: str, variables: dict[str, str]) -> None:
    # The config package writes it, the wsgi package's loader reads it.
    uri = pastedeploy.app_uri(path, name, variables)
    assert uri.startswith("config:/")
    assert paste_loader.parse_app_uri(uri) == (path, name, variables)


@pytest.mark.parametrize("uri", ["myapp:app", "config:app", "config.wsgi:application"])
def test_module_uris_are_not_paste_uris(uri: str) -> None:
    # "config:app" names the attribute app of a module called config.
    assert paste_loader.parse_app_uri(uri) is None


def test_paste_gives_the_app_uri_and_names_the_processes(
    load: Load, write: Write, tmp_path: Path
) -> None:
    write("app.ini", APP_INI)
    loaded = load(["--paste", "app.ini#admin", "--paste-global", "FOO=1", "ignored:app"])
    path = str(tmp_path / "app.ini")
    assert loaded.app_uri == pastedeploy.app_uri(path, "admin", {"FOO": "1"})
    assert loaded.config.default_proc_name == path
    assert loaded.config.logconfig is None  # no [loggers] section
    assert loaded.warnings == [
        f"APP_MODULE 'ignored:app' is ignored: the application comes from {path}"
    ]


def test_an_ini_with_loggers_is_the_logconfig_unless_one_is_given(
    load: Load, write: Write, tmp_path: Path
) -> None:
    write("app.ini", LOGGING_INI)
    write("other.ini", LOGGING_INI)
    assert load(["--paste", "app.ini"]).config.logconfig == str(tmp_path / "app.ini")
    given = load(["--paste", "app.ini", "--log-config", "other.ini"])
    assert given.config.logconfig == "other.ini"


def test_paste_from_the_config_file_works_too(load: Load, write: Write, tmp_path: Path) -> None:
    write("app.ini", APP_INI)
    write("gunicorn.conf.py", "paste = 'app.ini'\n")
    assert load().app_uri == pastedeploy.app_uri(str(tmp_path / "app.ini"), "", {})


def test_a_missing_ini_is_an_error_at_start(load: Load, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(["--paste", "nowhere.ini"])
    assert info.value.message == f"paste (--paste): {str(tmp_path / 'nowhere.ini')!r} not found"


def test_without_paste_deploy_the_error_says_how_to_install_it(
    load: Load, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    write("app.ini", APP_INI)
    monkeypatch.setattr(pastedeploy, "paste_deploy_missing", lambda: True)
    with pytest.raises(ConfigError) as info:
        load(["--paste", "app.ini"])
    assert "needs PasteDeploy, which is not installed" in info.value.message
    assert "pip install 'workhorse[paste]'" in info.value.message


def test_paste_deploy_is_installed_for_the_tests() -> None:
    assert not pastedeploy.paste_deploy_missing()


def test_both_sides_name_the_same_extra() -> None:
    assert paste_loader.INSTALL_HINT == pastedeploy.INSTALL_HINT
    assert paste_loader.SCHEME == pastedeploy.SCHEME
