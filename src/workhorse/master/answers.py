"""What the master does with a client connection it holds, and what it writes on it.

Strategy: the master holds client connections in two cases only: copies it
took from a worker it ended (the watchdog's rescue) and idle keep-alive
connections on their way to another worker (the relay). :func:`disposition`
decides, purely, what becomes of each rescued one; :func:`response` builds
what the master writes, with the HTTP core's writer like every other
response of the server: complete, with a Content-Length (kept without the
body for HEAD) and ``Connection: close``, the request's id when it had one,
and ``Retry-After`` on a 503.
"""

from __future__ import annotations

import enum

from workhorse import SERVER_SOFTWARE
from workhorse.http import error_response
from workhorse.master.termination import RescueKind

TIMEOUT_TEXT = "The request took longer than the server's timeout and was stopped."
STOPPED_TEXT = "The worker serving this request was stopped; please retry."
NO_WORKER_TEXT = "No worker is available to serve this request; please retry."


class Disposition(enum.Enum):
    ANSWER_504 = 504
    ANSWER_503 = 503
    PASS_ON = "pass on"  # to another worker, through the relay
    CLOSE = "close"  # with a FIN: nothing was asked on it


def disposition(kind: RescueKind, *, can_pass_on: bool, request_waiting: bool) -> Disposition:
    """What becomes of one connection taken from an ended worker.

    The overdue request gets its 504 and the other requests in flight a 503
    (their worker is gone; a retry will find another). An idle keep-alive
    connection is passed on when another worker can adopt it (a request
    already waiting on it was never read, so it is served as if nothing
    happened); otherwise it is closed, or answered 503 if a request waits.
    """
    if kind == RescueKind.OVERDUE:
        return Disposition.ANSWER_504
    if kind == RescueKind.IN_FLIGHT:
        return Disposition.ANSWER_503
    if can_pass_on:
        return Disposition.PASS_ON
    return Disposition.ANSWER_503 if request_waiting else Disposition.CLOSE


def response(status: int, request_id: str = "", *, head_only: bool = False,
             retry_after: float = 1.0, text: str = "") -> bytes:
    """The master's own answer: 504 past the deadline, 503 when no worker serves it."""
    headers = [("X-Request-ID", request_id)] if request_id else []
    if status == 503:
        headers.append(("Retry-After", str(max(1, round(retry_after)))))
    message = text or (TIMEOUT_TEXT if status == 504 else STOPPED_TEXT)
    return error_response(status, message, extra_headers=headers, server_name=SERVER_SOFTWARE,
                          head_only=head_only)
