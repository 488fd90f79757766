"""Sans-I/O HTTP/1.1, server side: bytes in, events out; calls in, bytes out.

Strategy: nothing in this package touches a socket, a thread or the rest of
workhorse, so the sync worker, the threaded worker and the tests drive the
same code. :class:`ServerConnection` holds one connection's state; the
request head is parsed in one pass over a latin-1 decoded copy, with ``str``
methods on the common path and exact RFC 9110/9112 rules on the rare one;
bodies stream out as :class:`Data` events; responses are framed by
``send_response`` / ``send_data`` / ``send_end``. The client's mistakes raise
:class:`ProtocolError` carrying the status to answer with (see
:func:`error_response`); ours raise :class:`LocalProtocolError`.

Modules: ``connection`` (the state machine), ``parser`` (request line,
head, framing fields), ``fields`` (field lines), ``body`` (Content-Length
and chunked readers), ``writer`` (response heads and framing), ``events``,
``errors``, ``limits``, ``grammar`` (the ABNF as regexes), ``memo``,
``dates``, and ``proxy`` (the PROXY protocol header, read before HTTP).

Where the RFCs leave a choice we take the strict one that closes request
smuggling vectors; each module's docstring lists its choices.
"""

from .connection import DEFAULT_LIMITS, ServerConnection
from .dates import http_date
from .errors import LocalProtocolError, ProtocolError
from .events import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    NeedData,
    Paused,
    Request,
)
from .limits import Limits
from .proxy import ProxyInfo, parse_proxy_header
from .writer import DEFAULT_SERVER_NAME, complete_response, error_response

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_SERVER_NAME",
    "NEED_DATA",
    "PAUSED",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "Limits",
    "LocalProtocolError",
    "NeedData",
    "Paused",
    "ProtocolError",
    "ProxyInfo",
    "Request",
    "ServerConnection",
    "complete_response",
    "error_response",
    "http_date",
    "parse_proxy_header",
]
