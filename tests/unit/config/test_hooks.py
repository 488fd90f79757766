"""Server hooks: Gunicorn's arities, checked at load time; post_request's short forms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from workhorse.config import Config, ConfigError, hooks, iter_settings, load_config
from workhorse.config import converters as c

GUNICORN_ARITIES = {
    "on_starting": 1,
    "on_reload": 1,
    "when_ready": 1,
    "pre_fork": 2,
    "post_fork": 2,
    "post_worker_init": 1,
    "worker_int": 1,
    "worker_abort": 1,
    "pre_exec": 1,
    "pre_request": 2,
    "post_request": 4,
    "child_exit": 2,
    "worker_exit": 2,
    "nworkers_changed": 3,
    "on_exit": 1,
    "ssl_context": 2,
    "on_dirty_starting": 1,
    "dirty_post_fork": 2,
    "dirty_worker_init": 1,
    "dirty_worker_exit": 2,
}

SETTINGS = {info.name: info for info in iter_settings(Config)}


def test_every_hook_has_gunicorns_arity() -> None:
    arities = {
        name: info.spec.hook_arity for name, info in SETTINGS.items() if info.spec.hook_arity
    }
    assert arities == GUNICORN_ARITIES


@pytest.mark.parametrize("name", sorted(GUNICORN_ARITIES))
def test_default_hooks_are_callable_with_their_arity(name: str) -> None:
    default = SETTINGS[name].default_value()
    args: list[Any] = [None] * GUNICORN_ARITIES[name]
    if name == "ssl_context":
        args[1] = lambda: "context"
        assert default(*args) == "context"
    else:
        assert default(*args) is None


@pytest.mark.parametrize("name", sorted(GUNICORN_ARITIES))
def test_hook_with_wrong_arity_is_refused(name: str) -> None:
    def hook(a: Any, b: Any, c: Any, d: Any, e: Any) -> None:
        pass

    with pytest.raises((TypeError, ValueError), match="positional argument"):
        SETTINGS[name].spec.convert(hook)


def test_arity_error_names_the_arguments_and_the_signature() -> None:
    def on_starting() -> None:
        pass

    with pytest.raises(ValueError) as info:
        c.hook(1, "server")(on_starting)
    assert str(info.value) == (
        "expected a callable taking 1 positional argument (server), or 'module.attr'"
        " naming one; got test_arity_error_names_the_arguments_and_the_signature."
        "<locals>.on_starting()"
    )


def test_defaults_and_star_args_count_like_a_call() -> None:
    def flexible(server: Any, extra: Any = None) -> None:
        pass

    def anything(*args: Any) -> None:
        pass

    assert c.hook(1, "server")(flexible) is flexible
    assert c.hook(2, "server, worker")(anything) is anything


def test_required_keyword_only_argument_is_refused() -> None:
    def needs_keyword(server: Any, *, extra: Any) -> None:
        pass

    with pytest.raises(ValueError, match="positional"):
        c.hook(1, "server")(needs_keyword)


def test_non_callable_is_refused() -> None:
    with pytest.raises(TypeError, match="42 is not callable"):
        c.hook(1, "server")(42)


def test_hook_named_by_import_string() -> None:
    assert c.hook(1, "path")("os.path.exists") is __import__("os").path.exists


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("nodots", "'nodots' is not of the form module.attr"),
        ("no_such_module_xyz.hook", "cannot import 'no_such_module_xyz'"),
        ("os.no_such_attribute", "module 'os' has no attribute 'no_such_attribute'"),
    ],
)
def test_bad_import_strings(text: str, detail: str) -> None:
    with pytest.raises(ValueError) as info:
        c.hook(1, "server")(text)
    assert detail in str(info.value)


def test_post_request_with_four_arguments_is_kept() -> None:
    def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
        pass

    assert c.post_request_hook(post_request) is post_request


def test_post_request_with_three_arguments_is_wrapped() -> None:
    calls: list[tuple[Any, ...]] = []

    def post_request(worker: Any, req: Any, environ: Any) -> None:
        calls.append((worker, req, environ))

    wrapped = c.post_request_hook(post_request)
    wrapped("w", "r", "e", "resp")
    assert calls == [("w", "r", "e")]
    assert wrapped.__qualname__ == post_request.__qualname__


def test_post_request_with_two_arguments_is_wrapped() -> None:
    calls: list[tuple[Any, ...]] = []

    def post_request(worker: Any, req: Any) -> None:
        calls.append((worker, req))

    c.post_request_hook(post_request)("w", "r", "e", "resp")
    assert calls == [("w", "r")]


def test_post_request_with_one_argument_is_refused() -> None:
    with pytest.raises(ValueError, match=r"4 positional arguments \(worker, req, environ, resp\)"):
        c.post_request_hook(lambda worker: None)


def test_config_file_hook_with_wrong_arity_fails_the_load(tmp_path: Path) -> None:
    (tmp_path / "gunicorn.conf.py").write_text("def when_ready():\n    pass\n")
    with pytest.raises(ConfigError) as info:
        load_config([], {}, cwd=str(tmp_path))
    assert info.value.message.startswith("Invalid value for when_ready: <function when_ready")
    assert "1 positional argument (server)" in info.value.message


def test_config_file_short_post_request_is_adapted(tmp_path: Path) -> None:
    (tmp_path / "gunicorn.conf.py").write_text(
        "seen = []\ndef post_request(worker, req):\n    seen.append(req)\n"
    )
    config = load_config([], {}, cwd=str(tmp_path)).config
    config.post_request("worker", "req", {}, "resp")
    assert config.post_request.__wrapped__.__globals__["seen"] == ["req"]  # type: ignore[attr-defined]


def test_nworkers_changed_default_signature() -> None:
    assert hooks.nworkers_changed(None, 2, None) is None
