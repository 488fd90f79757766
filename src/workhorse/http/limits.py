"""How much of a request the parser accepts before it refuses.

Strategy: one frozen dataclass, built once per worker from the settings by the
caller (``http`` imports nothing else of workhorse) and shared by every
connection of that worker. Where Gunicorn has a setting, the field has
Gunicorn's default and counts what Gunicorn counts (a header field's size
includes its CRLF), so a migrated deployment keeps its limits. Here ``0``
means "no limit" for every numeric field; Gunicorn's own meanings of 0 and
its caps (8190 request-line bytes, 32768 fields) are applied by the settings'
converters before the values get here. The other limits are named constants
below, each with the reason for its value.

Every limit is checked while data is still arriving, so the buffer of one
connection never grows past the limit waiting for an end of line.
"""

from __future__ import annotations

import dataclasses

#: Gunicorn's ``limit_request_line`` default: the longest request line
#: (method, target and version, without the CRLF). Longer -> 414.
DEFAULT_MAX_REQUEST_LINE = 4094
#: Gunicorn's ``limit_request_fields`` default: the most header fields.
#: More -> 431.
DEFAULT_MAX_HEADER_COUNT = 100
#: Gunicorn's ``limit_request_field_size`` default: the largest header field
#: line (name, colon, value and the CRLF that ends it: Gunicorn counts the
#: CRLF, so the longest ``Name: value`` is 8188 bytes). Larger -> 431.
DEFAULT_MAX_HEADER_FIELD_SIZE = 8190
#: Bytes of the CRLF that ends a line, counted in a header field's size.
CRLF_SIZE = 2
#: The whole head (request line, fields, CRLFs). Browsers send 1-4 KiB, a
#: heavy cookie jar 8-16 KiB; 64 KiB is twice nginx's largest default
#: (4 buffers of 8 KiB) so nothing that passes a front proxy is refused here,
#: while 100 fields of 8190 bytes (800 KiB) would be refused. Larger -> 431.
DEFAULT_MAX_HEAD_SIZE = 65536
#: One chunk-size line, extensions included. No client we know of sends chunk
#: extensions and WSGI cannot show them to the application, but the line is
#: buffered whole before it is parsed, so it needs a bound: 4 KiB accepts any
#: plausible use and keeps the per-chunk buffer small. Longer -> 400.
DEFAULT_MAX_CHUNK_EXTENSION_SIZE = 4096
#: The whole trailer section of a chunked body (fields and CRLFs). Trailers
#: carry a few short fields (checksums, timing); the section is buffered
#: whole, so it gets the size of two maximal header lines. Larger -> 431.
DEFAULT_MAX_TRAILER_SIZE = 16384


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """Parser limits and the Gunicorn leniency switches (all off by default)."""

    #: Longest request line in bytes, without CRLF (``limit_request_line``). 0: no limit.
    max_request_line: int = DEFAULT_MAX_REQUEST_LINE
    #: Most header fields (``limit_request_fields``). 0: no limit.
    max_header_count: int = DEFAULT_MAX_HEADER_COUNT
    #: Largest header field line, its CRLF counted (``limit_request_field_size``);
    #: a folded field counts every line with its CRLF. 0: no limit.
    max_header_field_size: int = DEFAULT_MAX_HEADER_FIELD_SIZE
    #: Largest request body in bytes; more -> 413. 0: no limit.
    max_body_size: int = 0
    #: Largest head in bytes, request line and final CRLF included. 0: no limit
    #: (not advised: the other limits then bound the head only per line).
    max_head_size: int = DEFAULT_MAX_HEAD_SIZE
    #: Longest chunk-size line (size and extensions) of a chunked body. 0: no limit.
    max_chunk_extension_size: int = DEFAULT_MAX_CHUNK_EXTENSION_SIZE
    #: Largest trailer section of a chunked body. 0: no limit.
    max_trailer_size: int = DEFAULT_MAX_TRAILER_SIZE
    #: Unfold obsolete line folding (a field line starting with SP/HTAB
    #: continues the previous one) into one SP instead of answering 400.
    permit_obsolete_folding: bool = False
    #: Accept any token as a method, not only 3-20 characters without lowercase.
    permit_unconventional_http_method: bool = False
    #: Accept HTTP/1.2 .. HTTP/1.9 (served as HTTP/1.1) instead of answering 505.
    permit_unconventional_http_version: bool = False
    #: Uppercase the method after it was validated (Gunicorn's order: a
    #: lowercase method still needs ``permit_unconventional_http_method``).
    casefold_http_method: bool = False
    #: Accept and remove SP/HTAB between a field name and its colon instead of
    #: answering 400 (RFC 9112 5.1 says MUST reject; known smuggling vector).
    strip_header_spaces: bool = False

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "bool":
                if not isinstance(value, bool):
                    raise TypeError(f"Limits.{field.name} must be a bool, not {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Limits.{field.name} must be an int >= 0, not {value!r}")

    @property
    def max_field_line(self) -> int | None:
        """The longest field line without its CRLF, or None for no limit.

        -1 (a limit below the CRLF's own size) refuses every field line.
        """
        if not self.max_header_field_size:
            return None
        return max(self.max_header_field_size - CRLF_SIZE, -1)
