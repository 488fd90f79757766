"""Control: the control socket and the metrics endpoint, both served by the master."""

# setting() returns a dataclasses.field (a copied default for lists and dicts).

from __future__ import annotations

from dataclasses import dataclass

from workhorse.config import addresses as a
from workhorse.config import converters as c
from workhorse.config.registry import Support, setting

SECTION = "Control"


@dataclass(init=False, repr=False, eq=False)
class Control:
    control_socket: str = setting(
        "workhorse.ctl",
        section=SECTION,
        flags=("--control-socket",),
        metavar="PATH",
        convert=c.string_or("", "no control socket"),
        anchored=True,
        default_doc="workhorse.ctl in the working directory at start",
        help="UNIX socket on which the master answers `workhorse status` and control commands.",
        details=(
            "A relative path is taken from the working directory at start."
            " Gunicorn's default is ~/.gunicorn/gunicorn.ctl (or under"
            " $XDG_RUNTIME_DIR); workhorse keeps it next to the application so"
            " `workhorse status` run from the same directory finds it."
        ),
    )
    control_socket_mode: int = setting(
        0o600,
        section=SECTION,
        flags=("--control-socket-mode",),
        metavar="INT",
        convert=c.file_mode,
        default_doc="0o600",
        help="Permissions of the control socket, e.g. 0660 to let the group in.",
    )
    control_socket_disable: bool = setting(
        False,
        section=SECTION,
        flags=("--no-control-socket",),
        action="store_true",
        convert=c.boolean,
        help="Do not create the control socket.",
    )
    metrics_bind: str | None = setting(
        None,
        section=SECTION,
        flags=("--metrics-bind",),
        metavar="ADDRESS",
        convert=a.metrics_address,
        support=Support.NEW,
        help="Serve /metrics (Prometheus), /healthz, /readyz and the /status page here, "
             "e.g. 127.0.0.1:9101.",
        details=(
            "Served by the master, so it answers even when every worker is busy"
            " or stuck. /status is a live page for a browser (the scoreboard, each"
            " request in flight, plots of the last minutes; read-only) and"
            " /status.json the same data as `workhorse status --json`."
            " Forms: HOST:PORT, [IPV6]:PORT, unix:PATH. Unset: off."
        ),
    )
