"""Security: limits on what a client may send and how slowly it may send it."""

# setting() returns a dataclasses.field (a copied default for lists and dicts).

from __future__ import annotations

from dataclasses import dataclass

from workhorse.config import converters as c
from workhorse.config.registry import Support, setting

SECTION = "Security"


@dataclass(init=False, repr=False, eq=False)
class Security:
    limit_request_line: int = setting(
        4094,
        section=SECTION,
        flags=("--limit-request-line",),
        metavar="INT",
        convert=c.request_line_limit,
        help=(
            "Longest request line (method, target, version; the CRLF not counted) in"
            " bytes; longer gets 414. 0: no limit; above 8190: 8190."
        ),
        details=(
            "Gunicorn's caps and meanings: values above 8190 are applied as 8190 (with a"
            " warning), 0 means no limit. Whatever the limits, the whole request head"
            " may not exceed 64 KiB (431): a workhorse protection Gunicorn lacks."
        ),
    )
    limit_request_fields: int = setting(
        100,
        section=SECTION,
        flags=("--limit-request-fields",),
        metavar="INT",
        convert=c.header_count_limit,
        help=(
            "Most header fields a request may have; more gets 431."
            " 0 or above 32768: 32768."
        ),
        details=(
            "As in Gunicorn, 0 and values above 32768 are applied as 32768."
            " Every field line counts, including those `header_map=drop` removes"
            " (Gunicorn counts only the kept ones)."
        ),
    )
    limit_request_field_size: int = setting(
        8190,
        section=SECTION,
        flags=("--limit-request-field_size",),
        metavar="INT",
        convert=c.header_field_size_limit,
        help=(
            "Largest header field line in bytes, counting name, colon, value and the"
            " CRLF; larger gets 431. 0: 8190."
        ),
        details=(
            "Counted as Gunicorn counts it: the line with its CRLF, so with the default"
            " 8190 the longest accepted `Name: value` line is 8188 bytes; a folded field"
            " (`permit_obsolete_folding`) counts all its lines with their CRLFs. 0 means"
            " 8190, as in Gunicorn's parser (its documentation says unlimited). The flag"
            " keeps Gunicorn's spelling, with an underscore."
        ),
    )
    limit_request_body: int = setting(
        0,
        section=SECTION,
        flags=("--limit-request-body",),
        metavar="BYTES",
        convert=c.byte_size,
        support=Support.NEW,
        help="Largest request body in bytes, e.g. 10M; larger ones get 413 (0: no limit).",
        details=(
            "A declared Content-Length above the limit is refused before the"
            " application runs; a chunked body is refused when it crosses it."
        ),
    )
    header_timeout: float = setting(
        30,
        section=SECTION,
        flags=("--header-timeout",),
        metavar="SECONDS",
        convert=c.seconds,
        support=Support.NEW,
        help="Seconds a client gets to send a complete request head (0: no limit).",
        details="Counts from the first byte of the request; protects against slow-header clients.",
    )
    body_timeout: float = setting(
        30,
        section=SECTION,
        flags=("--body-timeout",),
        metavar="SECONDS",
        convert=c.seconds,
        support=Support.NEW,
        help="Longest wait for the next piece of a request body (0: no limit).",
    )
    send_timeout: float = setting(
        30,
        section=SECTION,
        flags=("--send-timeout",),
        metavar="SECONDS",
        convert=c.seconds,
        support=Support.NEW,
        help="Drop a client that reads none of the response for this many seconds (0: no limit).",
    )
