"""An app that learns on its first request, for the warmup setting's tests.

/learn builds a cache the first time and records the pid that built it;
/learned says that pid. /keep-open opens a file and keeps it, /thread starts
a thread that waits, /boom raises, /fail answers 500.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from typing import Any

LEARNED: dict[str, Any] = {}
KEPT: list[Any] = []
STOP = threading.Event()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    status, body = "200 OK", b"ok"
    if path == "/learn":
        LEARNED.setdefault("pid", os.getpid())
        LEARNED.setdefault("host", environ.get("HTTP_HOST"))
    elif path == "/learned":
        body = f"{LEARNED.get('pid')} {LEARNED.get('host')}".encode()
    elif path == "/keep-open":
        KEPT.append(tempfile.TemporaryFile())  # noqa: SIM115 (kept open on purpose)
    elif path == "/thread":
        KEPT.append(threading.Thread(target=STOP.wait, name="warm-thread", daemon=True))
        KEPT[-1].start()
    elif path == "/boom":
        raise RuntimeError("boom in the warm-up")
    elif path == "/fail":
        status = "500 Internal Server Error"
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
