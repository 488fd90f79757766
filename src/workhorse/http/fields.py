"""Field lines, shared by the request head and the trailer section.

Strategy: :func:`fast_fields` is the common path. It trusts a line only when
it was seen before (the line memo) or when ``str.isprintable()`` vouches for
it (no control byte, no bare CR or LF, no HTAB) and its name was validated
before (the name memo); the caller has already bounded line length and
count for the whole head. Anything else makes it give up, and
:func:`parse_fields` parses every line exactly, raising the ProtocolError
that names the broken rule, in one canonical order per line: bare CR/LF,
length, field count, control bytes, folding, syntax. The same order is used
by the incremental checks of a head still arriving (``parser``), so a request
with one fault gets the same answer however its bytes were split.

Values lose their surrounding SP/HTAB; names are uppercased (what Gunicorn's
hooks see). Obsolete line folding is refused unless the limits permit it,
and then each fold becomes one SP.
"""

from __future__ import annotations

import sys
from typing import Final

from . import grammar
from .errors import ProtocolError, bad_request, quote
from .limits import CRLF_SIZE, Limits
from .memo import Memo

#: Valid field names remembered (see memo.py): real clients use a few dozen.
NAME_MEMO_SIZE: Final = 512
#: Names longer than this are not remembered.
NAME_MEMO_MAX_LENGTH: Final = 64
#: Parsed header lines remembered (about 150 KiB at most).
LINE_MEMO_SIZE: Final = 1024
#: Longer lines are not remembered: long values (cookies, tokens) rarely repeat.
LINE_MEMO_MAX_LENGTH: Final = 160

NO_LIMIT: Final = sys.maxsize
_CR: Final = 13
_LF: Final = 10

#: Valid field name -> uppercased.
_names: Memo[str] = Memo(NAME_MEMO_SIZE, NAME_MEMO_MAX_LENGTH)
#: Header line that passed the fast checks -> (NAME, value).
_lines: Memo[tuple[str, str]] = Memo(LINE_MEMO_SIZE, LINE_MEMO_MAX_LENGTH)


def line_break_fault(line: str | bytes) -> str | None:
    """Name the bare CR or LF in a line that should contain neither."""
    if isinstance(line, str):
        has_lf, has_cr = "\n" in line, "\r" in line
    else:
        has_lf, has_cr = b"\n" in line, b"\r" in line
    if has_lf:
        return "bare LF (lines must end with CRLF)"
    if has_cr:
        return "bare CR"
    return None


def find_bare_break(buf: bytes | bytearray, begin: int, start: int) -> tuple[int, str]:
    """The first bare LF or CR in ``buf[begin:]`` as ``(offset, name)``, or ``(-1, "")``.

    ``start`` is where the current element (head, line, section) begins: a LF
    there has no CR before it. A CR in the last byte may still get its LF.
    """
    first, name = -1, ""
    lf = buf.find(b"\n", begin)
    while lf >= 0:
        if lf == start or buf[lf - 1] != _CR:
            first, name = lf, "bare LF (lines must end with CRLF)"
            break
        lf = buf.find(b"\n", lf + 1)
    last = len(buf) - 1
    stop = first if first >= 0 else len(buf)
    cr = buf.find(b"\r", begin, stop)
    while cr >= 0:
        if cr < last and buf[cr + 1] != _LF:
            return cr, "bare CR"
        cr = buf.find(b"\r", cr + 1, stop)
    return first, name


def checked_upto(buf: bytes | bytearray) -> int:
    """How far a bare CR/LF scan of ``buf`` is final: all but a trailing CR."""
    end = len(buf)
    return end - 1 if end and buf[end - 1] == _CR else end


def field_line_too_long(size: int, limits: Limits) -> ProtocolError:
    """``size`` counts the CRLF of every line of the field, as the limit does."""
    return ProtocolError(
        431,
        "Request header field too large",
        f"header field of {size} bytes with its CRLF > limit {limits.max_header_field_size}",
    )


