"""Converters: raw setting input in, a typed value or a precise error out.

Strategy: a setting's raw input is a string when it comes from the command
line or the environment and any Python value when it comes from a config
file; one :class:`Converter` handles both. A converter is a parse function
plus the phrase that says what it accepts (``"a non-negative integer"``).
The parse function raises ``ValueError``/``TypeError`` with an optional
detail; the converter turns that into ``expected <accepts>; <detail>``, and
the loader prefixes the setting's name, flags and the bad value. The same
phrase is the "Accepts" line of docs/settings.md, so the docs and the errors
cannot disagree.

Some values are accepted although they are probably not what was meant
(Gunicorn runs with them, so refusing them would break a working config): for
those a converter also has an ``advise`` function that returns one sentence
for the loader to log as a warning, naming the setting.

Address grammar lives in :mod:`workhorse.config.addresses`.
"""

from __future__ import annotations

import functools
import grp
import importlib
import math
import os
import pwd
import re
import types
from collections.abc import Callable, Mapping
from typing import Any, Generic, NoReturn, TypeVar

from workhorse.config.paste import split_global
from workhorse.ipnets import parse_network

T = TypeVar("T")


class Converter(Generic[T]):
    """A parse function, the phrase that says what it accepts, and optional advice."""

    __slots__ = ("_advise", "_parse", "accepts")

    def __init__(
        self,
        accepts: str,
        parse: Callable[[Any], T],
        advise: Callable[[Any], str | None] | None = None,
    ) -> None:
        self.accepts = accepts
        self._parse = parse
        self._advise = advise

    def advice(self, value: Any) -> str | None:
        """A warning for an accepted ``value`` that is probably a mistake, else None."""
        return self._advise(value) if self._advise is not None else None

    def __call__(self, value: Any) -> T:
        try:
            return self._parse(value)
        except TypeError as exc:
            raise TypeError(self._explain(exc)) from None
        except ValueError as exc:
            raise ValueError(self._explain(exc)) from None

    def _explain(self, exc: Exception) -> str:
        detail = str(exc)
        return f"expected {self.accepts}; {detail}" if detail else f"expected {self.accepts}"

    def __repr__(self) -> str:
        return f"Converter({self.accepts!r})"


def reject(detail: str = "") -> NoReturn:
    """Fail a parse; ``detail`` (optional) says what exactly is wrong."""
    raise ValueError(detail)


def _type_name(value: Any) -> str:
    return type(value).__name__


def as_text(value: Any) -> str:
    """A stripped string, or TypeError naming what was given instead."""
    if not isinstance(value, str):
        raise TypeError(f"got {_type_name(value)}")
    return value.strip()


# -- booleans -----------------------------------------------------------------

_TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:  # Gunicorn stores None and reads it as false
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    word = as_text(value).lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    reject()


boolean = Converter("a boolean: true/false, 1/0, yes/no or on/off", _parse_bool)


def _parse_sendfile(value: Any) -> bool:
    # None means "not set", which Gunicorn treats as "use sendfile".
    return True if value is None else _parse_bool(value)


sendfile_flag = Converter(boolean.accepts, _parse_sendfile)


def sendfile_from_env(text: str) -> bool:
    """Gunicorn's reading of the SENDFILE variable: y/1/yes/true enable it."""
    return text.strip().lower() in ("y", "1", "yes", "true")


# -- numbers ------------------------------------------------------------------

_BASE_PREFIXES = ("0x", "0o", "0b")


def _int_from_text(text: str, *, octal: bool) -> int:
    digits = text.strip()
    try:
        if digits.lower().startswith(_BASE_PREFIXES):
            return int(digits, 0)
        if octal and len(digits) > 1 and digits.startswith("0"):
            return int(digits, 8)
        return int(digits, 10)
    except ValueError:
        reject()


def _as_int(value: Any, *, octal: bool = False) -> int:
    # A bool is an int to Gunicorn's validators (True -> 1), so it is here too.
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return _int_from_text(value, octal=octal)
    if isinstance(value, float):
        reject(f"{value!r} is not a whole number")
    raise TypeError(f"got {_type_name(value)}")


