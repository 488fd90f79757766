"""Writing responses: the head once, then the body in the framing it chose.

Strategy: :func:`response_head` validates what the application gave (status,
reason, header names and values), refuses what it may not set (hop-by-hop
fields, PEP 3333), picks the body framing, adds ``Transfer-Encoding``,
``Connection``, ``Date`` and ``Server`` as needed and encodes the head once
with latin-1. Field names seen before skip their regex through a small
memo, and values take a ``str.isprintable()`` fast path, so a typical head
costs one list join and one encode.

Framing, in order: no body for HEAD, 204 and 304 (an app-given Content-Length
is kept for HEAD and 304, dropped for 204 where RFC 9110 8.6 forbids it);
the application's Content-Length; chunked for HTTP/1.1 clients; otherwise
(HTTP/1.0 without a length) the end of the body is the end of the connection.
A chunked body may end with a trailer section (:func:`last_chunk`); the
``Trailer`` field that announces it is refused like the other hop-by-hop
fields unless the caller says trailers will follow. :func:`error_response`
builds the short, self-contained answers the worker sends when it cannot or
will not run the application.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from . import grammar
from .dates import date_line, http_date
from .errors import LocalProtocolError
from .memo import Memo
from .phrases import REASON_PHRASES

#: Server header value when the caller does not give one.
DEFAULT_SERVER_NAME: Final = "workhorse"

# Body framings of a response.
NO_BODY: Final = 0  # HEAD / 204 / 304: body bytes are dropped
LENGTH: Final = 1  # Content-Length from the application
CHUNKED: Final = 2  # Transfer-Encoding: chunked
UNTIL_CLOSE: Final = 3  # HTTP/1.0 without Content-Length: close ends the body

CONTINUE_RESPONSE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK: Final = b"0\r\n\r\n"

#: Valid response field names remembered (name -> lowercased), see memo.py.
NAME_MEMO_SIZE: Final = 256
#: Names longer than this are not remembered.
NAME_MEMO_MAX_LENGTH: Final = 64

_STATUS_LINES: Final = {code: f"HTTP/1.1 {code} {phrase}\r\n"
                        for code, phrase in REASON_PHRASES.items()}
# The status lines a response may start with (no 1xx), by status code.
_FINAL_STATUS_LINES: Final = {code: line for code, line in _STATUS_LINES.items() if code >= 200}
_names: Memo[str] = Memo(NAME_MEMO_SIZE, NAME_MEMO_MAX_LENGTH)
_SPECIAL: Final = frozenset({"content-length", "date", "server"} | grammar.HOP_BY_HOP)
#: Fields a response's trailer section may not carry: the ones our parser refuses
#: in a request's trailers (framing, routing, connection management, ...).
_FORBIDDEN_TRAILERS: Final = frozenset(name.lower() for name in grammar.FORBIDDEN_TRAILERS)


def reason_phrase(status: int) -> str:
    """The standard phrase of ``status``, or ``""`` for an unregistered code."""
    return REASON_PHRASES.get(status, "")


def check_field_name(name: str) -> str:
    """Validate a response field name; return it lowercased."""
    if not isinstance(name, str) or grammar.TOKEN.fullmatch(name) is None:
        raise LocalProtocolError(f"invalid response header name {name!r}")
    lower = name.lower()
    _names.remember(name, lower)
    return lower


def check_field_value(name: str, value: str) -> None:
    """Refuse values that could split the head (CR, LF) or that HTTP forbids."""
    if not isinstance(value, str):
        raise LocalProtocolError(f"response header {name!r} value must be str, not {value!r}")
    if not value.isprintable() and grammar.BAD_VALUE_CHAR.search(value) is not None:
        raise LocalProtocolError(f"control character in response header {name!r}: {value!r}")


def _status_line(status: int, reason: str | None) -> str:
    if type(status) is not int or not 100 <= status <= 599:
        raise LocalProtocolError(f"invalid status code {status!r}")
    if status < 200:
        raise LocalProtocolError(
            f"status {status}: informational responses are not supported "
            "(send_continue() sends 100 Continue)"
        )
    if reason is None:
        return _STATUS_LINES.get(status) or f"HTTP/1.1 {status} \r\n"
    if not isinstance(reason, str) or grammar.REASON_PHRASE.fullmatch(reason) is None:
        raise LocalProtocolError(f"invalid reason phrase {reason!r}")
    return f"HTTP/1.1 {status} {reason}\r\n"


def response_head(
    status: int,
    headers: Iterable[tuple[str, str]],
    reason: str | None,
    head_request: bool,
    http11: bool,
    keep_alive: bool,
    server_line: str,
    trailers: bool = False,
) -> tuple[bytes, int, int, bool]:
    """Build a response head.

    ``keep_alive`` says whether the connection may stay open as far as the
    caller knows; ``http11`` whether the client speaks HTTP/1.1; ``trailers``
    whether a trailer section will follow the body (then a ``Trailer`` field
    is the application's to send). Returns the encoded head, the framing, the
    Content-Length (for LENGTH framing, else 0) and whether the connection
    must close after this response.
    """
    line = _FINAL_STATUS_LINES.get(status) if reason is None and type(status) is int else None
    parts = [line or _status_line(status, reason)]
    append = parts.append
    length: int | None = None
    has_date = has_server = False
    known = _names.entries.get
    try:
        for name, value in headers:
            lower = known(name) or check_field_name(name)
            if not value.isprintable():
                check_field_value(name, value)
            if lower in _SPECIAL:
                if lower == "content-length":
                    if length is not None:
                        raise LocalProtocolError("more than one Content-Length header")
                    if not (value.isdigit() and value.isascii()):
                        raise LocalProtocolError(f"invalid Content-Length {value!r}")
                    length = int(value)
                    if status == 204:
                        continue
                elif lower == "date":
                    has_date = True
                elif lower == "server":
                    has_server = True
                elif not (trailers and lower == "trailer"):
                    raise LocalProtocolError(
                        f"hop-by-hop header {name!r} may not be set by the application"
                    )
            append(f"{name}: {value}\r\n")
    except (TypeError, AttributeError) as exc:
        raise LocalProtocolError(f"response headers must be (str, str) pairs: {exc}") from None

    if head_request or status == 204 or status == 304:
        framing = NO_BODY
    elif length is not None:
        framing = LENGTH
    elif http11:
        framing = CHUNKED
        append("Transfer-Encoding: chunked\r\n")
    else:
        framing = UNTIL_CLOSE
        keep_alive = False
    if not keep_alive:
        append("Connection: close\r\n")
    elif not http11:
        append("Connection: keep-alive\r\n")
    if not has_date:
        append(date_line())
    append("\r\n" if has_server else server_line + "\r\n")
    try:
        head = "".join(parts).encode("latin-1")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"response head is not latin-1 encodable: {exc}") from None
    return head, framing, length or 0, not keep_alive


def last_chunk(trailers: Iterable[tuple[str, str]]) -> bytes:
    """The end of a chunked body: the last chunk and a trailer section.

    Trailer fields are validated like header fields; the ones that would
    change framing or routing (RFC 9110 6.5.1) are refused.
    """
    lines = ["0\r\n"]
    try:
        for name, value in trailers:
            lower = check_field_name(name)
            check_field_value(name, value)
            if lower in _FORBIDDEN_TRAILERS or lower.startswith("x-forwarded-"):
                raise LocalProtocolError(f"{name!r} may not be sent as a trailer field")
            lines.append(f"{name}: {value}\r\n")
    except LocalProtocolError:
        raise
    except (TypeError, ValueError) as exc:  # not a pair
        raise LocalProtocolError(f"trailer fields must be (str, str) pairs: {exc}") from None
    lines.append("\r\n")
    try:
        return "".join(lines).encode("latin-1")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"trailer section is not latin-1 encodable: {exc}") from None


def server_header_line(server_name: str) -> str:
    """Validate a Server value once and return its header line."""
    check_field_value("Server", server_name)
    if not server_name.strip(" \t"):
        raise LocalProtocolError("empty server name")
    return f"Server: {server_name}\r\n"


def complete_response(
    status: int,
    body: bytes,
    *,
    content_type: str = "text/plain; charset=utf-8",
    extra_headers: Iterable[tuple[str, str]] = (),
    head_only: bool = False,
    server_name: str = DEFAULT_SERVER_NAME,
) -> bytes:
    """A whole response in one piece, with a Content-Length, that closes the connection.

    What the server answers on its own: protocol errors, the worker's
    500/503/504, the master's answers to clients of a worker it killed, and
    the metrics listener's pages. ``head_only`` (a HEAD request) keeps the
    Content-Length of the body it leaves out (RFC 9110 9.3.2).
    """
    status_line = _status_line(status, None)
    extra = []
    for name, value in extra_headers:
        lower = check_field_name(name)
        check_field_value(name, value)
        if lower in _SPECIAL or lower == "content-type":
            raise LocalProtocolError(f"complete_response() sets {name!r} itself")
        extra.append(f"{name}: {value}\r\n")
    check_field_value("Content-Type", content_type)
    head = (
        f"{status_line}{server_header_line(server_name)}Date: {http_date()}\r\n"
        f"Connection: close\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n{''.join(extra)}\r\n"
    )
    try:
        encoded = head.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"header not latin-1 encodable: {exc}") from None
    return encoded if head_only else encoded + body


def error_response(
    status: int,
    message: str = "",
    *,
    extra_headers: Iterable[tuple[str, str]] = (),
    server_name: str = DEFAULT_SERVER_NAME,
    head_only: bool = False,
) -> bytes:
    """A complete response whose body is ``message`` (or the reason phrase) as text.

    Use it for protocol errors (4xx/5xx from :class:`ProtocolError`) and for
    the server's own 500/503/504 answers.
    """
    body = ((message or reason_phrase(status) or str(status)) + "\n").encode("utf-8")
    return complete_response(status, body, extra_headers=extra_headers,
                             server_name=server_name, head_only=head_only)
