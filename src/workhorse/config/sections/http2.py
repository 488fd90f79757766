"""HTTP/2: accepted for compatibility; workhorse speaks HTTP/1.x."""

# setting() returns a dataclasses.field (a copied default for lists and dicts).
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass

from workhorse.config import converters as c
from workhorse.config.registry import Support, setting

SECTION = "HTTP/2"
_H1_ONLY = "workhorse speaks HTTP/1.0 and 1.1 only; put an HTTP/2 proxy in front"


@dataclass(init=False, repr=False, eq=False)
class HTTP2:
    http_protocols: list[str] = setting(
        ["h1"],
        section=SECTION,
        flags=("--http-protocols",),
        metavar="STRING",
        convert=c.http_protocols,
        support=Support.ACCEPTED,
        note=_H1_ONLY,
        default_doc="h1",
        help="HTTP versions to offer, most preferred first: h1, h2, h3.",
    )
    http2_cleartext: str = setting(
        "off",
        section=SECTION,
        flags=("--http2-cleartext",),
        metavar="STRING",
        convert=c.http2_cleartext,
        support=Support.ACCEPTED,
        note=_H1_ONLY,
        help="HTTP/2 without TLS (h2c): off, prior-knowledge, upgrade or both.",
    )
    http2_max_concurrent_streams: int = setting(
        100,
        section=SECTION,
        flags=("--http2-max-concurrent-streams",),
        metavar="INT",
        convert=c.non_negative_int,
        support=Support.ACCEPTED,
        note=_H1_ONLY,
        help="Most concurrent streams per HTTP/2 connection.",
    )
    http2_initial_window_size: int = setting(
        65535,
        section=SECTION,
        flags=("--http2-initial-window-size",),
        metavar="INT",
        convert=c.non_negative_int,
        support=Support.ACCEPTED,
        note=_H1_ONLY,
        help="Initial HTTP/2 flow-control window in bytes.",
    )
    http2_max_frame_size: int = setting(
        16384,
        section=SECTION,
        flags=("--http2-max-frame-size",),
        metavar="INT",
        convert=c.bounded_int(16384, 16777215),
        support=Support.ACCEPTED,
        note=_H1_ONLY,
        help="Largest HTTP/2 frame payload in bytes (16384-16777215).",
    )
    http2_max_header_list_size: int = setting(
        65536,
        section=SECTION,
        flags=("--http2-max-header-list-size",),
        metavar="INT",
        convert=c.non_negative_int,
        support=Support.ACCEPTED,
        note=_H1_ONLY,
        help="Largest header list of an HTTP/2 request in bytes.",
    )
