"""Config files: -c forms, discovery, errors with line numbers, typo warnings."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from workhorse.config import ConfigError, LoadedConfig

Load = Callable[..., LoadedConfig]
Write = Callable[[str, str], Path]

SEED = """\
from multiprocessing import Semaphore
accesslog = "-"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" rt=%(L)s busy=%({x-busy}i)s'
busy = Semaphore(0)
def pre_request(worker, req):
    busy.release()
    req.headers.append(("x-busy", str(busy.get_value())))
def post_request(worker, req, environ, resp):
    busy.acquire()
"""  # noqa: E501 (the seed config, verbatim)


class FakeRequest:
    def __init__(self) -> None:
        self.headers: list[tuple[str, str]] = []


def test_seed_config_loads_unchanged(load: Load, write: Write) -> None:
    path = write("gunicorn.conf.py", SEED)
    loaded = load()
    config = loaded.config
    assert loaded.warnings == []
    assert config.accesslog == "-"
    assert config.access_log_format.endswith("rt=%(L)s busy=%({x-busy}i)s")
    assert loaded.sources["pre_request"] == f"file:{path}"
    assert loaded.sources["post_request"] == f"file:{path}"
    assert config.config == str(path)
    request = FakeRequest()
    config.pre_request(None, request)
    assert request.headers == [("x-busy", "1")]
    config.post_request(None, request, {}, None)
    config.pre_request(None, request)
    assert request.headers[-1] == ("x-busy", "1")


def test_c_path_relative_to_the_start_directory(load: Load, write: Write) -> None:
    path = write("conf/prod.py", "workers = 5\n")
    loaded = load(["-c", "conf/prod.py"])
    assert loaded.config.workers == 5
    assert loaded.config.config == str(path)
    assert loaded.sources["config"] == "command line"
    assert loaded.sources["workers"] == f"file:{path}"


def test_c_file_prefix(load: Load, write: Write) -> None:
    write("prod.py", "workers = 6\n")
    assert load(["-c", "file:prod.py"]).config.workers == 6


def test_c_python_module(load: Load, write: Write, clean_modules: None) -> None:
    write("wh_test_settings_mod.py", "workers = 8\n")
    loaded = load(["-c", "python:wh_test_settings_mod"])
    assert loaded.config.workers == 8
    assert loaded.sources["workers"] == "python:wh_test_settings_mod"
    assert loaded.config.config == "python:wh_test_settings_mod"


def test_c_python_module_not_found(load: Load) -> None:
    with pytest.raises(ConfigError, match="config module 'wh_no_such_mod' not found"):
        load(["-c", "python:wh_no_such_mod"])


def test_c_python_module_error_has_its_line(load: Load, write: Write, clean_modules: None) -> None:
    write("wh_test_broken_mod.py", "workers = 2\n\nraise RuntimeError('boom')\n")
    with pytest.raises(ConfigError) as info:
        load(["-c", "python:wh_test_broken_mod"])
    assert info.value.message == (
        "error in config module 'wh_test_broken_mod', line 3: RuntimeError: boom"
    )


def test_c_from_gunicorn_cmd_args(load: Load, write: Write) -> None:
    write("from_env.py", "workers = 9\n")
    loaded = load(environ={"GUNICORN_CMD_ARGS": "-c from_env.py"})
    assert loaded.config.workers == 9
    assert loaded.sources["config"] == "GUNICORN_CMD_ARGS"


def test_c_precedence_cli_then_workhorse_then_gunicorn(load: Load, write: Write) -> None:
    write("a.py", "workers = 1\n")
    write("b.py", "workers = 2\n")
    write("c.py", "workers = 3\n")
    environ = {"GUNICORN_CMD_ARGS": "-c a.py", "WORKHORSE_CMD_ARGS": "-c b.py"}
    assert load(environ=environ).config.workers == 2
    assert load(["-c", "c.py"], environ).config.workers == 3


def test_explicit_c_skips_discovery(load: Load, write: Write) -> None:
    write("gunicorn.conf.py", "workers = 2\n")
    write("other.py", "threads = 4\n")
    config = load(["-c", "other.py"]).config
    assert (config.workers, config.threads) == (1, 4)


def test_missing_config_file(load: Load, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(["-c", "missing.py"])
    assert info.value.message == f"config file {str(tmp_path / 'missing.py')!r} does not exist"


def test_discovers_gunicorn_conf_py(load: Load, write: Write) -> None:
    path = write("gunicorn.conf.py", "workers = 2\n")
    loaded = load()
    assert loaded.config.workers == 2
    assert loaded.config.config == str(path)
    assert loaded.sources["config"] == "default"


def test_discovers_workhorse_conf_py(load: Load, write: Write) -> None:
    write("workhorse.conf.py", "workers = 3\n")
    assert load().config.workers == 3


def test_workhorse_conf_py_wins_over_gunicorn_conf_py(load: Load, write: Write) -> None:
    ours = write("workhorse.conf.py", "workers = 3\n")
    theirs = write("gunicorn.conf.py", "workers = 2\n")
    loaded = load()
    assert loaded.config.workers == 3
    assert loaded.warnings == [f"both {ours} and {theirs} exist; reading only {ours}"]


def test_without_any_config_file_config_keeps_its_default(load: Load) -> None:
    assert load().config.config == "./gunicorn.conf.py"


def test_non_py_extension_warns_but_loads(load: Load, write: Write) -> None:
    path = write("server.conf", "workers = 4\n")
    loaded = load(["-c", "server.conf"])
    assert loaded.config.workers == 4
    assert loaded.warnings == [f"config file {path} should have a .py extension"]


def test_syntax_error_names_file_and_line(load: Load, write: Write) -> None:
    path = write("gunicorn.conf.py", "workers = 2\nbind = [\n\ntimeout = = 3\n")
    with pytest.raises(ConfigError) as info:
        load()
    message = info.value.message
    assert message.startswith(f"error in config file {path}, line ")
    assert "SyntaxError" in message


def test_simple_syntax_error_line(load: Load, write: Write) -> None:
    path = write("gunicorn.conf.py", "workers = 2\ntimeout = = 3\n")
    with pytest.raises(ConfigError) as info:
        load()
    assert info.value.message == (
        f"error in config file {path}, line 2: SyntaxError: invalid syntax"
    )
    assert info.value.exit_code == 1


def test_exception_names_file_and_line(load: Load, write: Write) -> None:
    path = write("gunicorn.conf.py", "workers = 2\n\nthreads = 1 / 0\n")
    with pytest.raises(ConfigError) as info:
        load()
    assert info.value.message == (
        f"error in config file {path}, line 3: ZeroDivisionError: division by zero"
    )


def test_exception_in_a_helper_points_at_the_config_files_line(
    load: Load, write: Write, clean_modules: None
) -> None:
    write("wh_test_helper.py", "def compute():\n    raise KeyError('CPU')\n")
    path = write(
        "gunicorn.conf.py", "import wh_test_helper\n\nworkers = wh_test_helper.compute()\n"
    )
    with pytest.raises(ConfigError) as info:
        load()
    assert info.value.message == f"error in config file {path}, line 3: KeyError: 'CPU'"


def test_bad_value_in_a_file_names_the_setting_and_the_file(load: Load, write: Write) -> None:
    path = write("gunicorn.conf.py", "workers = 'abc'\n")
    with pytest.raises(ConfigError) as info:
        load()
    assert info.value.message == (
        "Invalid value for workers (-w/--workers): 'abc': expected a non-negative integer"
        f" (from file:{path}, line 1)"
    )


def test_a_bad_value_names_the_line_of_its_last_assignment(load: Load, write: Write) -> None:
    path = write(
        "gunicorn.conf.py",
        "import os\n"
        "workers = 2\n"
        "if os.environ.get('NO_SUCH_VARIABLE_HERE') is None:\n"
        "    workers = 'many'\n"
        "def hook(server):\n"
        "    workers = 3\n",
    )
    with pytest.raises(ConfigError) as info:
        load()
    assert info.value.message.endswith(f"(from file:{path}, line 4)")


def test_accepted_but_doubtful_values_warn_with_the_line(load: Load, write: Write) -> None:
    path = write("gunicorn.conf.py", "loglevel = 'trace'\nlimit_request_line = 9000\n")
    loaded = load()
    assert loaded.config.loglevel == "trace"
    assert loaded.config.limit_request_line == 8190
    assert loaded.warnings == [
        "loglevel (--log-level): 'trace' is not a log level; logging at info, as Gunicorn"
        f" does (from file:{path}, line 1)",
        "limit_request_line (--limit-request-line): 9000 is above Gunicorn's cap; 8190 is"
        f" applied, as in Gunicorn (from file:{path}, line 2)",
    ]


def test_file_sees_its_own_path_and_the_start_directory_is_importable(
    load: Load, write: Write, tmp_path: Path, clean_modules: None
) -> None:
    write("wh_test_local_helper.py", "WORKERS = 3\n")
    path = write(
        "conf/gunicorn.conf.py",
        "import os, wh_test_local_helper\n"
        "workers = wh_test_local_helper.WORKERS\n"
        "proc_name = os.path.basename(__file__)\n",
    )
    before = list(sys.path)
    config = load(["-c", str(path)]).config
    assert (config.workers, config.proc_name) == (3, "gunicorn.conf.py")
    assert sys.path == before


def test_config_directory_is_not_added_to_sys_path(load: Load, write: Write) -> None:
    write("conf/wh_test_sibling.py", "X = 1\n")
    write("conf/gunicorn.conf.py", "import wh_test_sibling\n")
    with pytest.raises(ConfigError, match="ModuleNotFoundError"):
        load(["-c", "conf/gunicorn.conf.py"])


def test_config_runs_as_the_config_module(load: Load, write: Write, tmp_path: Path) -> None:
    write("gunicorn.conf.py", "import sys\nproc_name = sys.modules['__config__'].__name__\n")
    assert load().config.proc_name == "__config__"
    assert not (tmp_path / "__pycache__").exists()


def test_helpers_and_imports_are_ignored(load: Load, write: Write) -> None:
    write(
        "gunicorn.conf.py",
        "import os\nimport multiprocessing\n"
        "CPUS = 4\n_private = 1\n"
        "def helper():\n    return 2\n"
        "class Thing:\n    pass\n"
        "workers = helper()\n",
    )
    loaded = load()
    assert loaded.config.workers == 2
    assert loaded.warnings == []


@pytest.mark.parametrize(
    ("line", "typo", "setting"),
    [
        ("worker = 4", "worker", "workers"),
        ("time_out = 3", "time_out", "timeout"),
        ("preload = True", "preload", "preload_app"),
        ("accesslogs = '-'", "accesslogs", "accesslog"),
        ("access_logfile = '-'", "access_logfile", "accesslog"),
        ("log_level = 'debug'", "log_level", "loglevel"),
        ("keep_alive = 5", "keep_alive", "keepalive"),
    ],
)
def test_typo_warnings(load: Load, write: Write, line: str, typo: str, setting: str) -> None:
    path = write("gunicorn.conf.py", line + "\n")
    assert load().warnings == [
        f"file:{path}: {typo!r} is not a setting and is ignored; did you mean {setting!r}?"
    ]


def test_no_typo_warning_for_unrelated_or_uppercase_names(load: Load, write: Write) -> None:
    write(
        "gunicorn.conf.py",
        "WORKERS = 4\nbusy = 1\nmax_conns = 3\nworker = print\nenv = 'prod'\nname = 'x'\n",
    )
    assert load().warnings == []


def test_config_setting_in_a_file_has_no_effect(load: Load, write: Write) -> None:
    path = write("gunicorn.conf.py", "config = 'elsewhere.py'\n")
    loaded = load()
    assert loaded.config.config == str(path)
    assert loaded.warnings == [f"file:{path}: 'config' in a config file has no effect"]


def test_python_values_from_a_file(load: Load, write: Write) -> None:
    write(
        "gunicorn.conf.py",
        "bind = '0.0.0.0:80'\n"
        "raw_env = ['A=1']\n"
        "forwarded_allow_ips = '*'\n"
        "secure_scheme_headers = {'X-PROTO': 'https'}\n"
        "logconfig_dict = {'version': 1}\n"
        "timeout = 2.5\n"
        "umask = 0o22\n"
        "daemon = 'yes'\n",
    )
    config = load().config
    assert config.bind == ["0.0.0.0:80"]
    assert config.env_vars == {"A": "1"}
    assert config.forwarded_allow_ips == ["*"]
    assert config.secure_scheme_headers == {"X-PROTO": "https"}
    assert config.logconfig_dict == {"version": 1}
    assert (config.timeout, config.umask, config.daemon) == (2.5, 0o22, True)
