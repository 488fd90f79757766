"""The access log: one record per request, formatted with Gunicorn's atoms.

Strategy: the worker fills an :class:`AccessRecord` (plain values, no
formatting). :class:`AccessFormat` parses ``access_log_format`` once, by
letting Python's own ``%`` operator run over a recording mapping, so it knows
exactly which atoms the format uses and rejects a malformed format up front.
Per request, :meth:`AccessFormat.atoms` computes only those atoms (one small
function call each) into an :class:`AccessAtoms` dict; any other key is
computed on demand by ``__missing__`` with Gunicorn's ``SafeAtoms`` rules
(``{...}`` keys are case-insensitive, anything unknown is ``"-"``, ``"`` in a
string value becomes ``\\"``). The dict is what Gunicorn passes as the log
record's ``args``, so formatters and filters that read ``record.args["h"]``
keep working, and iterating it yields every atom, as with Gunicorn.

Where the values come from: the atoms Gunicorn reads from the WSGI environ
(``h m U q H f a u``) are read from ``record.environ`` too, so middleware that
rewrites the environ (a proxy fix setting ``REMOTE_ADDR``) shows in the log as
it does under Gunicorn. When the environ is empty (the request was rejected
before an environ was built) they come from the record's own fields.

Atoms (``%(x)s``)::

    h         remote address (environ REMOTE_ADDR), "-" if empty
    l         always "-"
    u         user name from a Basic Authorization header, else "-"
    t         time the response finished, [10/Oct/2000:13:55:36 +0200] (local time)
    r         request line as received, e.g. GET /a?b=1 HTTP/1.1
    m         request method
    U         URL path without query string (environ PATH_INFO: decoded,
              SCRIPT_NAME removed, as Gunicorn prints it)
    q         query string ("" when there is none)
    H         protocol, e.g. HTTP/1.1
    s         status code
    B         response body length in bytes (0 if nothing was sent)
    b         response body length, "-" if no response was sent
    f         Referer header, else "-"
    a         User-Agent header, else "-"
    T         request time, whole seconds
    M         request time, whole milliseconds
    D         request time, whole microseconds
    L         request time, decimal seconds ("%d.%06d")
    p         "<pid>" of the worker
    {name}i   request header (case-insensitive, includes headers a
              pre_request hook appended), else "-"
    {name}o   response header (case-insensitive), else "-"
    {name}e   environ variable (case-insensitive), else "-"

workhorse's own atoms::

    queue_ms  time the request waited before a worker took it, in
              milliseconds with 3 decimals; "-" if unknown
    busy      busy workers when the request started; "-" if unknown
    idle      idle workers when the request started; "-" if unknown
    slot      the worker's scoreboard slot
    rid       request id; "-" if empty
    bytes_in  bytes read for the request (head and body)
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _collections_abc import dict_items, dict_keys, dict_values

#: Gunicorn's default ``access_log_format``.
DEFAULT_ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'


@dataclass(slots=True, kw_only=True)
class AccessRecord:
    """What the worker knows about one finished request.

    Header names in ``request_headers`` are upper-case as parsed; headers a
    hook appends may have any case (lookups ignore case).
    """

    remote_addr: str
    method: str
    #: The request target's path, as received (used for ``U`` only when the
    #: environ has no PATH_INFO).
    path: str
    query: str
    version: str
    #: The request line exactly as received, e.g. ``GET /a?b=1 HTTP/1.1``.
    request_line: str
    status: int
    reason: str
    #: Body bytes sent; ``None`` if no response was sent at all.
    response_length: int | None
    request_headers: list[tuple[str, str]]
    response_headers: list[tuple[str, str]]
    environ: Mapping[str, object]
    #: ``time.time()`` when the request started.
    start_time: float
    #: Seconds from the start of the request to the end of the response.
    duration: float
    pid: int
    slot: int
    request_id: str
    bytes_received: int
    #: Seconds the request waited before a worker took it.
    queue_time: float | None = None
    busy_workers: int | None = None
    idle_workers: int | None = None


Getter = Callable[[AccessRecord], object]


class _Absent:
    """Marks a header or environ atom that has no value."""

    __slots__ = ()


_ABSENT = _Absent()


def _escape(value: object) -> object:
    # Gunicorn escapes double quotes in every string atom so that quoted
    # fields such as "%(a)s" stay parseable.
    if type(value) is str and '"' in value:
        return value.replace('"', '\\"')
    return value


def _last_header(headers: list[tuple[str, str]], lname: str) -> object:
    # The last occurrence wins, as in Gunicorn (it builds a dict in order).
    for name, value in reversed(headers):
        if name.lower() == lname:
            return value
    return _ABSENT


def _environ_value(environ: Mapping[str, object], lname: str) -> object:
    value = environ.get(lname.upper(), _ABSENT)
    if value is _ABSENT:
        value = environ.get(lname, _ABSENT)
    if value is _ABSENT:
        for key in environ:
            if key.lower() == lname:
                value = environ[key]
    return value


def _micros(duration: float) -> int:
    return round(duration * 1_000_000)


def basic_auth_user(authorization: object) -> str | None:
    """The user name of a Basic ``Authorization`` header value, if any."""
    if not isinstance(authorization, str) or not authorization.lower().startswith("basic"):
        return None
    parts = authorization.split(" ", 1)
    if len(parts) != 2:
        return None
    try:
        decoded = base64.b64decode(parts[1].strip().encode("utf-8"))
        return decoded.split(b":", 1)[0].decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None


# One function per atom. Each takes the record and returns the raw value;
# escaping is applied by the caller.


def _atom_h(r: AccessRecord) -> object:
    value = r.environ.get("REMOTE_ADDR", r.remote_addr)
    return value if value else "-"


def _atom_l(r: AccessRecord) -> object:
    return "-"


def _atom_u(r: AccessRecord) -> object:
    if r.environ:
        header = r.environ.get("HTTP_AUTHORIZATION")
    else:
        found = _last_header(r.request_headers, "authorization")
        header = None if found is _ABSENT else found
    if header is None:
        return "-"
    return basic_auth_user(header) or "-"


def _atom_r(r: AccessRecord) -> object:
    return r.request_line


def _atom_m(r: AccessRecord) -> object:
    return r.environ.get("REQUEST_METHOD", r.method)


def _atom_U(r: AccessRecord) -> object:
    return r.environ.get("PATH_INFO", r.path)


def _atom_q(r: AccessRecord) -> object:
    return r.environ.get("QUERY_STRING", r.query)


def _atom_H(r: AccessRecord) -> object:
    return r.environ.get("SERVER_PROTOCOL", r.version)


def _atom_s(r: AccessRecord) -> object:
    return str(r.status)


def _atom_B(r: AccessRecord) -> object:
    return 0 if r.response_length is None else r.response_length


def _atom_b(r: AccessRecord) -> object:
    return "-" if r.response_length is None else str(r.response_length)


def _header_or_environ(r: AccessRecord, key: str, lname: str) -> object:
    if r.environ:
        value = r.environ.get(key)
        return "-" if value is None else value
    found = _last_header(r.request_headers, lname)
    return "-" if found is _ABSENT else found


def _atom_f(r: AccessRecord) -> object:
    return _header_or_environ(r, "HTTP_REFERER", "referer")


def _atom_a(r: AccessRecord) -> object:
    return _header_or_environ(r, "HTTP_USER_AGENT", "user-agent")


def _atom_T(r: AccessRecord) -> object:
    return _micros(r.duration) // 1_000_000


def _atom_M(r: AccessRecord) -> object:
    return _micros(r.duration) // 1_000


def _atom_D(r: AccessRecord) -> object:
    return _micros(r.duration)


def _atom_L(r: AccessRecord) -> object:
    seconds, micros = divmod(_micros(r.duration), 1_000_000)
    return f"{seconds}.{micros:06d}"


def _atom_p(r: AccessRecord) -> object:
    return f"<{r.pid}>"


def _atom_queue_ms(r: AccessRecord) -> object:
    return "-" if r.queue_time is None else f"{r.queue_time * 1000.0:.3f}"


def _atom_busy(r: AccessRecord) -> object:
    return "-" if r.busy_workers is None else r.busy_workers


def _atom_idle(r: AccessRecord) -> object:
    return "-" if r.idle_workers is None else r.idle_workers


def _atom_slot(r: AccessRecord) -> object:
    return r.slot


def _atom_rid(r: AccessRecord) -> object:
    return r.request_id or "-"


def _atom_bytes_in(r: AccessRecord) -> object:
    return r.bytes_received


class _ClfClock:
    """Formats ``t``, reusing the text while the second does not change."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: tuple[int, str] = (-1, "")

    def atom_t(self, r: AccessRecord) -> object:
        when = r.start_time + r.duration
        second = int(when)
        cached = self._cache  # one read: another thread may replace it
        if cached[0] == second:
            return cached[1]
        text = time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(second))
        self._cache = (second, text)
        return text


