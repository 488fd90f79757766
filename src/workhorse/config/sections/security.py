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
        convert=c.non_negative_int,
        help="Longest request line (method, target, version) in bytes; 0 means no limit.",
        details="Values above 8190 are capped at 8190. Longer request lines get 414.",
    )
    limit_request_fields: int = setting(
        100,
        section=SECTION,
        flags=("--limit-request-fields",),
        metavar="INT",
        convert=c.non_negative_int,
        help="Most header fields a request may have; 0 or above 32768 means 32768.",
    )
    limit_request_field_size: int = setting(
        8190,
        section=SECTION,
        flags=("--limit-request-field_size",),
        metavar="INT",
        convert=c.non_negative_int,
        help="Largest header field (name and value) in bytes.",
        details="The flag keeps Gunicorn's spelling, with an underscore.",
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
