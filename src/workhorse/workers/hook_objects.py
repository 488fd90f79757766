"""The objects Gunicorn's request hooks receive (``pre_request``/``post_request``).

Strategy: a thin view over the parsed request with the attribute names
Gunicorn's ``req`` has, built only when a hook is configured, so requests
without hooks pay nothing for it.
"""

from __future__ import annotations

from typing import Any

from workhorse.http import Request


class HookRequest:
    """The ``req`` a Gunicorn ``pre_request``/``post_request`` hook receives.

    Not slotted: hooks put their own attributes on it (``req.start_time`` in
    ``pre_request``, read back in ``post_request``), as they do on Gunicorn's.
    """

    #: The full access record, for a ``logger_class`` built on workhorse's logger.
    workhorse_record: Any = None

    def __init__(self, request: Request, peer: Any, scheme: str, body: Any, *,
                 number: int = 1, proxy_info: dict[str, str] | None = None) -> None:
        self._request = request
        self.headers = request.headers  # the same list: hooks may append to it
        self.peer_addr = peer
        self.remote_addr = peer
        self.scheme = scheme
        self.body = body
        #: Which request of its connection this is (Gunicorn's ``req_number``).
        self.req_number = number
        #: What a PROXY protocol header said (Gunicorn's ``proxy_protocol_info``).
        self.proxy_protocol_info = proxy_info
        self.fragment = ""
        #: Set by force_close(): the connection closes after this response.
        self.must_close = False

    @property
    def method(self) -> str:
        return self._request.method

    @property
    def uri(self) -> str:
        return self._request.target

    @property
    def path(self) -> str:
        return self._request.path

    @property
    def query(self) -> str:
        return self._request.query

    @property
    def version(self) -> tuple[int, int]:
        return self._request.version

    @property
    def trailers(self) -> list[tuple[str, str]]:
        return []

    def force_close(self) -> None:
        """Close the connection after this response (honoured after pre_request)."""
        self.must_close = True

    def should_close(self) -> bool:
        return self.must_close or not self._request.keep_alive
