"""docs/settings.md, generated from the registry.

Strategy: the page is a pure function of the setting specs (no environment,
no clock), so a test can regenerate it in memory and compare. Run
``python -m workhorse.config.docs`` to rewrite the file, or ``--check`` to
only compare it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from workhorse.config.parser import default_text
from workhorse.config.registry import SettingInfo, Support, iter_settings
from workhorse.config.sections import SECTIONS

DEFAULT_OUTPUT = Path("docs/settings.md")
REGENERATE = "python -m workhorse.config.docs"

_INTRO = f"""\
# Settings

<!-- Generated from src/workhorse/config by `{REGENERATE}`; do not edit. -->

workhorse reads Gunicorn 27's settings with Gunicorn's names, flags, defaults
and environment variables, so an existing `gunicorn.conf.py` and command line
work unchanged. It adds a few settings of its own, marked *new* below.
[compatibility.md](compatibility.md) gives each Gunicorn setting's status.

## Where values come from

Each source overrides the ones before it:

1. the defaults listed here;
2. the environment variables that supply a default: `PORT` (bind),
   `WEB_CONCURRENCY` (workers), `FORWARDED_ALLOW_IPS` (forwarded_allow_ips),
   `SENDFILE` (sendfile);
3. the config file: `-c PATH`, `-c file:PATH` or `-c python:MODULE`; without
   `-c`, `./workhorse.conf.py` if it exists, else `./gunicorn.conf.py`
   (when both exist, `workhorse.conf.py` is read and a warning names the other);
4. `GUNICORN_CMD_ARGS`, then `WORKHORSE_CMD_ARGS`: extra command-line
   arguments in an environment variable; when both are set, both apply and
   `WORKHORSE_CMD_ARGS` wins where they disagree. `-c` may be given here too;
5. the command line.

The config file is Python. Every top-level name that is a setting sets it;
other names (imports, helpers, a `Semaphore` shared by your hooks) are
ignored, except that a lower-case value whose name is very close to a setting
(`worker = 4`) gets a "did you mean" warning. Relative paths in `chdir`,
`control_socket`, `reload_extra_files` and `-c` are taken from the working
directory at start. `workhorse --print-config` shows the final values.

## Support levels

- *full*: implemented with Gunicorn's meaning.
- *accepted*: a Gunicorn setting workhorse reads and validates but does not
  act on; giving it a value other than its default logs one warning at start
  that says why.
- *new*: a workhorse setting Gunicorn does not have.

## worker_tmp_dir

Gunicorn's workers prove they are alive by touching a temporary file, and
`worker_tmp_dir` chooses where those files live (a disk-backed directory can
stall workers). workhorse's workers write their heartbeat and the state of
the request in progress into shared memory that the master reads, so there
is no file and nothing to configure: the setting is accepted and ignored.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _flag(flag: str, info: SettingInfo) -> str:
    spec = info.spec
    if spec.action.startswith("store_") or spec.metavar is None:
        return f"`{flag}`"
    if spec.nargs == "?":
        return f"`{flag} [{spec.metavar}]`"
    return f"`{flag} {spec.metavar}`"


def _support(info: SettingInfo) -> str:
    spec = info.spec
    if spec.support is Support.ACCEPTED:
        return f"accepted, not implemented: {spec.note}"
    return str(spec.support.value)


def _default(info: SettingInfo) -> str:
    if info.spec.default_doc is not None:
        return info.spec.default_doc
    return f"`{default_text(info)}`"


def _rows(info: SettingInfo) -> Iterator[tuple[str, str]]:
    spec = info.spec
    if spec.flags:
        yield "Flags", ", ".join(_flag(flag, info) for flag in spec.flags)
    if spec.env:
        yield "Environment", f"`{spec.env}`"
    yield "Default", _default(info)
    yield "Accepts", spec.convert.accepts
    yield "Support", _support(info)


def render_setting(info: SettingInfo) -> str:
    lines = [f"### `{info.name}`", "", info.spec.help, "", "| | |", "|---|---|"]
    lines += [f"| {name} | {_cell(value)} |" for name, value in _rows(info)]
    if info.spec.details:
        lines += ["", info.spec.details]
    return "\n".join(lines) + "\n"


def _render_section(section: type) -> str:
    infos = list(iter_settings(section))
    title = infos[0].spec.section
    return f"## {title}\n\n" + "\n".join(render_setting(info) for info in infos)


def render() -> str:
    """The whole of docs/settings.md."""
    return "\n".join([_INTRO, *(_render_section(section) for section in SECTIONS)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description=__doc__)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="only report a stale file")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale; run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
