"""Views of the djasgi project: async ones on the event loop, sync ones in Django's thread.

- ``/`` and ``/async/``: async views; ``/async/`` says which thread ran it and
  whether an event loop runs there (it does: the worker's);
- ``/sync/``: a sync view; Django's ASGI handler runs it through
  ``sync_to_async(thread_sensitive=True)``, in a thread that is not the loop's;
- ``/echo/``: an async view reading ``request.body`` (POST, CSRF exempt);
- ``/stream/?n=``: a StreamingHttpResponse over an async iterator;
- ``/wait/?name=``: an async view that waits (up to 10 s) until ``/open/?name=``
  opens its gate (``/open/`` says whether a ``/wait/`` was there to open): with
  one worker, both are in flight at once on its one loop; ``/waiting/?name=``
  says whether such a ``/wait/`` is in flight, without opening it;
- ``/whoami/``: what Django makes of the client, scheme and host;
- ``/boom/``: raises (Django's 500 page; the traceback goes to the log).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import AsyncIterator
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

#: Longest /wait/ waits for its /open/.
WAIT_LIMIT = 10.0
#: /wait/ gates by name, on the worker's loop.
_GATES: dict[str, asyncio.Event] = {}


def _where() -> dict[str, Any]:
    try:
        asyncio.get_running_loop()
        in_loop = True
    except RuntimeError:
        in_loop = False
    return {"thread": threading.current_thread().name, "in_loop": in_loop, "pid": os.getpid()}


async def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Hello from Django over ASGI\n", content_type="text/plain")


async def async_view(request: HttpRequest) -> JsonResponse:
    await asyncio.sleep(0)
    return JsonResponse({"view": "async", **_where()})


def sync_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"view": "sync", **_where()})


@csrf_exempt
async def echo(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(status=405)
    body = request.body
    response = HttpResponse(body, content_type="application/octet-stream")
    response["X-Body-Length"] = str(len(body))
    response["X-Body-Sha256"] = hashlib.sha256(body).hexdigest()
    return response


async def stream(request: HttpRequest) -> StreamingHttpResponse:
    count = int(request.GET.get("n", "5"))

    async def parts() -> AsyncIterator[bytes]:
        for index in range(count):
            await asyncio.sleep(0)
            yield f"part {index}\n".encode()

    return StreamingHttpResponse(parts(), content_type="text/plain")


async def wait(request: HttpRequest) -> JsonResponse:
    gate = _GATES.setdefault(request.GET["name"], asyncio.Event())
    try:
        await asyncio.wait_for(gate.wait(), WAIT_LIMIT)
        opened = True
    except asyncio.TimeoutError:
        opened = False
    return JsonResponse({"opened": opened, "pid": os.getpid()})


async def open_gate(request: HttpRequest) -> JsonResponse:
    """Opens the gate if a /wait/ of that name is in flight; says whether one was."""
    gate = _GATES.get(request.GET["name"])
    if gate is not None:
        gate.set()
    return JsonResponse({"waiting": gate is not None, "pid": os.getpid()})


async def waiting(request: HttpRequest) -> JsonResponse:
    gate = _GATES.get(request.GET["name"])
    return JsonResponse({"waiting": gate is not None and not gate.is_set()})


async def whoami(request: HttpRequest) -> JsonResponse:
    meta = request.META
    return JsonResponse({
        "remote_addr": meta.get("REMOTE_ADDR"),
        "remote_port": meta.get("REMOTE_PORT"),
        "scheme": request.scheme,
        "is_secure": request.is_secure(),
        "host": request.get_host(),
        "absolute": request.build_absolute_uri("/somewhere/"),
        "x_forwarded_for": meta.get("HTTP_X_FORWARDED_FOR"),
        "path": request.path,
    })


async def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom from an async Django view")
