"""Debugging: reloading on code changes, and checking the configuration."""

# setting() returns a dataclasses.field (a copied default for lists and dicts).
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass

from workhorse.config import converters as c
from workhorse.config.registry import Support, setting

SECTION = "Debugging"


@dataclass(init=False, repr=False, eq=False)
class Debugging:
    reload: bool = setting(
        False,
        section=SECTION,
        flags=("--reload",),
        action="store_true",
        convert=c.boolean,
        help="Restart the workers when application code changes (development only).",
    )
    reload_engine: str = setting(
        "auto",
        section=SECTION,
        flags=("--reload-engine",),
        metavar="STRING",
        convert=c.choice("auto", "poll", "inotify"),
        support=Support.ACCEPTED,
        honoured=("poll",),
        note="only polling is implemented; inotify is not",
        help="How reload watches files: auto, poll or inotify.",
    )
    reload_extra_files: list[str] = setting(
        [],
        section=SECTION,
        flags=("--reload-extra-file",),
        action="append",
        metavar="FILES",
        convert=c.files_or_patterns,
        anchored=True,
        help="More files or glob patterns that trigger a reload (repeatable).",
        details=(
            "Relative paths are taken from the working directory at start. A plain"
            " path must exist; a pattern (*, ?, [...]) is expanded at every check."
        ),
    )
    spew: bool = setting(
        False,
        section=SECTION,
        flags=("--spew",),
        action="store_true",
        convert=c.boolean,
        support=Support.ACCEPTED,
        note="line tracing is not implemented; use a debugger or faulthandler",
        help="Print every line the server executes.",
    )
    check_config: bool = setting(
        False,
        section=SECTION,
        flags=("--check-config",),
        action="store_true",
        convert=c.boolean,
        help="Load the configuration and the application, then exit: 0 if both load.",
    )
    print_config: bool = setting(
        False,
        section=SECTION,
        flags=("--print-config",),
        action="store_true",
        convert=c.boolean,
        help="Print the final value of every setting, load the application, then exit.",
    )