_PLAIN_GETTERS: Mapping[str, Getter] = {
    "h": _atom_h,
    "l": _atom_l,
    "u": _atom_u,
    "r": _atom_r,
    "m": _atom_m,
    "U": _atom_U,
    "q": _atom_q,
    "H": _atom_H,
    "s": _atom_s,
    "B": _atom_B,
    "b": _atom_b,
    "f": _atom_f,
    "a": _atom_a,
    "T": _atom_T,
    "M": _atom_M,
    "D": _atom_D,
    "L": _atom_L,
    "p": _atom_p,
    "queue_ms": _atom_queue_ms,
    "busy": _atom_busy,
    "idle": _atom_idle,
    "slot": _atom_slot,
    "rid": _atom_rid,
    "bytes_in": _atom_bytes_in,
}

#: Every named atom, Gunicorn's then workhorse's.
ATOM_NAMES: tuple[str, ...] = (
    *("h", "l", "u", "t", "r", "m", "U", "q", "H", "s", "B", "b", "f", "a"),
    *("T", "M", "D", "L", "p", "queue_ms", "busy", "idle", "slot", "rid", "bytes_in"),
)


def _braced_getter(lkey: str) -> Getter | None:
    """The getter of a lower-cased ``{name}i``/``{name}o``/``{name}e`` key."""
    if len(lkey) < 4 or not lkey.startswith("{") or lkey[-2] != "}":
        return None
    name, kind = lkey[1:-2], lkey[-1]
    if kind == "i":
        return lambda r: _last_header(r.request_headers, name)
    if kind == "o":
        return lambda r: _last_header(r.response_headers, name)
    if kind == "e":
        return lambda r: _environ_value(r.environ, name)
    return None


