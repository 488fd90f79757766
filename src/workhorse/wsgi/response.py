"""``start_response``, the ``write()`` callable and the response being sent.

Strategy: the response head is not sent when the app calls
``start_response`` but with the first non-empty body chunk (PEP 3333), and
it goes out in the same ``send`` as that chunk, so a typical response is one
system call. Everything the app passes is checked before anything is sent
(status syntax, header types, and through the HTTP core, header names,
values and hop-by-hop fields), so a bad app gets a 500 instead of a
corrupted stream. This object is also what the ``post_request`` hook
receives as ``resp``, with the attributes Gunicorn's response has.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from workhorse.http import ServerConnection

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


#: From this body size on, a whole response goes out as head and body buffers
#: in one sendmsg instead of one concatenated copy (copying a megabyte costs
#: more than the gathered write; a small body is cheaper copied).
SCATTER_MIN = 32 * 1024

#: Hop-by-hop headers (RFC 9110 7.6.1): the server's business, not the app's.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                        "te", "trailer", "upgrade", "proxy-authenticate", "proxy-authorization"})


class AppError(Exception):
    """The application broke the WSGI contract; the message says how."""


class Response:
    """One response: what the app started and what has been sent of it."""

    __slots__ = (
        "__dict__",  # hooks put their own attributes on resp, as on Gunicorn's
        "_conn",
        "_head",
        "_send",
        "_send_parts",
        "content_length",
        "headers",
        "headers_sent",
        "reason",
        "sent",
        "status",
        "status_code",
        "written",
    )

    def __init__(self, conn: ServerConnection, send: Callable[[bytes], None],
                 send_parts: Callable[[list[bytes]], None] | None = None) -> None:
        self._conn = conn
        self._send = send
        self._send_parts = send_parts
        self._head: bytes | None = None
        self.status: str | None = None
        self.status_code = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.headers_sent = False
        self.content_length: int | None = None
        self.sent = 0  # body bytes handed to the connection
        self.written = 0  # bytes written to the socket, head included

    # --- the WSGI side -----------------------------------------------------
    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: ExcInfo | None = None,
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # break the traceback cycle (PEP 3333)
        elif self.status is not None:
            raise AppError("start_response() called a second time without exc_info")
        parsed = _STATUS_MEMO.get(status) if type(status) is str else None
        if parsed is None:
            parsed = parse_status(status)
            if len(_STATUS_MEMO) < STATUS_MEMO_SIZE:
                _STATUS_MEMO[status] = parsed
        self.status_code, self.reason = parsed
        self.status = status
        length, hop_by_hop = scan_headers(headers)
        self.headers = self._without_hop_by_hop(headers) if hop_by_hop else headers
        self.content_length = length
        return self.write

    @property
    def started(self) -> bool:
        return self.status is not None

    def write(self, data: bytes) -> None:
        """The ``write()`` callable, and how the worker sends each body chunk."""
        if type(data) is not bytes:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise AppError(f"the body must be bytes, got {type(data).__name__}")
            data = bytes(data)
        if self.status is None:
            raise AppError("the app sent body data before calling start_response()")
        if not data:
            return
        length = self.content_length
        if length is not None and self.sent + len(data) > length:
            # Checked before anything is sent, so a 500 can still replace it.
            raise AppError(f"the body is longer than the Content-Length the app set "
                           f"({self.sent + len(data)} > {length} bytes)")
        if self.headers_sent:
            framed = self._conn.send_data(data)
        else:
            head = self._take_head()
            framed = head + self._conn.send_data(data)
        self.sent += len(data)
        self.written += len(framed)
        self._send(framed)

    def add_header_once(self, name: str, lower: str, value: str) -> None:
        """Add a header unless the app set one of that name (or the head is out)."""
        if self.headers_sent:
            return
        for existing, _ in self.headers:
            if len(existing) == len(lower) and existing.lower() == lower:
                return
        self.headers.append((name, value))

    def write_whole(self, data: bytes) -> None:
        """Send the head, the complete body and its end at once (one system call)."""
        length = self.content_length
        if length is not None and len(data) > length:
            raise AppError(f"the body is longer than the Content-Length the app set "
                           f"({len(data)} > {length} bytes)")
        conn = self._conn
        head = self._take_head()
        body = conn.send_data(data) if data else b""
        end = conn.send_end()
        self.sent = len(data)
        self.written = len(head) + len(body) + len(end)
        if len(body) >= SCATTER_MIN and self._send_parts is not None:
            self._send_parts([head, body, end] if end else [head, body])
        else:
            self._send(head + body + end)

    def set_content_length(self, length: int) -> None:
        """Declare the length of a body the worker knows in full before sending."""
        if self.content_length is None and not self.headers_sent:
            self.headers.append(("Content-Length", str(length)))
            self.content_length = length

    def send_head(self) -> None:
        """Send the head now (before a sendfile body, or for an empty body)."""
        if not self.headers_sent:
            head = self._take_head()
            self.written += len(head)
            self._send(head)

    def sent_elsewhere(self, count: int) -> None:
        """``count`` body bytes went out without passing through here (sendfile)."""
        self.sent += count
        self.written += count
        self._conn.send_data_sent_elsewhere(count)

    def finish(self) -> None:
        """The app's iterable is exhausted: send what is left (head, last chunk)."""
        if self.status is None:
            raise AppError("the app returned without calling start_response()")
        if self.headers_sent:
            tail = self._conn.send_end()
        else:
            head = self._take_head()
            tail = head + self._conn.send_end()
        if tail:
            self.written += len(tail)
            self._send(tail)

    def _without_hop_by_hop(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Drop hop-by-hop headers the app set, as Gunicorn does; honour ``Connection: close``.

        PEP 3333 forbids them in apps, but apps that run on Gunicorn send
        them (``Connection: close`` most of all), and Gunicorn silently drops
        them; refusing them would break those apps for no gain.
        """
        kept = []
        for name, value in headers:
            lower = name.lower()
            if lower not in HOP_BY_HOP:
                kept.append((name, value))
            elif lower == "connection" and "close" in value.lower():
                self._conn.close_after_response()
        return kept

    def _take_head(self) -> bytes:
        head = self._conn.send_response(self.status_code, self.headers, reason=self.reason)
        self.headers_sent = True
        return head

    # --- Gunicorn's response attributes for post_request hooks ---------------
    @property
    def response_length(self) -> int:
        return self.sent

    @property
    def chunked(self) -> bool:
        return self._conn.response_chunked

    def should_close(self) -> bool:
        return not self._conn.keep_alive


def parse_status(status: object) -> tuple[int, str]:
    """Split a WSGI status string ("200 OK") into code and reason."""
    if not isinstance(status, str):
        raise AppError(f"the status must be a str, got {type(status).__name__}")
    code_text, _, reason = status.partition(" ")
    if len(code_text) != 3 or not code_text.isdigit():
        raise AppError(f"the status must start with a 3-digit code, got {status!r}")
    code = int(code_text)
    if code < 100 or code > 599:
        raise AppError(f"status code out of range: {status!r}")
    if "\r" in reason or "\n" in reason:
        raise AppError("the status reason must not contain CR or LF")
    return code, reason.strip()


def scan_headers(headers: object) -> tuple[int | None, bool]:
    """One pass over the app's headers: PEP 3333 types, the Content-Length, and
    whether any hop-by-hop header is present. (Names and values are validated
    by the HTTP core when the head is built.)"""
    if type(headers) is not list:
        raise AppError(f"response headers must be a list, got {type(headers).__name__}")
    length: int | None = None
    hop_by_hop = False
    for item in headers:
        if type(item) is not tuple or len(item) != 2:
            raise AppError(f"each response header must be a (name, value) tuple, got {item!r}")
        name, value = item
        if type(name) is not str or type(value) is not str:
            raise AppError(f"response header names and values must be str: {item!r}")
        lower = _LOWER.get(name)
        if lower is None:
            lower = name.lower()
            if len(_LOWER) < STATUS_MEMO_SIZE:
                _LOWER[name] = lower
        if lower == "content-length":
            value = value.strip()
            if not value.isdigit():
                raise AppError(f"invalid Content-Length from the app: {value!r}")
            length = int(value)
        elif lower in HOP_BY_HOP:
            hop_by_hop = True
    return length, hop_by_hop


#: Memo of parsed status strings and of lowercased header names: an app uses
#: a handful of each, and parsing them again on every request is waste.
#: Bounded so a pathological app cannot grow them.
STATUS_MEMO_SIZE = 512
_STATUS_MEMO: dict[str, tuple[int, str]] = {}
_LOWER: dict[str, str] = {}

