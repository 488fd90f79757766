"""The ASGI lifespan protocol: the app's startup before serving, its shutdown after.

Strategy: :class:`Lifespan` runs the app once with a ``lifespan`` scope, as a
task of the worker's loop (the loop its requests will run in), and talks to
it through a queue (``lifespan.startup``, ``lifespan.shutdown``) and a future
its ``send`` resolves. Each phase waits for the app's answer, the app's end,
or the timeout, whichever comes first, and returns a :class:`LifespanResult`
the worker acts on. ``asgi_lifespan`` has Gunicorn's meaning:

- ``off``: the app is never called with a lifespan scope;
- ``auto``: an app that raises or returns before answering the startup does
  not speak lifespan (Django, a bare HTTP app): UNSUPPORTED, serve anyway,
  and the detail says what it raised;
- ``on``: the same is a FAILED startup.

In every mode ``lifespan.startup.failed`` is FAILED (the worker logs the
app's message and counts a boot failure), and so is a startup not answered
within the timeout: the app's startup task is then cancelled, because
serving next to a startup still running would hand requests to an app that is
half ready (Gunicorn serves anyway in ``auto``; a user whose app really is
that slow raises the timeout). ``state`` is the namespace the app fills
during startup; ScopeBuilder copies it into every request's scope.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import traceback
from typing import Any, Final

from .errors import ASGIProtocolError
from .types import ASGIApp, Message

MODES: Final = ("auto", "on", "off")
#: Gunicorn 27's fixed wait for each phase.
DEFAULT_TIMEOUT: Final = 30.0
LIFESPAN_SPEC_VERSION: Final = "2.0"


class Outcome(enum.Enum):
    OFF = "off"  # asgi_lifespan = off: nothing was run
    STARTED = "started"  # lifespan.startup.complete
    UNSUPPORTED = "unsupported"  # auto, and the app does not speak lifespan: serve
    FAILED = "failed"  # do not serve (startup) / log it (shutdown)
    STOPPED = "stopped"  # lifespan.shutdown.complete, or the app ended
    SKIPPED = "skipped"  # shutdown of a lifespan that did not start


@dataclasses.dataclass(frozen=True, slots=True)
class LifespanResult:
    outcome: Outcome
    #: The app's message, the traceback of what it raised, or what went wrong.
    detail: str = ""


class Lifespan:
    """Startup and shutdown of one app in one event loop."""

    __slots__ = ("_answer", "_app", "_inbox", "_mode", "_phase", "_task", "_timeout", "state")

    def __init__(
        self, app: ASGIApp, mode: str = "auto", *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"asgi_lifespan must be one of {', '.join(MODES)}, not {mode!r}")
        self._app = app
        self._mode = mode
        self._timeout = timeout or None
        #: The lifespan namespace: give it to every ScopeBuilder.
        self.state: dict[str, Any] = {}
        self._inbox: asyncio.Queue[dict[str, Any]] | None = None
        self._answer: asyncio.Future[tuple[str, str]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._phase = ""

    async def startup(self) -> LifespanResult:
        """Run the app's startup; the worker serves on STARTED, UNSUPPORTED, OFF."""
        if self._mode == "off":
            return LifespanResult(Outcome.OFF)
        if self._task is not None:
            raise RuntimeError("Lifespan.startup() called twice")
        self._inbox = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run())
        answer = await self._ask("startup")
        if answer is None:
            return self._ended("startup", Outcome.UNSUPPORTED if self._mode == "auto"
                               else Outcome.FAILED)
        kind, message = answer
        if kind == "lifespan.startup.complete":
            return LifespanResult(Outcome.STARTED)
        await self._stop(self._task)
        return LifespanResult(Outcome.FAILED, message or "the app sent lifespan.startup.failed")

    async def shutdown(self) -> LifespanResult:
        """Run the app's shutdown (once requests are done); FAILED is only logged."""
        task = self._task
        if task is None or self._phase != "startup" or not self._started():
            return LifespanResult(Outcome.SKIPPED)
        if task.done():
            return self._ended("shutdown", Outcome.STOPPED)
        answer = await self._ask("shutdown")
        if answer is None:
            return self._ended("shutdown", Outcome.STOPPED)
        kind, message = answer
        await self._finish(task)
        if kind == "lifespan.shutdown.complete":
            return LifespanResult(Outcome.STOPPED)
        return LifespanResult(Outcome.FAILED, message or "the app sent lifespan.shutdown.failed")

    # --- the app's side --------------------------------------------------------------

    async def _run(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": LIFESPAN_SPEC_VERSION},
            "state": self.state,
        }
        await self._app(scope, self._receive, self._send)

    async def _receive(self) -> dict[str, Any]:
        assert self._inbox is not None
        return await self._inbox.get()

    async def _send(self, message: Message) -> None:
        try:
            kind = message["type"]
        except (KeyError, TypeError, IndexError):
            raise ASGIProtocolError(f"an ASGI message is a dict with a 'type', got {message!r:.80}")
        phase = self._phase
        expected = (f"lifespan.{phase}.complete", f"lifespan.{phase}.failed")
        answer = self._answer
        if kind not in expected or answer is None or answer.done():
            raise ASGIProtocolError(f"unexpected {kind!r} during the lifespan {phase}: "
                                    f"expected {' or '.join(map(repr, expected))} once")
        text = message.get("message", "")
        answer.set_result((kind, text if isinstance(text, str) else repr(text)))

    # --- waiting -------------------------------------------------------------------------

    async def _ask(self, phase: str) -> tuple[str, str] | None:
        """Send ``lifespan.<phase>`` and wait for the app's answer; None if the app
        ended first or the timeout passed (the task is then cancelled)."""
        task = self._task
        assert task is not None and self._inbox is not None
        self._phase = phase
        answer: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
        self._answer = answer
        self._inbox.put_nowait({"type": f"lifespan.{phase}"})
        waits: set[asyncio.Future[Any]] = {answer, task}
        await asyncio.wait(waits, timeout=self._timeout, return_when=asyncio.FIRST_COMPLETED)
        if answer.done():
            return answer.result()
        if not task.done():
            await self._cancel(task)
        return None

    def _ended(self, phase: str, outcome: Outcome) -> LifespanResult:
        """The app's task ended without answering: what it raised decides."""
        task = self._task
        assert task is not None and task.done()
        if task.cancelled():
            return LifespanResult(Outcome.FAILED, f"the app did not answer lifespan.{phase} "
                                                  f"within {self._timeout:g} seconds")
        error = task.exception()
        if error is None:
            return LifespanResult(outcome, f"the app returned without answering lifespan.{phase}")
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        return LifespanResult(Outcome.FAILED if phase == "shutdown" else outcome, text)

    def _started(self) -> bool:
        answer = self._answer
        return (answer is not None and answer.done()
                and answer.result()[0] == "lifespan.startup.complete")

    async def _finish(self, task: asyncio.Task[None]) -> None:
        """Give the app's task the time left to return after its last answer."""
        if not task.done():
            await asyncio.wait({task}, timeout=self._timeout)
        if not task.done():
            await self._cancel(task)
        elif not task.cancelled():
            task.exception()  # retrieved: an error after the answer is not asyncio's to log

    async def _stop(self, task: asyncio.Task[None] | None) -> None:
        """After a failed startup the worker will not serve: end the app's task
        now, and retrieve what it raised (frameworks raise again after sending
        lifespan.startup.failed), so asyncio has nothing left to complain about."""
        assert task is not None
        if not task.done():
            await self._cancel(task)
        elif not task.cancelled():
            task.exception()

    @staticmethod
    async def _cancel(task: asyncio.Task[None]) -> None:
        task.cancel()
        await asyncio.wait({task})
