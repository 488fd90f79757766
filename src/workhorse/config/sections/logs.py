"""Logging: the error log, the access log, StatsD and syslog."""

# setting() returns a dataclasses.field (a copied default for lists and dicts).
# ruff: noqa: RUF009

from __future__ import annotations

import sys
from dataclasses import dataclass

from workhorse.config import addresses as a
from workhorse.config import converters as c
from workhorse.config.registry import Support, setting

SECTION = "Logging"
DEFAULT_ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'


def _syslog_default() -> str:
    if sys.platform == "darwin":
        return "unix:///var/run/syslog"
    if sys.platform.startswith(("freebsd", "dragonfly")):
        return "unix:///var/run/log"
    if sys.platform.startswith("openbsd"):
        return "unix:///dev/log"
    return "udp://localhost:514"


@dataclass(init=False, repr=False, eq=False)
class Logging:
    accesslog: str | None = setting(
        None,
        section=SECTION,
        flags=("--access-logfile",),
        metavar="FILE",
        convert=c.optional_string,
        help="Access log file; '-' is stdout. Unset: no access log.",
    )
    disable_redirect_access_to_syslog: bool = setting(
        False,
        section=SECTION,
        flags=("--disable-redirect-access-to-syslog",),
        action="store_true",
        convert=c.boolean,
        help="Do not send the access log to syslog when syslog is on.",
    )
    access_log_format: str = setting(
        DEFAULT_ACCESS_LOG_FORMAT,
        section=SECTION,
        flags=("--access-logformat",),
        metavar="STRING",
        # Gunicorn accepts None and then logs the word "None" for each request.
        convert=c.string_or(DEFAULT_ACCESS_LOG_FORMAT, "the default format"),
        help="Format of access log lines, with Gunicorn's %(atom)s atoms.",
        details=(
            "Atoms: h remote address, l '-', u user, t time, r request line,"
            " m method, U path, q query, H protocol, s status, B/b response"
            " length, f referer, a user agent, T/D/M/L duration in s/us/ms/"
            "decimal s, p pid, {name}i request header, {name}o response header,"
            " {name}e environ variable."
        ),
    )
    errorlog: str = setting(
        "-",
        section=SECTION,
        flags=("--error-logfile", "--log-file"),
        metavar="FILE",
        # Gunicorn accepts None and attaches no handler: Python's last resort
        # then writes warnings and errors to stderr. Here "" means the same.
        convert=c.string_or("", "warnings and errors only, on stderr"),
        help="Error log file; '-' is stderr; None or '' writes only warnings and errors, "
             "on stderr (as Gunicorn's errorlog = None).",
    )
    loglevel: str = setting(
        "info",
        section=SECTION,
        flags=("--log-level",),
        metavar="LEVEL",
        convert=c.log_level,
        help="Lowest level written to the error log.",
        details=(
            "Gunicorn accepts any word and logs at info when it does not know it;"
            " so does workhorse, with a warning. `warn` and `fatal` are taken as"
            " warning and critical (Gunicorn logs at info for them)."
        ),
    )
    capture_output: bool = setting(
        False,
        section=SECTION,
        flags=("--capture-output",),
        action="store_true",
        convert=c.boolean,
        help="Send the workers' stdout and stderr to the error log file.",
    )
    logger_class: str = setting(
        "gunicorn.glogging.Logger",
        section=SECTION,
        flags=("--logger-class",),
        metavar="STRING",
        convert=c.class_path,
        help="Logger class to use: a subclass of Gunicorn's (or workhorse.glogging.Logger).",
        details=(
            "Gunicorn's default and its StatsD logger mean workhorse's own logger (which"
            " sends StatsD when statsd_host is set). A subclass of"
            " gunicorn.glogging.Logger runs as it does under Gunicorn; change its import to"
            " `from workhorse.glogging import Logger` to run it on workhorse's logs (its"
            " atoms and speed). See docs/compatibility.md."
        ),
    )
    logconfig: str | None = setting(
        None,
        section=SECTION,
        flags=("--log-config",),
        metavar="FILE",
        convert=c.optional_string,
        help="A logging.config.fileConfig file that configures the logs.",
    )
    logconfig_dict: dict[str, object] = setting(
        {},
        section=SECTION,
        convert=c.dictionary,
        help="A logging.config.dictConfig dictionary that configures the logs.",
    )
    logconfig_json: str | None = setting(
        None,
        section=SECTION,
        flags=("--log-config-json",),
        metavar="FILE",
        convert=c.optional_string,
        help="A JSON file holding a logging.config.dictConfig dictionary.",
    )
    syslog_addr: str = setting(
        _syslog_default(),
        section=SECTION,
        flags=("--log-syslog-to",),
        metavar="SYSLOG_ADDR",
        convert=c.string_or(_syslog_default(), "the default"),
        default_doc="udp://localhost:514 on Linux (the platform's syslog socket elsewhere)",
        help="Syslog address: unix://PATH#TYPE, udp://HOST:PORT or tcp://HOST:PORT.",
    )
    syslog: bool = setting(
        False,
        section=SECTION,
        flags=("--log-syslog",),
        action="store_true",
        convert=c.boolean,
        help="Also send the error log, and the access log, to syslog.",
    )
    syslog_prefix: str | None = setting(
        None,
        section=SECTION,
        flags=("--log-syslog-prefix",),
        metavar="SYSLOG_PREFIX",
        convert=c.optional_string,
        help="Program name in syslog entries.",
    )
    syslog_facility: str = setting(
        "user",
        section=SECTION,
        flags=("--log-syslog-facility",),
        metavar="SYSLOG_FACILITY",
        convert=c.string_or("user", "user"),
        help="Syslog facility name.",
    )
    enable_stdio_inheritance: bool = setting(
        False,
        section=SECTION,
        flags=("-R", "--enable-stdio-inheritance"),
        action="store_true",
        convert=c.boolean,
        help="In daemon mode, keep stdin/stdout/stderr instead of pointing them at /dev/null.",
    )
    statsd_host: str | None = setting(
        None,
        section=SECTION,
        flags=("--statsd-host",),
        metavar="STATSD_ADDR",
        convert=a.statsd_address,
        help="StatsD server to send metrics to: HOST:PORT or unix://PATH.",
    )
    dogstatsd_tags: str = setting(
        "",
        section=SECTION,
        flags=("--dogstatsd-tags",),
        metavar="DOGSTATSD_TAGS",
        convert=c.string_or("", "none"),
        help="Tags added to every StatsD metric (DogStatsD), e.g. env:prod,team:web.",
    )
    statsd_prefix: str = setting(
        "",
        section=SECTION,
        flags=("--statsd-prefix",),
        metavar="STATSD_PREFIX",
        convert=c.string_or("", "none"),
        help="Prefix of StatsD metric names.",
    )
    enable_backlog_metric: bool = setting(
        False,
        section=SECTION,
        flags=("--enable-backlog-metric",),
        action="store_true",
        convert=c.boolean,
        help="Send the listen backlog (connections waiting) as a StatsD metric.",
    )
    request_id_header: str | None = setting(
        "X-Request-ID",
        section=SECTION,
        flags=("--request-id-header",),
        metavar="HEADER",
        convert=c.header_name,
        support=Support.NEW,
        help="Request header carrying the id shown in logs and status; empty turns it off.",
    )
