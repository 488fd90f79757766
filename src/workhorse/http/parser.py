"""Reading a request head: the request line, the fields, the framing.

Strategy: the connection finds the blank line that ends the head with one
``find()`` of CRLFCRLF; :func:`parse_head` decodes the head once (latin-1,
so every byte maps to one character and back), splits it on CRLF, takes the
request line apart with ``str.split(" ")`` when it has a common shape (a
known method, an origin-form target, HTTP/1.1 or 1.0) and exactly otherwise,
hands the field lines to ``fields`` and then reads the few fields that
decide framing and connection handling (Host, Content-Length,
Transfer-Encoding, Connection, Expect).

While a head is still arriving, :func:`check_partial_head` looks at the
bytes that came since its last call, so a line or head over its limit, or a
bare CR/LF, is refused as soon as it is visible instead of being buffered,
and a head trickling in byte by byte costs linear time. It finds faults in
the same order as the full parse, so a request with one fault gets the same
status however it was split into reads.

Choices where the RFCs leave one: bare LF and bare CR are refused (RFC 9112
2.2 allows accepting LF; refusing removes a class of smuggling ambiguities);
Content-Length lists and repeated Content-Length fields are refused even
when the values agree; Transfer-Encoding with Content-Length is refused, not
resolved by preferring Transfer-Encoding; HTTP/1.0 with Transfer-Encoding is
refused; ``chunked`` must be the only coding (400 when it is not last or
when the list has an empty element, 501 when a well-formed coding precedes
it); raw obs-text (bytes >= 0x80) is accepted in the target, as nginx does;
an absolute-form target must be http(s) with a host and no userinfo;
CONNECT is answered 501 (RFC 9110 9.1: a method we do not implement; a WSGI
application cannot run a tunnel); an expectation other than 100-continue is
answered 417, and Expect is ignored in HTTP/1.0.
"""

from __future__ import annotations

from typing import Final

from . import grammar
from .errors import ProtocolError, bad_request, quote
from .events import Request
from .fields import (
    NO_LIMIT,
    checked_upto,
    fast_fields,
    field_line_too_long,
    find_bare_break,
    line_break_fault,
    parse_fields,
    too_many_fields,
)
from .limits import CRLF_SIZE, Limits
from .memo import Memo

#: Empty lines skipped before a request line (RFC 9112 2.2 says SHOULD ignore
#: at least one; old clients add one CRLF after a POST body). A few are
#: tolerated; a stream of them is a client that is not speaking HTTP.
MAX_LEADING_EMPTY_LINES: Final = 8
#: Content-Length digits: 18 decimal digits fit in a signed 64-bit integer (so
#: every other proxy agrees on the value) and ``int()`` of a bounded string
#: cannot be made expensive.
MAX_CONTENT_LENGTH_DIGITS: Final = 18
#: Valid Host values remembered: a server answers for a handful of names.
HOST_MEMO_SIZE: Final = 256
#: Host values longer than this are not remembered.
HOST_MEMO_MAX_LENGTH: Final = 255

HTTP_11: Final = (1, 1)
HTTP_10: Final = (1, 0)

_CRLF = b"\r\n"

_COMMON_METHODS: Final = grammar.COMMON_METHODS

# Header fields that change how the request is framed or handled.
_SPECIAL_HEADERS: Final = frozenset(
    {"HOST", "CONTENT-LENGTH", "TRANSFER-ENCODING", "CONNECTION", "EXPECT"}
)

#: Host value that matched the HOST grammar -> True.
_hosts: Memo[bool] = Memo(HOST_MEMO_SIZE, HOST_MEMO_MAX_LENGTH)


def _request_line_too_long(length: int, limits: Limits) -> ProtocolError:
    return ProtocolError(
        414,
        "Request line too long",
        f"request line of {length} bytes > limit {limits.max_request_line}",
    )


def _head_too_large(limits: Limits) -> ProtocolError:
    return ProtocolError(
        431, "Request head too large", f"request head larger than {limits.max_head_size} bytes"
    )


# ---------------------------------------------------------------------------
# The head while it arrives


class HeadProgress:
    """How far :func:`check_partial_head` got in a head that is still arriving.

    Offsets are relative to the head's start, so they survive the connection
    compacting its buffer.
    """

    __slots__ = ("checked", "fields", "line_start", "request_line_done")

    def __init__(self) -> None:
        #: Bytes already checked for bare CR/LF (and known to hold no CRLFCRLF).
        self.checked = 0
        #: Start of the first line not complete yet.
        self.line_start = 0
        #: Complete header field lines seen (continuation lines not counted).
        self.fields = 0
        self.request_line_done = False


