"""``workhorse status`` and ``workhorse ctl``: the operator's side of the control socket.

Strategy: both commands share one way to find the master (``--socket``,
``--pid``, ``--pidfile``, else ``./workhorse.ctl``; see
:mod:`workhorse.observe.client`) and one way to fail: a message on stderr
that says where we looked and what to try, and exit status 1 (2 for a
command-line mistake, as argparse does). ``status`` prints the snapshot for
people (:mod:`workhorse.observe.view`) or as JSON, once or, with
``--watch``, redrawn like ``top`` until Ctrl-C. ``ctl`` sends one command and
prints the master's answer in a line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from workhorse.observe.client import (
    DEFAULT_SOCKET,
    ControlError,
    find_socket,
    request,
)
from workhorse.observe.schema import Snapshot
from workhorse.observe.view import DEFAULT_WIDTH, render

__all__ = ["ControlError", "ctl_main", "main", "request"]

#: Home the cursor and clear the screen (ANSI), before each --watch redraw.
CLEAR_SCREEN = "\x1b[H\x1b[2J"
DEFAULT_INTERVAL = 1.0
#: --watch never polls faster than this: the master samples once a second.
MIN_INTERVAL = 0.1
FAILURE = 1


def _discovery_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--socket", metavar="PATH",
                       help=f"the control socket (default: ./{DEFAULT_SOCKET})")
    where.add_argument("--pid", type=int, metavar="PID",
                       help="find the control socket of the master with this pid")
    where.add_argument("--pidfile", metavar="PATH",
                       help="read the master's pid from this file (the pidfile setting)")


def _locate(args: argparse.Namespace) -> str:
    return find_socket(socket_path=args.socket, pid=args.pid, pidfile=args.pidfile)


# --- workhorse status ------------------------------------------------------------------------
def status_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workhorse status",
        description="Show what a running workhorse master and its workers are doing.")
    _discovery_options(parser)
    parser.add_argument("--json", action="store_true", help="print the status document as JSON")
    parser.add_argument("--watch", action="store_true",
                        help="redraw every --interval seconds until Ctrl-C")
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL, metavar="SECONDS",
                        help=f"seconds between redraws with --watch (default {DEFAULT_INTERVAL:g})")
    return parser


def fetch_status(path: str) -> Snapshot:
    answer = request(path, {"command": "status"})
    if answer.get("ok") is not True or not isinstance(answer.get("status"), dict):
        raise ControlError(f"{path}: {answer.get('error', 'no status in the answer')}")
    snapshot: Snapshot = answer["status"]
    return snapshot


def format_status(snapshot: Snapshot, *, as_json: bool, width: int) -> str:
    if as_json:
        return json.dumps(snapshot, indent=2) + "\n"
    return render(snapshot, width)


def main(argv: list[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """``workhorse status [--socket PATH | --pid PID | --pidfile PATH] [--json] [--watch]``."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = status_parser().parse_args(argv)
    try:
        path = _locate(args)
        if args.watch:
            return watch(lambda: fetch_status(path), args, out, err)
        out.write(format_status(fetch_status(path), as_json=args.json, width=_width(out)))
    except ControlError as exc:
        err.write(f"workhorse status: {exc}\n")
        return FAILURE
    return 0


def watch(fetch: Callable[[], Snapshot], args: argparse.Namespace, out: TextIO, err: TextIO,
          *, rounds: int | None = None) -> int:
    """Redraw until Ctrl-C (or ``rounds`` redraws); a failed fetch shows its error and retries."""
    interval = max(MIN_INTERVAL, float(args.interval))
    done = 0
    try:
        while rounds is None or done < rounds:
            out.write(_frame(fetch, args, out, interval))
            out.flush()
            done += 1
            if rounds is None or done < rounds:
                time.sleep(interval)
    except KeyboardInterrupt:
        out.write("\n")
    return 0


def _frame(fetch: Callable[[], Snapshot], args: argparse.Namespace, out: TextIO,
           interval: float) -> str:
    stamp = time.strftime("%H:%M:%S")
    try:
        snapshot = fetch()
    except ControlError as exc:
        return f"{exc}\n" if args.json else f"{CLEAR_SCREEN}{exc}\n\n{stamp}  retrying\n"
    if args.json:
        return json.dumps(snapshot) + "\n"  # one document per line, for piping
    body = render(snapshot, _width(out))
    return f"{CLEAR_SCREEN}{body}\n{stamp}  every {interval:g}s, Ctrl-C to quit\n"


def _width(out: TextIO) -> int:
    if out is sys.stdout and out.isatty():
        return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    return DEFAULT_WIDTH


# --- workhorse ctl ---------------------------------------------------------------------------
def ctl_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workhorse ctl", description="Send a command to a running workhorse master.")
    _discovery_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("reload", help="re-read the configuration, replace the workers (HUP)")
    scale = commands.add_parser("scale", help="set the number of workers: N, +N or -N")
    scale.add_argument("count", metavar="N|+N|-N")
    stop = commands.add_parser("stop", help="stop gracefully (TERM); --quick as QUIT")
    stop.add_argument("--quick", action="store_true", help="do not wait for requests in flight")
    commands.add_parser("reopen", help="reopen the log files (USR1)")
    commands.add_parser("ping", help="check that the master answers")
    return parser


def ctl_payload(args: argparse.Namespace) -> dict[str, Any]:
    """The control-socket request for parsed ``ctl`` arguments; ValueError if malformed."""
    if args.command == "scale":
        text = args.count.strip()
        if not text.lstrip("+-").isdigit():
            raise ValueError(f"scale: {args.count!r} is not N, +N or -N")
        if text[0] in "+-":
            return {"command": "scale", "delta": int(text)}
        return {"command": "scale", "workers": int(text)}
    if args.command == "stop":
        return {"command": "stop", "graceful": not args.quick}
    return {"command": args.command}


def describe_answer(payload: dict[str, Any], answer: dict[str, Any]) -> str:
    command = payload["command"]
    if command == "scale":
        return f"workers: {answer.get('previous')} -> {answer.get('workers')}"
    if command == "stop":
        return f"stopping ({answer.get('stopping', 'graceful')})"
    if command == "ping":
        return f"master {answer.get('pid')} answers (workhorse {answer.get('version')})"
    if command == "reload":
        return "reload started: new workers replace the old ones as they become ready"
    if command == "reopen":
        return "log files reopened"
    return "ok"


def ctl_main(argv: list[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """``workhorse ctl reload | scale N|+1|-1 | stop [--quick] | reopen | ping``."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = ctl_parser()
    args = parser.parse_args(argv)
    try:
        payload = ctl_payload(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        answer = request(_locate(args), payload)
    except ControlError as exc:
        err.write(f"workhorse ctl: {exc}\n")
        return FAILURE
    if answer.get("ok") is not True:
        err.write(f"workhorse ctl: {answer.get('error', 'the master refused')}\n")
        return FAILURE
    out.write(describe_answer(payload, answer) + "\n")
    return 0