def _non_negative(number: int) -> int:
    if number < 0:
        reject()
    return number


non_negative_int = Converter("a non-negative integer", lambda value: _non_negative(_as_int(value)))

file_mode = Converter(
    "a non-negative integer; a leading 0 or 0o means octal (022, 0o022)",
    lambda value: _non_negative(_as_int(value, octal=True)),
)


def bounded_int(low: int, high: int) -> Converter[int]:
    """An integer in ``low..high`` inclusive."""

    def parse(value: Any) -> int:
        number = _as_int(value)
        if not low <= number <= high:
            reject()
        return number

    return Converter(f"an integer from {low} to {high}", parse)


def _number_from_text(text: str) -> float:
    if text.lower().startswith(_BASE_PREFIXES):
        return _int_from_text(text, octal=False)  # Gunicorn reads "0x1e" as 30
    try:
        return int(text, 10)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        reject()


def _parse_seconds(value: Any) -> float:
    if isinstance(value, (int, float)):  # bools too, as Gunicorn (True -> 1)
        number: float = value
    else:
        number = _number_from_text(as_text(value))
    if not math.isfinite(number) or number < 0:
        reject()
    return number


seconds = Converter(
    "a non-negative number of seconds (fractions allowed, e.g. 2.5;"
    " 0x, 0o and 0b prefixes as in Gunicorn)",
    _parse_seconds,
)

_SIZE = re.compile(r"(\d+)\s*([kmg]?)", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def _parse_size(value: Any) -> int:
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if match is None:
            reject()
        return int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]
    return _non_negative(_as_int(value))


byte_size = Converter(
    "a number of bytes, optionally with a K, M or G suffix (powers of 1024), e.g. 512M",
    _parse_size,
)


# -- strings and lists ----------------------------------------------------------

string = Converter("a string", as_text)


def as_optional_text(value: Any) -> str | None:
    """A stripped string, or None."""
    return None if value is None else as_text(value)


optional_string = Converter("a string, or None for unset", as_optional_text)


def string_or(when_none: str, meaning: str) -> Converter[str]:
    """A string; None (which Gunicorn accepts for every string setting) means ``when_none``."""

    def parse(value: Any) -> str:
        return when_none if value is None else as_text(value)

    return Converter(f"a string, or None for {meaning}", parse)