def check_partial_head(
    buf: bytes | bytearray, start: int, progress: HeadProgress, limits: Limits
) -> None:
    """Refuse a head still missing its end as soon as a fault is visible.

    ``buf[start:]`` is the head so far (no blank line in it yet). Each call
    looks only at the bytes that arrived since the last one, so a head that
    trickles in costs linear time. Faults are found in stream order: bare
    CR/LF, then per complete line its length and the field count, then the
    partial last line's length and the head's size.
    """
    end = len(buf)
    bare, name = find_bare_break(buf, start + progress.checked, start)
    stop = bare if bare >= 0 else end
    max_line = limits.max_field_line
    pos = start + progress.line_start
    search = max(pos, start + progress.checked - 1)
    while True:
        eol = buf.find(_CRLF, search, stop)
        if eol < 0:
            break
        length = eol - pos
        if not progress.request_line_done:
            if limits.max_request_line and length > limits.max_request_line:
                raise _request_line_too_long(length, limits)
            progress.request_line_done = True
        else:
            if max_line is not None and length > max_line:
                raise field_line_too_long(length + CRLF_SIZE, limits)
            if buf[pos] not in (0x20, 0x09):
                if limits.max_header_count and progress.fields >= limits.max_header_count:
                    raise too_many_fields(limits)
                progress.fields += 1
        pos = search = eol + 2
    progress.line_start = pos - start
    if bare >= 0:
        raise bad_request(f"{name} in the request head")
    progress.checked = checked_upto(buf) - start
    length = progress.checked - progress.line_start
    if not progress.request_line_done:
        if limits.max_request_line and length > limits.max_request_line:
            raise _request_line_too_long(length, limits)
    elif max_line is not None and length > max_line:
        # The line's CRLF is still to come; it counts all the same.
        raise field_line_too_long(length + CRLF_SIZE, limits)
    if limits.max_head_size and end - start >= limits.max_head_size:
        raise _head_too_large(limits)


# ---------------------------------------------------------------------------
# The request line


def _parse_version(version: str, limits: Limits) -> tuple[int, int]:
    m = grammar.HTTP_VERSION.fullmatch(version)
    if m is None:
        raise bad_request(f"invalid HTTP version {quote(version)}", "Invalid HTTP version")
    major, minor = int(m.group(1)), int(m.group(2))
    if major == 1 and (minor <= 1 or limits.permit_unconventional_http_version):
        return (1, minor)
    raise ProtocolError(
        505, "HTTP version not supported", f"unsupported HTTP version {quote(version)}"
    )


def _parse_method(method: str, limits: Limits) -> str:
    if grammar.TOKEN.fullmatch(method) is None or (
        not limits.permit_unconventional_http_method
        and grammar.CONVENTIONAL_METHOD.fullmatch(method) is None
    ):
        raise bad_request(f"invalid method {quote(method)}", "Invalid method")
    if limits.casefold_http_method:
        return method.upper()
    return method


def _slow_request_line(
    line: str, limits: Limits
) -> tuple[str, str, tuple[int, int], str, str, str | None, str | None]:
    """Parse a request line exactly: method, target, version, path, query,
    absolute scheme and authority; or raise the fault it shows."""
    fault = line_break_fault(line)
    if fault:
        raise bad_request(f"{fault} in the request line")
    if limits.max_request_line and len(line) > limits.max_request_line:
        raise _request_line_too_long(len(line), limits)
    if grammar.FIELD_VALUE.fullmatch(line) is None:
        raise bad_request(
            f"control character in request line {quote(line)}", "Invalid request line"
        )
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise bad_request(
            f"request line is not 'method SP target SP version' {quote(line)}",
            "Invalid request line",
        )
    method, target, version_text = parts
    version = _parse_version(version_text, limits)
    method = _parse_method(method, limits)
    if grammar.TARGET.fullmatch(target) is None:
        raise bad_request(f"invalid character in request target {quote(target)}", "Invalid target")
    first = target[0]
    if first == "/":
        if method == "CONNECT":
            raise bad_request("CONNECT needs an authority-form target", "Invalid target")
        path, _, query = target.partition("?")
        return method, target, version, path, query, None, None
    if target == "*":
        if method != "OPTIONS":
            raise bad_request(f"asterisk-form target with method {quote(method)}", "Invalid target")
        return method, target, version, "*", "", None, None
    if method == "CONNECT":
        if grammar.AUTHORITY_FORM.fullmatch(target) is None:
            raise bad_request(f"invalid CONNECT target {quote(target)}", "Invalid target")
        # RFC 9110 9.1: a method the server does not implement -> 501. A WSGI
        # application cannot take over the connection to run a tunnel.
        raise ProtocolError(501, "CONNECT is not supported", f"CONNECT {quote(target)}")
    m = grammar.ABSOLUTE_FORM.fullmatch(target)
    if m is None:
        raise bad_request(f"invalid request target {quote(target)}", "Invalid target")
    scheme, authority, rest = m.group(1).lower(), m.group(2), m.group(3)
    if scheme not in ("http", "https"):
        raise bad_request(f"unsupported scheme in target {quote(target)}", "Invalid target")
    if not authority or "@" in authority or grammar.HOST.fullmatch(authority) is None:
        # RFC 9110 4.2.1: an http(s) URI needs a host; userinfo is an error.
        raise bad_request(f"invalid authority in target {quote(target)}", "Invalid target")
    path, _, query = rest.partition("?")
    return method, target, version, path or "/", query, scheme, authority


