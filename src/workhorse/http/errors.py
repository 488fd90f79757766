"""The two ways an exchange can be wrong, as exceptions.

Strategy: whose fault it is decides the type. The peer's mistakes raise
:class:`ProtocolError`, which carries the status to answer with, so callers
never map exception classes to statuses. Our own mistakes (a bad header from
the application, a call in the wrong state) raise :class:`LocalProtocolError`,
a ``ValueError``, which the WSGI layer turns into a 500.
"""

from __future__ import annotations

from .phrases import REASON_PHRASES

#: How much of an offending input a log detail quotes.
_QUOTE_LIMIT = 60


def quote(data: str | bytes) -> str:
    """A short, printable excerpt of peer input for a log detail."""
    if isinstance(data, bytes):
        data = data.decode("latin-1")
    if len(data) > _QUOTE_LIMIT:
        return repr(data[:_QUOTE_LIMIT]) + "..."
    return repr(data)


class ProtocolError(Exception):
    """The client broke HTTP/1.1; answer with :attr:`status` and close.

    ``reason`` is a short sentence that is safe to send back to the client (it
    never quotes the request); ``detail`` is for the error log and may quote a
    bounded, ``repr``-escaped excerpt of the offending bytes.
    """

    status: int
    reason: str
    detail: str

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        super().__init__(f"{status} {reason}" + (f": {detail}" if detail else ""))
        self.status = status
        self.reason = reason
        self.detail = detail or reason

    @property
    def phrase(self) -> str:
        """The standard reason phrase of :attr:`status` (``"Bad Request"``)."""
        return REASON_PHRASES.get(self.status, "")


class LocalProtocolError(ValueError):
    """We (the server or the application) tried to do something HTTP forbids."""


def bad_request(detail: str, reason: str = "Bad request") -> ProtocolError:
    """A 400 ProtocolError: ``detail`` for the log, ``reason`` for the client."""
    return ProtocolError(400, reason, detail)
