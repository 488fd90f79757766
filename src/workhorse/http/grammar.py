"""The ABNF of RFC 9110/9112 that the parser and writer need, compiled once.

Strategy: the hot path avoids regular expressions where a ``str`` method does
the same job faster (splitting on SP, ``partition(":")``, ``isprintable()``
as the control byte check); the precise expressions below are used on the
slow path, to validate what the fast checks could not vouch for and to name
the rule a bad request broke. Names follow the RFC productions they implement.
"""

from __future__ import annotations

import re
from typing import Final

# tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_"
#         / "`" / "|" / "~" / DIGIT / ALPHA                       (RFC 9110 5.6.2)
_TCHAR = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
TOKEN: Final = re.compile(_TCHAR + "+")

# Gunicorn's "conventional" method: a token without lowercase letters, 3..20
# characters long (every IANA-registered method fits).
CONVENTIONAL_METHOD: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Z]{3,20}")

# Methods seen on almost every request, accepted without a regex.
COMMON_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"}
)

# HTTP-version = HTTP-name "/" DIGIT "." DIGIT                     (RFC 9112 2.3)
HTTP_VERSION: Final = re.compile(r"HTTP/([0-9])\.([0-9])")

# request-target characters: VCHAR and obs-text, except "#" (a fragment is not
# part of a request-target, RFC 9112 3.2). obs-text is accepted as nginx does:
# clients that send raw UTF-8 in paths exist, and it cannot confuse framing.
TARGET: Final = re.compile(r"[\x21\x22\x24-\x7e\x80-\xff]+")

# absolute-form, restricted to the schemes a WSGI server can serve:
# "http" / "https" "://" authority path-abempty [ "?" query ]
ABSOLUTE_FORM: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?]*)(.*)", re.DOTALL)

# authority-form = uri-host ":" port                               (RFC 9112 3.2.3)
AUTHORITY_FORM: Final = re.compile(
    r"(?:\[[0-9A-Za-z:._~%!$&'()*+,;=\-]+\]|[0-9A-Za-z._~%!$&'()*+,;=\-]+):[0-9]+"
)

# Host = uri-host [ ":" port ]                                     (RFC 9110 7.2)
# uri-host is an IP-literal in brackets or a reg-name / IPv4address; no
# userinfo ("@"), no path ("/"), nothing that could confuse a proxy's routing.
HOST: Final = re.compile(
    r"(?:\[[0-9A-Za-z:._~%!$&'()*+,;=\-]+\]|[0-9A-Za-z._~%!$&'()*+,;=\-]*)(?::[0-9]*)?"
)

# field-value characters: VCHAR, obs-text, SP, HTAB                (RFC 9110 5.5)
FIELD_VALUE: Final = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
# A character that may not appear in a field value we send.
BAD_VALUE_CHAR: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )                (RFC 9112 4)
REASON_PHRASE: Final = re.compile(r"[\t\x20-\x7e\x80-\xff]*")

# Content-Length = 1*DIGIT                                         (RFC 9110 8.6)
DIGITS: Final = re.compile(r"[0-9]+")

# chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF             (RFC 9112 7.1)
# chunk-size = 1*HEXDIG
# chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
# chunk-ext-val = token / quoted-string
_QUOTED_STRING = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_TOKEN_B = _TCHAR.encode() + b"+"
CHUNK_LINE: Final = re.compile(
    rb"([0-9A-Fa-f]+)((?:[\t ]*;[\t ]*"
    + _TOKEN_B
    + rb"(?:[\t ]*=[\t ]*(?:"
    + _TOKEN_B
    + rb"|"
    + _QUOTED_STRING
    + rb"))?)*)"
)

# transfer-coding = token *( OWS ";" OWS transfer-parameter )       (RFC 9112 7)
# transfer-parameter = token BWS "=" BWS ( token / quoted-string )
TRANSFER_CODING: Final = re.compile(
    _TCHAR
    + r"+(?:[\t ]*;[\t ]*"
    + _TCHAR
    + r"+[\t ]*=[\t ]*(?:"
    + _TCHAR
    + r'+|"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"))*'
)

# Fields a trailer section may not carry (RFC 9110 6.5.1: framing, routing,
# connection management, request modifiers, authentication, content format).
# A sender that puts them there is buggy or hostile; either way 400.
FORBIDDEN_TRAILERS: Final = frozenset(
    {
        "TRANSFER-ENCODING", "CONTENT-LENGTH", "TRAILER", "HOST", "CONNECTION",
        "KEEP-ALIVE", "PROXY-CONNECTION", "TE", "UPGRADE", "EXPECT", "MAX-FORWARDS",
        "RANGE", "IF-MATCH", "IF-NONE-MATCH", "IF-MODIFIED-SINCE", "IF-UNMODIFIED-SINCE",
        "IF-RANGE", "CACHE-CONTROL", "AUTHORIZATION", "PROXY-AUTHORIZATION", "COOKIE",
        "CONTENT-TYPE", "CONTENT-ENCODING", "CONTENT-RANGE", "FORWARDED",
    }
)  # fmt: skip
# ... and any X-Forwarded-* field, which a proxy-trusting app reads for scheme/client.
FORBIDDEN_TRAILER_PREFIX: Final = "X-FORWARDED-"

# Response fields PEP 3333 forbids an application to set (hop-by-hop, RFC 9110
# 7.6.1): framing and connection management belong to the server.
HOP_BY_HOP: Final = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
     "upgrade"}
)  # fmt: skip
