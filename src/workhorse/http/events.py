"""What the protocol core hands to its caller: events and two sentinels.

Strategy: a request becomes a sequence of events, ``Request``, zero or more
``Data``, one ``EndOfMessage``, read one at a time with
``ServerConnection.next_event()``. ``NEED_DATA`` says "feed me more bytes",
``PAUSED`` says "a whole request was read; answer it and call
start_next_cycle() before I look at the next one".

The events are slotted dataclasses but, unlike h11's, not frozen: they are
built on the hot path (one ``Request`` and one ``EndOfMessage`` per request,
one ``Data`` per body read), where a frozen dataclass costs 1.7 times as much
to construct. Callers must treat them as read-only, with one exception:
server hooks (Gunicorn's ``pre_request`` sees ``req.headers``) may edit a
``Request``'s ``headers`` list.
"""

from __future__ import annotations

import dataclasses
from typing import Final, TypeAlias


@dataclasses.dataclass(slots=True)
class Request:
    """The head of one request, validated. Do not mutate (except ``headers``)."""

    #: The method exactly as received (uppercased only with casefold_http_method).
    method: str
    #: The request-target exactly as received.
    target: str
    #: The path, still percent-encoded: the target up to ``?`` for origin-form,
    #: the URL's path (``/`` if empty) for absolute-form, ``*`` for asterisk-form,
    #: the authority for authority-form (never seen: CONNECT is refused).
    path: str
    #: The query string without ``?``; ``""`` when there is none.
    query: str
    #: ``(1, 1)`` or ``(1, 0)`` (``(1, x)`` with permit_unconventional_http_version).
    version: tuple[int, int]
    #: ``(NAME, value)`` in received order: names uppercased, values without
    #: surrounding SP/HTAB. What Gunicorn's hooks see as ``req.headers``.
    headers: list[tuple[str, str]]
    #: The Content-Length, or None (no body, or chunked).
    content_length: int | None
    #: The body is chunked.
    chunked: bool
    #: The client wants the connection kept open: HTTP/1.1 unless it sent
    #: ``Connection: close``; HTTP/1.0 only with ``Connection: keep-alive``.
    keep_alive: bool
    #: An HTTP/1.1 client sent ``Expect: 100-continue`` and waits for it.
    expect_continue: bool
    #: ``"http"``/``"https"`` (lowercased) when the target was in absolute-form.
    absolute_scheme: str | None
    #: The authority (host[:port]) of an absolute-form target.
    absolute_authority: str | None
    #: Bytes of the head: empty lines skipped before it, the request line, the
    #: fields and the blank line that ends it.
    head_size: int
    #: The request line exactly as received (latin-1 decoded, without CRLF):
    #: what logs and status views show.
    line: str = ""


@dataclasses.dataclass(slots=True)
class Data:
    """Some bytes of the request body (never empty), in order."""

    data: bytes


@dataclasses.dataclass(slots=True)
class EndOfMessage:
    """The request body is complete; ``trailers`` holds the fields of a chunked
    body's trailer section, names uppercased like ``Request.headers``."""

    trailers: list[tuple[str, str]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The client closed the connection cleanly, between requests."""


class NeedData:
    """Type of :data:`NEED_DATA`: feed ``receive_data()`` and ask again."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


class Paused:
    """Type of :data:`PAUSED`: respond, then call ``start_next_cycle()``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "PAUSED"


NEED_DATA: Final = NeedData()
PAUSED: Final = Paused()

Event: TypeAlias = Request | Data | EndOfMessage | ConnectionClosed
