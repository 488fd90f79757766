"""Loading an ASGI app: ASGI 3 as it is, ASGI 2 wrapped, the rest refused clearly."""

from __future__ import annotations

import asyncio
import functools
import textwrap
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import markcoroutinefunction

from workhorse.asgi.app_loader import ASGI2App, as_asgi3, is_double_callable, load_asgi_app
from workhorse.wsgi.loader import AppImportError


async def asgi3(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "seen", "scope": scope})


class ASGI3Instance:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "seen", "scope": scope})


class ASGI2Class:
    def __init__(self, scope: Any) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        await send({"type": "seen", "scope": self.scope})


def asgi2_function(scope: Any) -> Any:
    async def instance(receive: Any, send: Any) -> None:
        await send({"type": "seen", "scope": scope})

    return instance


def wsgi_function(environ: Any, start_response: Any) -> list[bytes]:
    return []


class WSGIInstance:  # Flask's and Django's WSGIHandler's shape
    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        return []


def called_with(app: Any) -> list[Any]:
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app({"type": "http"}, None, send))
    return sent


@pytest.mark.parametrize("app", [asgi3, ASGI3Instance(), functools.partial(asgi3)],
                         ids=["function", "instance", "partial"])
def test_asgi3_apps_are_returned_as_they_are(app: Any) -> None:
    assert not is_double_callable(app)
    assert as_asgi3(app) is app


@pytest.mark.parametrize("app", [ASGI2Class, asgi2_function], ids=["class", "function"])
def test_asgi2_apps_are_wrapped(app: Any) -> None:
    assert is_double_callable(app)
    wrapped = as_asgi3(app)
    assert isinstance(wrapped, ASGI2App)
    assert called_with(wrapped) == [{"type": "seen", "scope": {"type": "http"}}]


def test_asgiref_hints_and_markers_are_honoured() -> None:
    def marked(scope: Any, receive: Any, send: Any) -> Any:
        return asgi3(scope, receive, send)

    assert as_asgi3(markcoroutinefunction(marked)) is marked

    async def hinted_double(scope: Any) -> Any:
        return asgi2_function(scope)

    hinted_double._asgi_double_callable = True  # type: ignore[attr-defined]
    assert is_double_callable(hinted_double)
    plain = ASGI2Class
    plain._asgi_single_callable = True  # type: ignore[attr-defined]
    try:
        assert not is_double_callable(plain)
    finally:
        del plain._asgi_single_callable  # type: ignore[attr-defined]


@pytest.mark.parametrize("app", [wsgi_function, WSGIInstance()], ids=["function", "instance"])
def test_a_wsgi_app_is_refused_with_a_hint(app: Any) -> None:
    with pytest.raises(AppImportError, match=r"looks like a WSGI application .*\(-k sync"):
        as_asgi3(app, "project.wsgi:application")


def test_a_non_callable_is_refused() -> None:
    with pytest.raises(AppImportError, match=r"'pkg:settings' must be callable"):
        as_asgi3({"not": "an app"}, "pkg:settings")


def test_load_asgi_app_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "asgi_loader_probe.py").write_text(textwrap.dedent("""\
        class Legacy:
            def __init__(self, scope):
                self.scope = scope

            async def __call__(self, receive, send):
                await send({"type": "legacy", "scope": self.scope})

        async def app(scope, receive, send):
            pass

        settings = {"DEBUG": True}
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_asgi_app("asgi_loader_probe:app").__name__ == "app"  # type: ignore[attr-defined]
    legacy = load_asgi_app("asgi_loader_probe:Legacy")
    assert called_with(legacy) == [{"type": "legacy", "scope": {"type": "http"}}]
    with pytest.raises(AppImportError, match="must be callable"):
        load_asgi_app("asgi_loader_probe:settings")
    with pytest.raises(AppImportError, match="No module named 'asgi_loader_missing'"):
        load_asgi_app("asgi_loader_missing:app")
