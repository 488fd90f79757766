"""The lifespan protocol in the three asgi_lifespan modes, with small real ASGI apps."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from workhorse.asgi.lifespan import Lifespan, LifespanResult, Outcome
from workhorse.asgi.scope import ScopeBuilder
from workhorse.config import Config
from workhorse.http import Request, ServerConnection
from workhorse.workers.serving import environ_policy
from workhorse.wsgi.environ import ListenerInfo


class LifespanApp:
    """Speaks lifespan; records what it was told; answers as configured."""

    def __init__(self, startup: str = "complete", shutdown: str = "complete",
                 message: str = "") -> None:
        self.startup, self.shutdown, self.message = startup, shutdown, message
        self.seen: list[str] = []
        self.cancelled = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        self.seen.append(f"asgi {scope['asgi']['version']} {scope['asgi']['spec_version']}")
        try:
            while True:
                message = await receive()
                phase = message["type"].split(".")[1]
                self.seen.append(message["type"])
                how = getattr(self, phase)
                if how == "complete":
                    if phase == "startup":
                        scope["state"]["pool"] = "connected"
                    await send({"type": f"lifespan.{phase}.complete"})
                    if phase == "shutdown":
                        return
                elif how == "failed":
                    await send({"type": f"lifespan.{phase}.failed", "message": self.message})
                    if phase == "shutdown":
                        return
                elif how == "raise":
                    raise RuntimeError(f"{phase} blew up")
                elif how == "hang":
                    await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def django_like(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")


async def http_only(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})


async def returns_at_once(scope: dict[str, Any], receive: Any, send: Any) -> None:
    return None


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def both(lifespan: Lifespan) -> tuple[LifespanResult, LifespanResult]:
    return await lifespan.startup(), await lifespan.shutdown()


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_startup_and_shutdown_complete(mode: str) -> None:
    app = LifespanApp()
    lifespan = Lifespan(app, mode)
    started, stopped = run(both(lifespan))
    assert started == LifespanResult(Outcome.STARTED)
    assert stopped == LifespanResult(Outcome.STOPPED)
    assert app.seen == ["asgi 3.0 2.0", "lifespan.startup", "lifespan.shutdown"]
    assert lifespan.state == {"pool": "connected"}


def test_state_from_startup_reaches_every_request_scope() -> None:
    lifespan = Lifespan(LifespanApp())
    scopes = ScopeBuilder(environ_policy(Config(), multithread=False),
                          ListenerInfo("127.0.0.1", "8000", False, False), lifespan.state)
    conn = ServerConnection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    request = conn.next_event()
    assert isinstance(request, Request)
    assert scopes.http_scope(request, ("127.0.0.1", 1))["state"] == {}
    assert run(lifespan.startup()).outcome is Outcome.STARTED
    scope = scopes.http_scope(request, ("127.0.0.1", 1))
    assert scope["state"] == {"pool": "connected"} and scope["state"] is not lifespan.state


def test_off_never_calls_the_app() -> None:
    app = LifespanApp()
    lifespan = Lifespan(app, "off")
    assert run(both(lifespan)) == (LifespanResult(Outcome.OFF), LifespanResult(Outcome.SKIPPED))
    assert app.seen == []


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_startup_failed_is_a_failure_in_every_mode(mode: str) -> None:
    lifespan = Lifespan(LifespanApp(startup="failed", message="no database"), mode)
    started, stopped = run(both(lifespan))
    assert started == LifespanResult(Outcome.FAILED, "no database")
    assert stopped.outcome is Outcome.SKIPPED


def test_startup_failed_without_a_message_still_says_something() -> None:
    started = run(Lifespan(LifespanApp(startup="failed")).startup())
    assert started == LifespanResult(Outcome.FAILED, "the app sent lifespan.startup.failed")


@pytest.mark.parametrize(
    ("app", "says"),
    [(django_like, "ValueError: Django can only handle ASGI/HTTP connections"),
     (http_only, "ASGIProtocolError: unexpected 'http.response.start' during the lifespan startup"),
     (LifespanApp(startup="raise"), "RuntimeError: startup blew up"),
     (returns_at_once, "the app returned without answering lifespan.startup")],
    ids=["raises before receive", "sends http", "raises after receive", "returns"],
)  # fmt: skip
def test_auto_serves_an_app_without_lifespan_and_on_refuses_it(app: Any, says: str) -> None:
    auto = run(Lifespan(app, "auto").startup())
    assert auto.outcome is Outcome.UNSUPPORTED and says in auto.detail
    on = run(Lifespan(app, "on").startup())
    assert on.outcome is Outcome.FAILED and says in on.detail


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_startup_timeout_fails_and_cancels_the_app(mode: str) -> None:
    app = LifespanApp(startup="hang")
    lifespan = Lifespan(app, mode, timeout=0.05)
    started, stopped = run(both(lifespan))
    assert started == LifespanResult(
        Outcome.FAILED, "the app did not answer lifespan.startup within 0.05 seconds")
    assert app.cancelled
    assert stopped.outcome is Outcome.SKIPPED


def test_shutdown_failed_raised_and_timed_out() -> None:
    failed = run(both(Lifespan(LifespanApp(shutdown="failed", message="pool busy"))))[1]
    assert failed == LifespanResult(Outcome.FAILED, "pool busy")
    raised = run(both(Lifespan(LifespanApp(shutdown="raise"))))[1]
    assert raised.outcome is Outcome.FAILED and "RuntimeError: shutdown blew up" in raised.detail
    hanging = LifespanApp(shutdown="hang")
    timed_out = run(both(Lifespan(hanging, timeout=0.05)))[1]
    assert timed_out == LifespanResult(
        Outcome.FAILED, "the app did not answer lifespan.shutdown within 0.05 seconds")
    assert hanging.cancelled


def test_shutdown_of_an_app_that_ended_after_startup() -> None:
    async def starts_and_returns(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})

    started, stopped = run(both(Lifespan(starts_and_returns)))
    assert started.outcome is Outcome.STARTED
    assert stopped == LifespanResult(
        Outcome.STOPPED, "the app returned without answering lifespan.shutdown")


def test_a_second_answer_is_refused() -> None:
    async def answers_twice(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.startup.complete"})

    started, stopped = run(both(Lifespan(answers_twice)))
    assert started.outcome is Outcome.STARTED
    assert stopped.outcome is Outcome.FAILED
    assert "unexpected 'lifespan.startup.complete' during the lifespan startup" in stopped.detail


def test_shutdown_twice_and_startup_twice() -> None:
    async def scenario() -> None:
        lifespan = Lifespan(LifespanApp())
        await lifespan.startup()
        with pytest.raises(RuntimeError, match="twice"):
            await lifespan.startup()
        assert (await lifespan.shutdown()).outcome is Outcome.STOPPED
        assert (await lifespan.shutdown()).outcome is Outcome.SKIPPED

    run(scenario())


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="asgi_lifespan must be one of auto, on, off"):
        Lifespan(LifespanApp(), "yes")


def test_an_app_that_raises_after_startup_failed_leaves_no_unretrieved_error() -> None:
    # Starlette sends lifespan.startup.failed, then raises the error again.
    async def fails_then_raises(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "boom"})
        raise RuntimeError("boom")

    async def scenario() -> tuple[LifespanResult, list[dict[str, Any]]]:
        complaints: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: complaints.append(ctx))
        lifespan = Lifespan(fails_then_raises)
        result = await lifespan.startup()
        del lifespan
        gc.collect()
        return result, complaints

    assert run(scenario()) == (LifespanResult(Outcome.FAILED, "boom"), [])


def test_an_app_that_waits_after_startup_failed_is_cancelled_at_once() -> None:
    app = LifespanApp(startup="failed", message="no")

    async def scenario() -> bool:
        result = await Lifespan(app, timeout=30).startup()
        assert result.outcome is Outcome.FAILED
        return app.cancelled  # now, not when asyncio.run cancels what is left

    assert run(scenario())
