"""SSL: serving HTTPS directly."""

# setting() returns a dataclasses.field (a copied default for lists and dicts).

from __future__ import annotations

from dataclasses import dataclass

from workhorse.config import converters as c
from workhorse.config.registry import Support, setting

SECTION = "SSL"


@dataclass(init=False, repr=False, eq=False)
class SSL:
    keyfile: str | None = setting(
        None,
        section=SECTION,
        flags=("--keyfile",),
        metavar="FILE",
        convert=c.optional_string,
        help="Private key file (PEM).",
    )
    certfile: str | None = setting(
        None,
        section=SECTION,
        flags=("--certfile",),
        metavar="FILE",
        convert=c.optional_string,
        help="Certificate file (PEM); with keyfile it turns HTTPS on.",
    )
    ssl_version: int = setting(
        2,
        section=SECTION,
        flags=("--ssl-version",),
        metavar="STRING",
        convert=c.ssl_version,
        support=Support.ACCEPTED,
        note="deprecated and ignored by Gunicorn too; set minimum_version in the ssl_context hook",
        default_doc="2 (ssl.PROTOCOL_TLS)",
        help="SSL protocol version (deprecated).",
    )
    cert_reqs: int = setting(
        0,
        section=SECTION,
        flags=("--cert-reqs",),
        metavar="INT",
        convert=c.cert_reqs,
        default_doc="0 (ssl.CERT_NONE)",
        help="Client certificates: 0 not asked, 1 optional, 2 required.",
    )
    ca_certs: str | None = setting(
        None,
        section=SECTION,
        flags=("--ca-certs",),
        metavar="FILE",
        convert=c.optional_string,
        help="CA certificates file used to verify client certificates.",
    )
    suppress_ragged_eofs: bool = setting(
        True,
        section=SECTION,
        flags=("--suppress-ragged-eofs",),
        action="store_true",
        convert=c.boolean,
        help="Treat a TLS connection closed without close_notify as a normal end of file.",
    )
    do_handshake_on_connect: bool = setting(
        False,
        section=SECTION,
        flags=("--do-handshake-on-connect",),
        action="store_true",
        convert=c.boolean,
        help="Do the TLS handshake at accept time instead of on the first read.",
    )
    ciphers: str | None = setting(
        None,
        section=SECTION,
        flags=("--ciphers",),
        metavar="STRING",
        convert=c.optional_string,
        help="Allowed ciphers, in OpenSSL cipher-list syntax; unset: Python's defaults.",
    )