def too_many_fields(limits: Limits) -> ProtocolError:
    return ProtocolError(
        431, "Too many request header fields", f"more than {limits.max_header_count} fields"
    )


def _slow_field(
    line: str, index: int, limits: Limits, fields: list[tuple[str, str]], folded: int
) -> tuple[str, str] | None:
    """Parse one field line exactly, or raise the fault it shows.

    Returns None when the line was an obs-fold merged into the previous field.
    ``index`` is the number of fields before this line; ``folded`` is the size
    of the field this line would continue, its lines' CRLFs counted.
    """
    fault = line_break_fault(line)
    if fault:
        raise bad_request(f"{fault} in a header field line")
    max_field = limits.max_header_field_size
    size = len(line) + CRLF_SIZE
    if max_field and size > max_field:
        raise field_line_too_long(size, limits)
    continuation = line[:1] in (" ", "\t")
    if not continuation and limits.max_header_count and index >= limits.max_header_count:
        raise too_many_fields(limits)
    if grammar.FIELD_VALUE.fullmatch(line) is None:
        raise bad_request(f"control character in header field {quote(line)}")
    if continuation:
        if not limits.permit_obsolete_folding:
            raise bad_request(f"obsolete line folding {quote(line)}", "Obsolete line folding")
        if not fields:
            raise bad_request("whitespace before the first header field")
        # Gunicorn's count for a folded field: every line with its CRLF.
        if max_field and folded + size > max_field:
            raise field_line_too_long(folded + size, limits)
        name, value = fields[-1]
        more = line.strip(" \t")
        joined = f"{value} {more}" if value and more else value or more
        fields[-1] = (name, joined)
        return None
    name, colon, value = line.partition(":")
    if not colon:
        raise bad_request(f"header line without a colon {quote(line)}")
    if name[-1:] in (" ", "\t"):
        if not limits.strip_header_spaces:
            raise bad_request(f"whitespace between header field name and colon {quote(line)}")
        name = name.rstrip(" \t")
    if not name:
        raise bad_request(f"empty header field name {quote(line)}")
    if grammar.TOKEN.fullmatch(name) is None:
        raise bad_request(f"invalid character in header field name {quote(name)}")
    upper = name.upper()
    _names.remember(name, upper)
    return upper, value.strip(" \t")


def parse_fields(
    lines: list[str],
    first: int,
    limits: Limits,
    special: frozenset[str],
    hits: list[int],
) -> list[tuple[str, str]]:
    """Parse ``lines[first:]`` exactly as field lines into ``(NAME, value)``.

    The index (in the result) of every field whose name is in ``special`` is
    appended to ``hits``.
    """
    fields: list[tuple[str, str]] = []
    size = 0  # of the field so far, every line's CRLF counted
    for i in range(first, len(lines)):
        line = lines[i]
        parsed = _slow_field(line, len(fields), limits, fields, size)
        if parsed is None:
            size += len(line) + CRLF_SIZE
            continue
        size = len(line) + CRLF_SIZE
        if parsed[0] in special:
            hits.append(len(fields))
        fields.append(parsed)
    return fields


def fast_fields(
    lines: list[str], special: frozenset[str], hits: list[int]
) -> list[tuple[str, str]] | None:
    """The common path of :func:`parse_fields` for ``lines[1:]`` (``lines[0]``
    is the request line), or None.

    The caller has checked that no line can be over its length limit and that
    there are not too many lines; None means "use parse_fields".
    """
    fields: list[tuple[str, str]] = []
    append = fields.append
    seen = _lines.entries.get
    known = _names.entries.get
    for i in range(1, len(lines)):
        line = lines[i]
        field = seen(line)
        if field is None:
            name, colon, value = line.partition(":")
            upper = known(name)
            if upper is None or not colon or not line.isprintable():
                return None
            field = (upper, value.strip(" "))
            _lines.remember(line, field)
        if field[0] in special:
            hits.append(len(fields))
        append(field)
    return fields
