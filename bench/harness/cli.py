"""Command line: pick servers and scenarios, run them, print and record the results.

Exit status: 0 when every workhorse row ran (peer servers that are missing or
fail are skipped and named); 1 when a workhorse row is missing or failed;
2 when the run could not start (no wrk, a port taken by someone else).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import sys
from pathlib import Path

from . import machine, nginx, report, results, runner, servers
from .runner import Context, Ready, log
from .scenarios import DEFAULT, QUICK, SCENARIOS
from .servers import BENCH, SERVERS

RESULTS = BENCH / "results"
CSV = RESULTS / "results.csv"
# Settings the environment could slip into a server's configuration.
SCRUBBED_ENV = ("GUNICORN_CMD_ARGS", "WORKHORSE_CMD_ARGS", "WEB_CONCURRENCY", "PORT",
                "FORWARDED_ALLOW_IPS")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="run.py", description="workhorse vs its peers, side by side, loaded with wrk.",
        epilog="Scenarios: " + "; ".join(f"{s.name}: {s.summary}" for s in SCENARIOS.values()))
    p.add_argument("--quick", action="store_true",
                   help="smoke run: hello, scenarios a and b, workhorse-gthread vs gunicorn "
                        "gthread and sync, 1 rep x 3 s, nothing appended to results.csv")
    p.add_argument("--servers", help="comma-separated rows (default: all; see --list)")
    p.add_argument("--scenarios", help=f"comma-separated from {','.join(SCENARIOS)} (default: all)")
    p.add_argument("--reps", type=int, help="interleaved repetitions (default 3)")
    p.add_argument("--duration", type=float, help="seconds of wrk per measurement (default 10)")
    p.add_argument("--warmup", type=float, help="seconds of unrecorded wrk per start (default 2)")
    p.add_argument("--quiet-wait", type=float,
                   help="wait up to this long for others to use < 0.2 cores (default 60)")
    p.add_argument("--port", type=int, default=18200,
                   help="server port; nginx takes port+1, metrics port+2 (default %(default)s)")
    p.add_argument("--no-csv", action="store_true", help="do not append to results/results.csv")
    p.add_argument("--list", action="store_true", help="list rows and scenarios, then exit")
    p.add_argument("--markdown", action="store_true",
                   help="print the Markdown tables of a recorded run, then exit")
    p.add_argument("--run", help="with --markdown: run id(s), comma-separated (default: latest)")
    p.add_argument("--csv", type=Path, default=CSV, help="with --markdown: file to read")
    args = p.parse_args(argv)
    quick = args.quick
    for name, full, fast in (("reps", 3, 1), ("duration", 10.0, 3.0), ("warmup", 2.0, 1.0),
                             ("quiet_wait", 60.0, 2.0)):
        if getattr(args, name) is None:
            setattr(args, name, fast if quick else full)
    args.servers = (args.servers or ",".join(servers.QUICK if quick else SERVERS)).split(",")
    args.scenarios = (args.scenarios or ",".join(QUICK if quick else DEFAULT)).split(",")
    unknown = [n for n in args.servers if n not in SERVERS]
    unknown += [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        p.error(f"unknown: {', '.join(unknown)} (see --list)")
    if quick:
        args.scenarios = [s for s in args.scenarios if not SCENARIOS[s].proxy]
    return args


def list_all() -> int:
    for s in SERVERS.values():
        found = servers.find_executable(s)
        print(f"{s.name:18} {str(found) if found else 'MISSING':44} {s.note}")
    print()
    for sc in SCENARIOS.values():
        print(f"{sc.name:5} {sc.summary}")
    return 0


def print_markdown(args: argparse.Namespace) -> int:
    rows = results.load(args.csv)
    runs = args.run.split(",") if args.run else results.run_ids(rows)[-1:]
    cells = results.cells(rows, runs)
    if not cells:
        print(f"no rows of run(s) {runs} in {args.csv}", file=sys.stderr)
        return 2
    print(report.markdown(cells, rows))
    return 0


def resolve(names: list[str]) -> tuple[list[Ready], list[str], list[str]]:
    """(servers to run, why others are skipped, workhorse rows that cannot run)."""
    ready, skipped, broken = [], [], []
    for name in names:
        server = SERVERS[name]
        exe = servers.find_executable(server)
        missing = servers.missing_modules(server, exe) if exe else []
        why = (f"{server.executable} not installed" if exe is None
               else f"{', '.join(missing)} not importable" if missing else "")
        if why:
            skipped.append(f"{name}: {why}")
            if server.own:
                broken.append(f"workhorse: {name}: {why}")
            continue
        assert exe is not None
        ready.append(Ready(server, exe, servers.versions(server, exe)))
    return ready, skipped, broken


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["PATH"] = servers.search_path()
    # apps.py, then what the caller had: a checkout under test (a git worktree)
    # runs its own code with the environment's installed servers.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH), os.environ.get("PYTHONPATH")]))
    return env


def compile_checkout() -> None:
    """Bring the checkout's bytecode up to date before any workhorse row starts.

    workhorse is installed editable, and where PYTHONDONTWRITEBYTECODE is set
    (as on the project's machine) a source file edited since the last
    compile would be compiled again at every server start: the start-up
    column would measure the compiler.
    """
    import compileall

    source = Path(__file__).resolve().parents[2] / "src" / "workhorse"
    if source.is_dir():
        compileall.compile_dir(str(source), quiet=1)


def run(args: argparse.Namespace) -> int:
    if not shutil.which("wrk"):
        print("wrk not found: install it (apt-get install wrk) or run bench/setup.sh",
              file=sys.stderr)
        return 2
    ready, skipped, broken = resolve(args.servers)
    for why in skipped:
        log(f"skip {why}")
    scenarios = [SCENARIOS[s] for s in args.scenarios]
    cpus = machine.cpu_pair()
    if cpus is None:
        log("not pinning: taskset or a second CPU is missing; pinned scenarios run unpinned")
    proxy = nginx.binary() if any(s.proxy for s in scenarios) else None
    if any(s.proxy for s in scenarios) and proxy is None:
        log("skip scenario d: nginx not installed")
    compile_checkout()
    run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    raw = RESULTS / "raw" / run_id
    raw.mkdir(parents=True, exist_ok=True)
    record_csv = not (args.quick or args.no_csv)

    def record(rows: list[dict[str, object]]) -> None:
        results.append(raw / "results.csv", rows)
        if record_csv:
            results.append(CSV, rows)

    ctx = Context(
        run_id=run_id, mode="quick" if args.quick else "full", reps=args.reps,
        duration=args.duration, warmup=args.warmup, quiet_wait=args.quiet_wait, port=args.port,
        raw=raw, env=server_env(), cpus=cpus, nginx=proxy, machine=machine.describe(),
        tools=machine.tools(proxy), record=record,
    )
    (raw / "env.json").write_text(json.dumps({
        "run_id": run_id, "argv": sys.argv, "machine": ctx.machine, "tools": ctx.tools,
        "loadavg_at_start": machine.loadavg(), "cpus_client_server": cpus,
        "versions": {r.server.name: r.version for r in ready}, "skipped": skipped,
    }, indent=2))
    log(f"run {run_id}: {[r.server.name for r in ready]} x {args.scenarios}, {args.reps} rep(s) "
        f"x {args.duration:g} s; load average {machine.loadavg()}; raw output in {raw}")
    try:
        failures = runner.run_all(ctx, ready, scenarios)
    except runner.Abort as exc:
        log(f"ABORTED: {exc}")
        return 2
    cells = results.cells(results.load(raw / "results.csv"), [run_id])
    if cells:
        print(report.text(cells))
        (raw / "summary.md").write_text(report.markdown(cells, results.load(raw / "results.csv")))
    for name in report.baselines_missing(cells):
        print(f"note: {name} not measured in this run, so no ratio to it")
    for why in skipped:
        print(f"skipped {why}")
    for msg in failures:
        print(f"FAILED {msg}")
    where = f"{raw}/results.csv" + (f" and {CSV}" if record_csv else "")
    print(f"rows in {where}; Markdown: run.py --markdown --run {run_id}"
          + ("" if record_csv else f" --csv {raw}/results.csv"))
    return 1 if broken or any(m.startswith("workhorse:") for m in failures) else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        return list_all()
    if args.markdown:
        return print_markdown(args)
    # SIGTERM unwinds like Ctrl-C, so every `finally` stops what it started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return run(args)
    except KeyboardInterrupt:
        log("interrupted; everything started was stopped")
        return 130