def _sequence(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    raise TypeError(f"got {_type_name(value)}")


def as_string_list(value: Any) -> list[str]:
    """A list of stripped strings; one string is a list of one; any false value
    (None, "", False, 0, an empty container) is empty, as in Gunicorn."""
    if not value:
        return []
    if isinstance(value, str):
        return [value.strip()]
    return [as_text(item) for item in _sequence(value)]


string_list = Converter("a list of strings (a single string is a list of one)", as_string_list)


def _warmup_paths(value: Any) -> list[str]:
    paths = as_string_list(value)
    for path in paths:
        if path.startswith(("http://", "https://")):
            from urllib.parse import urlsplit  # only a config that gives a URL pays for it

            try:
                parts = urlsplit(path)
                parts.port  # noqa: B018 (raises on a port that is not a number in range)
            except ValueError as exc:
                reject(f"got {path!r}: {exc}")
            if not parts.hostname:
                reject(f"got {path!r}: no host")
        elif not path.startswith("/") or any(c.isspace() for c in path):
            reject(f"got {path!r}")
    return paths


warmup_paths = Converter(
    "paths ('/admin/login/', '/?q=1') or http(s) URLs naming the Host to send; a list, or"
    " a single string",
    _warmup_paths,
)


def _comma_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [as_text(item) for item in _sequence(value)]


comma_list = Converter("a comma-separated string or a list of strings", _comma_list)


def _check_network(item: str) -> str:
    if item == "*":
        return item
    try:
        parse_network(item)
    except ValueError:
        reject(f"{item!r} is not an IP address or network (host bits must be zero)")
    return item


def _address_list(value: Any) -> list[str]:
    return [_check_network(item) for item in _comma_list(value)]


address_list = Converter(
    "a comma-separated list of IP addresses and CIDR networks"
    " (e.g. 127.0.0.1,10.0.0.0/8,::1), or * for any",
    _address_list,
)


def _dict(value: Any) -> dict[Any, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"got {_type_name(value)}")
    return dict(value)


dictionary = Converter("a dict", _dict)


def _string_keys(value: Any) -> dict[str, Any]:
    items = _dict(value)
    for key in items:
        if not isinstance(key, str):
            raise TypeError(f"key {key!r} is not a string")
    return items


def _string_dict(value: Any) -> dict[str, str]:
    # Gunicorn takes any values but compares them with the header's text, so
    # an entry whose value is not a string can never match: it is left out
    # (see _non_string_entries for the warning).
    return {key: item for key, item in _string_keys(value).items() if isinstance(item, str)}


def _non_string_entries(value: Any) -> str | None:
    odd = {key: item for key, item in dict(value).items() if not isinstance(item, str)}
    if not odd:
        return None
    return f"entries whose value is not a string never match a header and are ignored: {odd!r}"


string_dict = Converter(
    "a dict of strings to strings", _string_dict, advise=_non_string_entries
)


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _header_name(value: Any) -> str | None:
    text = as_optional_text(value)
    if not text:
        return None
    if not _TOKEN.fullmatch(text):
        reject(f"{text!r} has characters not allowed in a header name")
    return text


header_name = Converter("an HTTP header name, or empty/None for off", _header_name)


def _env_assignment(item: str) -> str:
    key, sep, _ = item.partition("=")
    if not sep or not key:
        reject(f"{item!r} is not KEY=VALUE")
    return item


def _env_assignments(value: Any) -> list[str]:
    return [_env_assignment(item) for item in as_string_list(value)]


env_assignments = Converter("KEY=VALUE strings (a list, or a single string)", _env_assignments)


def _paste_assignment(item: str) -> str:
    split_global(item)  # raises ValueError naming the entry
    return item


paste_assignments = Converter(
    "KEY=VALUE strings (a list, or a single string); \\= is a literal =",
    lambda value: [_paste_assignment(item) for item in as_string_list(value)],
)


def choice(
    *values: str, aliases: Mapping[str, str] | None = None, none: str | None = None
) -> Converter[str]:
    """One of ``values``, case-insensitive; ``aliases`` map other words onto them.

    ``none``, when given, is the value None stands for (Gunicorn's validators
    turn None into the default for most of its choice settings).
    """
    synonyms = dict(aliases or {})

    def parse(value: Any) -> str:
        if value is None and none is not None:
            return none
        word = as_text(value).lower()
        word = synonyms.get(word, word)
        if word not in values:
            reject()
        return word

    accepts = "one of: " + ", ".join(values)
    if none is not None:
        accepts += f" (None means {none})"
    return Converter(accepts, parse)


#: Python's logging level names. Gunicorn reads loglevel with the same table.
LOG_LEVEL_NAMES = ("debug", "info", "warning", "error", "critical")
#: Spellings Python's logging module also knows (logging.WARN, logging.FATAL).
#: Gunicorn accepts them but, not finding them in its table, logs at info; we
#: take them for what they say (a difference listed in docs/compatibility.md).
_LOG_LEVEL_ALIASES = {"warn": "warning", "fatal": "critical"}


def _log_level(value: Any) -> str:
    word = as_text(value).lower()
    return _LOG_LEVEL_ALIASES.get(word, word)


def _unknown_log_level(value: Any) -> str | None:
    word = _log_level(value)
    if word in LOG_LEVEL_NAMES:
        return None
    return f"{word!r} is not a log level; logging at info, as Gunicorn does"


log_level = Converter(
    "one of: " + ", ".join(LOG_LEVEL_NAMES) + " (any case; warn and fatal too);"
    " any other word logs at info, as in Gunicorn",
    _log_level,
    advise=_unknown_log_level,
)


def _protocol(value: Any) -> str:
    # Gunicorn speaks uwsgi for "uwsgi" and HTTP for anything else.
    word = "http" if value is None else as_text(value).lower()
    return "uwsgi" if word == "uwsgi" else "http"


def _unknown_protocol(value: Any) -> str | None:
    if value is None or as_text(value).lower() in ("http", "uwsgi"):
        return None
    return f"{as_text(value)!r} is not http or uwsgi; HTTP is spoken, as Gunicorn does"


protocol = Converter(
    "http or uwsgi (any other value means http, as in Gunicorn)",
    _protocol,
    advise=_unknown_protocol,
)


# -- processes and paths ----------------------------------------------------------


def _account_id(
    value: Any, lookup: Callable[[str], int], default: Callable[[], int], noun: str
) -> int:
    if value is None:
        return default()
    if isinstance(value, bool):
        raise TypeError("got a bool")
    if isinstance(value, int):
        return _non_negative(value)
    text = as_text(value)
    if text.isdigit():
        return int(text)
    try:
        return lookup(text)
    except KeyError:
        reject(f"no such {noun}: {text!r}")


def _uid(name: str) -> int:
    return pwd.getpwnam(name).pw_uid


def _gid(name: str) -> int:
    return grp.getgrnam(name).gr_gid


user = Converter(
    "a user name or a numeric uid",
    lambda value: _account_id(value, _uid, os.geteuid, "user"),
)

group = Converter(
    "a group name or a numeric gid",
    lambda value: _account_id(value, _gid, os.getegid, "group"),
)


def _directory(value: Any) -> str:
    path = os.path.abspath(os.path.normpath(as_text(value)))
    if not os.path.exists(path):
        reject(f"{path!r} does not exist")
    if not os.path.isdir(path):
        reject(f"{path!r} is not a directory")
    return path


directory = Converter("an existing directory", _directory)

_GLOB_CHARS = re.compile(r"[*?\[]")


def _file_or_pattern(entry: str) -> str:
    if not _GLOB_CHARS.search(entry) and not os.path.exists(entry):
        reject(f"{entry!r} does not exist")
    return entry


def _files_or_patterns(value: Any) -> list[str]:
    return [_file_or_pattern(entry) for entry in as_string_list(value)]


files_or_patterns = Converter(
    "a list of existing files or glob patterns (*, ?, [...])", _files_or_patterns
)


# -- classes and callables -------------------------------------------------------------


def _import_object(path: str) -> Any:
    module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        reject(f"{path!r} is not of the form module.attr")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        reject(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}")
    try:
        return getattr(module, attr)
    except AttributeError:
        reject(f"module {module_name!r} has no attribute {attr!r}")


def _class_path(value: Any) -> str:
    if isinstance(value, (types.FunctionType, types.MethodType)):
        value = value()  # Gunicorn accepts a function that returns the class
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    text = as_text(value)
    if not text:
        reject()
    return text


class_path = Converter("a class name or a dotted path to a class", _class_path)


def _worker_class_path(value: Any) -> str:
    path = _class_path(value)
    # Gunicorn drops one leading "#" before looking a name up ("#gthread").
    return path[1:] if path.startswith("#") and len(path) > 1 else path


worker_class_path = Converter(
    "sync, gthread, asgi or gevent, or a dotted path naming one of them"
    " (gunicorn.workers.sync.SyncWorker, gunicorn.workers.ggevent.GeventWorker, ...)",
    _worker_class_path,
)


def _callable(value: Any) -> Callable[..., Any]:
    if isinstance(value, str):
        value = _import_object(as_text(value))
    if not callable(value):
        raise TypeError(f"{value!r} is not callable")
    return value  # type: ignore[no-any-return]


def _takes(func: Callable[..., Any], count: int) -> bool:
    """Whether ``func`` can be called with ``count`` positional arguments."""
    answer = _plain_function_takes(func, count)
    if answer is not None:
        return answer
    import inspect  # the general case (callable objects, partials, builtins)

    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return True  # some builtins have no signature: trust them
    try:
        signature.bind(*range(count))
    except TypeError:
        return False
    return True


#: CO_VARARGS: the code object takes *args.
CO_VARARGS = 0x04


def _plain_function_takes(func: Callable[..., Any], count: int) -> bool | None:
    """The answer for a plain Python function from its code object, else None.

    Hooks in config files are plain functions; reading their code object
    avoids loading :mod:`inspect`, which costs memory in every process.
    """
    if not isinstance(func, types.FunctionType):
        return None
    code = func.__code__
    positional = code.co_argcount
    required = positional - len(func.__defaults__ or ())
    required_kwonly = [name for name in code.co_varnames[positional:positional +
                                                        code.co_kwonlyargcount]
                       if name not in (func.__kwdefaults__ or {})]
    if required_kwonly:
        return False
    if code.co_flags & CO_VARARGS:
        return count >= required
    return required <= count <= positional


def _signature_text(func: Callable[..., Any]) -> str:
    import inspect

    name = getattr(func, "__qualname__", repr(func))
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return str(name)
    return f"{name}{signature.replace(return_annotation=inspect.Signature.empty)}"


def _arguments(count: int, params: str) -> str:
    noun = "argument" if count == 1 else "arguments"
    return f"{count} positional {noun} ({params})"


def hook(arity: int, params: str) -> Converter[Callable[..., Any]]:
    """A server hook: a callable that takes ``arity`` positional arguments."""

    def parse(value: Any) -> Callable[..., Any]:
        func = _callable(value)
        if not _takes(func, arity):
            reject(f"got {_signature_text(func)}")
        return func

    accepts = f"a callable taking {_arguments(arity, params)}, or 'module.attr' naming one"
    return Converter(accepts, parse)


def _adapt_post_request(func: Callable[..., Any], count: int) -> Callable[..., Any]:
    if count == 4:
        return func

    @functools.wraps(func)
    def adapted(worker: Any, req: Any, environ: Any, resp: Any) -> Any:
        return func(*(worker, req, environ, resp)[:count])

    return adapted


def _post_request(value: Any) -> Callable[..., Any]:
    func = _callable(value)
    for count in (4, 3, 2):
        if _takes(func, count):
            return _adapt_post_request(func, count)
    reject(f"got {_signature_text(func)}")


post_request_hook = Converter(
    "a callable taking 4 positional arguments (worker, req, environ, resp),"
    " or 3 (worker, req, environ) or 2 (worker, req), or 'module.attr' naming one",
    _post_request,
)


# -- protocol and TLS choices -------------------------------------------------------------


_PROXY_PROTOCOL_WORDS = choice(
    "off",
    "v1",
    "v2",
    "auto",
    aliases={"false": "off", "0": "off", "none": "off", "true": "auto", "1": "auto"},
)


def _proxy_protocol(value: Any) -> str:
    if value is None:
        return "off"
    if isinstance(value, bool):
        return "auto" if value else "off"
    return _PROXY_PROTOCOL_WORDS(value)


proxy_protocol = Converter(
    "one of: off, v1, v2, auto (also true/false; the bare flag means auto)",
    _proxy_protocol,
)


_HTTP2_CLEARTEXT_WORDS = choice("off", "prior-knowledge", "upgrade", "both")


def _http2_cleartext(value: Any) -> str:
    if value is None:
        return "off"
    if isinstance(value, bool):
        return "prior-knowledge" if value else "off"
    return _HTTP2_CLEARTEXT_WORDS(value)


http2_cleartext = Converter(
    _HTTP2_CLEARTEXT_WORDS.accepts + " (True means prior-knowledge)", _http2_cleartext
)

_HTTP_PROTOCOLS = ("h1", "h2", "h3")


def _http_protocols(value: Any) -> list[str]:
    protocols = [item.lower() for item in _comma_list(value)] or ["h1"]
    for protocol in protocols:
        if protocol not in _HTTP_PROTOCOLS:
            reject(f"unknown protocol {protocol!r}")
    if len(set(protocols)) != len(protocols):
        reject("a protocol is listed twice")
    return protocols


http_protocols = Converter(
    "a comma-separated list of h1, h2, h3, most preferred first", _http_protocols
)

_CERT_REQS = {"cert_none": 0, "cert_optional": 1, "cert_required": 2}


def _named_int(value: Any, names: Mapping[str, int], prefix: str) -> int:
    if isinstance(value, str) and not value.strip().isdigit():
        word = value.strip().lower()
        number = names.get(word, names.get(prefix + word))
        if number is None:
            reject()
        return number
    number = _as_int(value)
    if number not in names.values():
        reject()
    return number


cert_reqs = Converter(
    "0, 1, 2 or CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED",
    lambda value: _named_int(value, _CERT_REQS, "cert_"),
)

# The numbers of ssl.PROTOCOL_* (spelled out: reading some of them warns).
_SSL_VERSIONS = {
    "protocol_sslv23": 2,
    "protocol_tls": 2,
    "protocol_tlsv1": 3,
    "protocol_tlsv1_1": 4,
    "protocol_tlsv1_2": 5,
    "protocol_tls_client": 16,
    "protocol_tls_server": 17,
}

#: ssl_version's default, ssl.PROTOCOL_TLS.
DEFAULT_SSL_VERSION = 2


def _ssl_version(value: Any) -> int:
    # Gunicorn stores any value and ignores it (the setting is deprecated), so
    # a value we cannot read is not an error either: it keeps the default.
    try:
        return _named_int(value, _SSL_VERSIONS, "protocol_")
    except (TypeError, ValueError):
        return DEFAULT_SSL_VERSION


def _unknown_ssl_version(value: Any) -> str | None:
    if value is None:
        return None
    try:
        _named_int(value, _SSL_VERSIONS, "protocol_")
    except (TypeError, ValueError):
        return f"{value!r} is not an ssl.PROTOCOL_* name or number; ignored, as by Gunicorn"
    return None


ssl_version = Converter(
    "an ssl.PROTOCOL_* name (TLS, SSLv23, TLSv1, TLSv1_1, TLSv1_2, TLS_CLIENT,"
    " TLS_SERVER) or its number; anything else is ignored, as in Gunicorn",
    _ssl_version,
    advise=_unknown_ssl_version,
)


# -- request limits (Gunicorn's caps and meanings of 0, see http/limits.py) ------------

#: Gunicorn caps limit_request_line at this (0 keeps meaning "no limit").
MAX_REQUEST_LINE = 8190
#: Gunicorn's most header fields; limit_request_fields 0 or above means this.
MAX_HEADER_FIELDS = 32768
#: limit_request_field_size 0 means this in Gunicorn (its documentation says
#: "unlimited", its parser applies the default).
DEFAULT_HEADER_FIELD_SIZE = 8190


def _request_line_limit(value: Any) -> int:
    return min(_non_negative(_as_int(value)), MAX_REQUEST_LINE)


def _above_gunicorns_cap(cap: int) -> Callable[[Any], str | None]:
    """The advice for a value above one of Gunicorn's caps, which applies the cap."""
    def advise(value: Any) -> str | None:
        number = _as_int(value)
        if number <= cap:
            return None
        return f"{number} is above Gunicorn's cap; {cap} is applied, as in Gunicorn"
    return advise


request_line_limit = Converter(
    f"a non-negative integer; 0 means no limit, values above {MAX_REQUEST_LINE}"
    f" mean {MAX_REQUEST_LINE} (as in Gunicorn)",
    _request_line_limit,
    advise=_above_gunicorns_cap(MAX_REQUEST_LINE),
)


def _header_count_limit(value: Any) -> int:
    number = _non_negative(_as_int(value))
    return MAX_HEADER_FIELDS if number == 0 or number > MAX_HEADER_FIELDS else number


header_count_limit = Converter(
    f"a non-negative integer; 0 and values above {MAX_HEADER_FIELDS}"
    f" mean {MAX_HEADER_FIELDS} (as in Gunicorn)",
    _header_count_limit,
    advise=_above_gunicorns_cap(MAX_HEADER_FIELDS),
)


def _header_field_size_limit(value: Any) -> int:
    return _non_negative(_as_int(value)) or DEFAULT_HEADER_FIELD_SIZE


header_field_size_limit = Converter(
    f"a non-negative integer; 0 means {DEFAULT_HEADER_FIELD_SIZE} (as in Gunicorn)",
    _header_field_size_limit,
)