# ---------------------------------------------------------------------------
# Framing fields


def _parse_transfer_encoding(values: list[str]) -> None:
    """Accept exactly one ``chunked``, the final coding; refuse anything else.

    Strict beyond RFC 9110 5.6.1 on one point: an empty list element (``",
    chunked"``) is refused rather than ignored, because framing fields are
    where two parsers' disagreements become request smuggling.
    """
    if len(values) == 1 and values[0].lower() == "chunked":
        return
    codings = [item.strip(" \t") for value in values for item in value.split(",")]
    if not any(codings):
        raise bad_request("empty Transfer-Encoding", "Invalid Transfer-Encoding")
    if not all(codings):
        raise bad_request(
            f"empty element in Transfer-Encoding {quote(', '.join(values))}",
            "Invalid Transfer-Encoding",
        )
    for coding in codings:
        if grammar.TRANSFER_CODING.fullmatch(coding) is None:
            raise bad_request(
                f"malformed transfer coding {quote(coding)}", "Invalid Transfer-Encoding"
            )
    lowered = [c.lower() for c in codings]
    if lowered[-1] != "chunked":
        # RFC 9112 6.3: chunked not final -> length unknowable -> MUST 400.
        raise bad_request(
            f"chunked is not the final transfer coding {quote(', '.join(codings))}",
            "Invalid Transfer-Encoding",
        )
    if lowered.count("chunked") > 1:
        raise bad_request("chunked applied more than once", "Invalid Transfer-Encoding")
    if len(lowered) == 1:
        return  # "chunked" with OWS around it
    # Well-formed, chunked last, but another coding before it (gzip, ...).
    raise ProtocolError(
        501, "Transfer coding not supported", f"transfer codings {quote(', '.join(codings))}"
    )


def _parse_content_length(values: list[str], limits: Limits) -> int:
    if len(values) != 1:
        raise bad_request("more than one Content-Length field", "Invalid Content-Length")
    value = values[0]
    if grammar.DIGITS.fullmatch(value) is None:
        # Also refuses "5, 5" lists (RFC 9112 6.3 allows accepting equal ones).
        raise bad_request(f"invalid Content-Length {quote(value)}", "Invalid Content-Length")
    if len(value) > MAX_CONTENT_LENGTH_DIGITS:
        raise bad_request(f"Content-Length {quote(value)} too long", "Invalid Content-Length")
    length = int(value)
    if limits.max_body_size and length > limits.max_body_size:
        raise ProtocolError(
            413,
            "Request body too large",
            f"Content-Length {length} > limit {limits.max_body_size}",
        )
    return length


def _tokens(values: list[str]) -> list[str]:
    """The lowercased members of comma-separated list fields."""
    if len(values) == 1 and "," not in values[0]:
        return [values[0].lower()]
    return [t for value in values for t in (x.strip(" \t").lower() for x in value.split(",")) if t]


# ---------------------------------------------------------------------------
# The whole head


