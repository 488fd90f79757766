"""Process Naming: the name shown by ps and top."""

# setting() returns a dataclasses.field (a copied default for lists and dicts).

from __future__ import annotations

from dataclasses import dataclass

from workhorse.config import converters as c
from workhorse.config.registry import setting

SECTION = "Process Naming"


@dataclass(init=False, repr=False, eq=False)
class ProcessNaming:
    proc_name: str | None = setting(
        None,
        section=SECTION,
        flags=("-n", "--name"),
        metavar="STRING",
        convert=c.optional_string,
        help="Process title base (needs setproctitle); unset: default_proc_name.",
    )
    default_proc_name: str = setting(
        "workhorse",
        section=SECTION,
        convert=c.string_or("workhorse", "workhorse"),
        help="Process title used when proc_name is unset; the APP_MODULE when one is given.",
    )