class _KeyRecorder:
    """A mapping that records the keys ``%`` formatting asks for."""

    def __init__(self) -> None:
        self.keys: dict[str, None] = {}

    def __getitem__(self, key: str) -> int:
        self.keys[key] = None
        return 0  # formats with %s, %d, %r and %f alike


def format_keys(fmt: str) -> tuple[str, ...]:
    """The ``%(key)`` names ``fmt`` uses, in order; ``ValueError`` if malformed."""
    recorder = _KeyRecorder()
    try:
        fmt % recorder
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"invalid access log format {fmt!r}: {exc}") from None
    return tuple(recorder.keys)


class AccessFormat:
    """A parsed ``access_log_format``: computes per record only what it uses."""

    __slots__ = ("_clock", "_getters", "_plan", "fmt", "keys")

    def __init__(self, fmt: str = DEFAULT_ACCESS_LOG_FORMAT) -> None:
        self.fmt = fmt
        self.keys = format_keys(fmt)
        self._clock = _ClfClock()
        self._getters: dict[str, Getter] = dict(_PLAIN_GETTERS)
        self._getters["t"] = self._clock.atom_t
        plan: list[tuple[str, Getter]] = []
        for key in self.keys:
            getter = self._getter(key)
            if getter is not None:
                plan.append((key, getter))
        #: (key, getter) for every atom of the format that has a getter;
        #: the others ("-") are left to AccessAtoms.__missing__.
        self._plan = tuple(plan)

    def _getter(self, key: str) -> Getter | None:
        getter = self._getters.get(key)
        if getter is None and key.startswith("{"):
            getter = _braced_getter(key.lower())
            if getter is not None:
                self._getters[key] = getter
        return getter

    def atoms(self, record: AccessRecord) -> AccessAtoms:
        """The atoms mapping of ``record``, with the format's atoms computed."""
        atoms = AccessAtoms(self, record)
        for key, getter in self._plan:
            value = getter(record)
            if value is _ABSENT:
                value = "-"
            elif type(value) is str and '"' in value:
                value = value.replace('"', '\\"')
            atoms[key] = value
        return atoms

    def format(self, record: AccessRecord) -> str:
        """The access log line of ``record``."""
        return self.fmt % self.atoms(record)

    def value(self, key: str, record: AccessRecord) -> object:
        """One atom's escaped value, or the absent marker when it has none."""
        getter = self._getter(key)
        if getter is None:
            return _ABSENT
        return _escape(getter(record))