def parse_head(
    buf: bytes | bytearray, start: int, end: int, limits: Limits, skipped: int
) -> Request:
    """Parse the head ``buf[start:end]`` (its final CRLFCRLF excluded).

    ``skipped`` counts the empty-line bytes dropped before it (for head_size).
    """
    size = end + 4 - start
    if limits.max_head_size and size > limits.max_head_size:
        # Refuse with what an incremental read would have found first.
        check_partial_head(buf[: start + limits.max_head_size], start, HeadProgress(), limits)
        raise _head_too_large(limits)
    head = buf[start:end].decode("latin-1")
    lines = head.split("\r\n")

    # Request line: the common shapes without a regex, the rest exactly.
    line = lines[0]
    method = target = path = query = ""
    version: tuple[int, int] | None = None
    if line.isprintable() and len(line) <= (limits.max_request_line or NO_LIMIT):
        parts = line.split(" ")
        if len(parts) == 3:
            method, target, version_text = parts
            if method in _COMMON_METHODS and target[:1] == "/" and "#" not in target:
                if version_text == "HTTP/1.1":
                    version = HTTP_11
                elif version_text == "HTTP/1.0":
                    version = HTTP_10
    scheme = authority = None
    if version is None:
        method, target, version, path, query, scheme, authority = _slow_request_line(line, limits)
    else:
        q = target.find("?")
        if q < 0:
            path = target
        else:
            path, query = target[:q], target[q + 1 :]

    hits: list[int] = []
    headers = None
    max_line = limits.max_field_line
    if len(head) <= (NO_LIMIT if max_line is None else max_line) and len(lines) - 1 <= (
        limits.max_header_count or NO_LIMIT
    ):
        headers = fast_fields(lines, _SPECIAL_HEADERS, hits)
    if headers is None:
        hits = []
        headers = parse_fields(lines, 1, limits, _SPECIAL_HEADERS, hits)

    content_length: int | None = None
    chunked = False
    keep_alive = version >= HTTP_11
    expect_continue = False
    if hits:
        host: str | None = None
        lengths: list[str] | None = None
        codings: list[str] | None = None
        connection: list[str] | None = None
        expect: list[str] | None = None
        for index in hits:
            name, value = headers[index]
            if name == "HOST":
                if host is not None:
                    raise bad_request("more than one Host field", "Invalid Host")
                host = value
            elif name == "CONNECTION":
                connection = [value] if connection is None else [*connection, value]
            elif name == "CONTENT-LENGTH":
                lengths = [value] if lengths is None else [*lengths, value]
            elif name == "TRANSFER-ENCODING":
                codings = [value] if codings is None else [*codings, value]
            else:
                expect = [value] if expect is None else [*expect, value]
        if host is None:
            if version >= HTTP_11:
                raise bad_request("HTTP/1.1 request without Host", "Missing Host")
        elif host not in _hosts.entries:
            if grammar.HOST.fullmatch(host) is None:
                raise bad_request(f"invalid Host {quote(host)}", "Invalid Host")
            _hosts.remember(host, True)
        if codings is not None:
            if lengths is not None:
                raise bad_request(
                    "both Transfer-Encoding and Content-Length", "Invalid message framing"
                )
            if version < HTTP_11:
                raise bad_request(
                    "Transfer-Encoding in an HTTP/1.0 request", "Invalid message framing"
                )
            _parse_transfer_encoding(codings)
            chunked = True
        elif lengths is not None:
            content_length = _parse_content_length(lengths, limits)
        if connection is not None:
            option = connection[0].lower() if len(connection) == 1 else ""
            if option == "close":
                keep_alive = False
            elif option == "keep-alive":
                keep_alive = True
            else:
                tokens = _tokens(connection)
                if "close" in tokens:
                    keep_alive = False
                elif "keep-alive" in tokens:
                    keep_alive = True
        if expect is not None and version >= HTTP_11:
            # RFC 9110 10.1.1: 100-continue is the only expectation defined;
            # a server MUST ignore it in HTTP/1.0 requests (so all of Expect).
            members = _tokens(expect)
            for member in members:
                if member != "100-continue":
                    raise ProtocolError(417, "Expectation not supported", f"Expect {quote(member)}")
            # Nothing to wait for without a body (RFC 9110 10.1.1: a client
            # MUST NOT send 100-continue without content).
            expect_continue = bool(members) and (chunked or bool(content_length))
    elif version >= HTTP_11:
        raise bad_request("HTTP/1.1 request without Host", "Missing Host")

    return Request(
        method,
        target,
        path,
        query,
        version,
        headers,
        content_length,
        chunked,
        keep_alive,
        expect_continue,
        scheme,
        authority,
        size + skipped,
        line,
    )
