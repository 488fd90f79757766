"""X-Worker-Pid on every response: the load generator counts the requests each worker served."""

import os
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


def worker_pid(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[..., HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        response["X-Worker-Pid"] = str(os.getpid())
        return response

    return middleware