class AccessAtoms(dict[str, Any]):
    """Gunicorn's ``SafeAtoms`` for one record, filled on demand.

    ``atoms[key]`` always answers (``"-"`` for anything unknown);
    ``get``/``in`` answer like a dict holding Gunicorn's full atom set;
    iterating computes every atom first.
    """

    __slots__ = ("_format", "_full", "_record")

    def __init__(self, access_format: AccessFormat, record: AccessRecord) -> None:
        super().__init__()
        self._format = access_format
        self._record = record
        self._full = False

    def __missing__(self, key: str) -> object:
        value = self._format.value(key, self._record)
        if value is _ABSENT:
            return "-"
        self[key] = value
        return value

    def __bool__(self) -> bool:
        # logging only treats a non-empty mapping as the args mapping; never
        # let it call __len__ (which would compute everything).
        return True

    def get(self, key: str, default: Any = None) -> Any:
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        value = self._format.value(key, self._record)
        return default if value is _ABSENT else value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _ABSENT) is not _ABSENT

    def _fill(self) -> None:
        if self._full:
            return
        self._full = True
        record = self._record
        for key in ATOM_NAMES:
            if not dict.__contains__(self, key):
                self[key] = self._format.value(key, record)
        braced: list[tuple[str, object]] = []
        braced += [(f"{{{k.lower()}}}i", v) for k, v in record.request_headers]
        braced += [(f"{{{k.lower()}}}o", v) for k, v in record.response_headers]
        braced += [(f"{{{k.lower()}}}e", v) for k, v in record.environ.items()]
        for key, value in braced:
            self[key] = _escape(value)

    def __iter__(self) -> Iterator[str]:
        self._fill()
        return super().__iter__()

    def __len__(self) -> int:
        self._fill()
        return super().__len__()

    def keys(self) -> dict_keys[str, Any]:
        self._fill()
        return super().keys()

    def values(self) -> dict_values[str, Any]:
        self._fill()
        return super().values()

    def items(self) -> dict_items[str, Any]:
        self._fill()
        return super().items()

    def copy(self) -> dict[str, Any]:
        self._fill()
        return dict(super().items())

    def __reduce__(self) -> Any:
        # pickled (e.g. by a QueueHandler/SocketHandler) as a plain dict
        return (dict, (self.copy(),))
