#!/usr/bin/env python3
"""Start-up: from spawning the master to the first 200, workhorse against Gunicorn, interleaved.

    .venv/bin/python startup.py                 # every case, 15 reps
    .venv/bin/python startup.py --reps 30 --cases sync-w1,django-w4

Cases: the hello app with the sync and gthread workers, 1 and 4 workers, as
bench/run.py starts them (harness/servers.py's rows), and the Django project
of bench/django/ with `--preload` and 4 workers (harness/django_site.py's
rows). Each rep starts every case's servers one after the other (workhorse,
gunicorn, workhorse, ... so a drift of the machine hits both alike); a start
is timed from the spawn to the first complete 200 to `GET /`, polled every
2 ms (a connection made once the socket is bound waits in the backlog until
a worker accepts it, so the clock stops when the first worker answers).
The server is then stopped by its PID and every process of its session must
be gone before the next start. Output: median, quartiles and range per
server and case, the ratio of the medians, a line per start appended to
results/startup.csv.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import django_site, machine, probes, procs
from harness.probes import HOST
from harness.servers import BENCH, SERVERS, search_path

RESULTS = BENCH / "results" / "startup.csv"
POLL_S = 0.002
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Case:
    name: str
    rows: tuple[tuple[str, str], ...]  # (server label, row name)
    workers: int
    django: bool = False


CASES = {c.name: c for c in [
    Case("sync-w1", (("workhorse", "workhorse-sync"), ("gunicorn", "gunicorn-sync")), 1),
    Case("sync-w4", (("workhorse", "workhorse-sync"), ("gunicorn", "gunicorn-sync")), 4),
    Case("gthread-w1", (("workhorse", "workhorse-gthread"), ("gunicorn", "gunicorn-gthread")), 1),
    Case("gthread-w4", (("workhorse", "workhorse-gthread"), ("gunicorn", "gunicorn-gthread")), 4),
    Case("django-w4", (("workhorse", "workhorse"), ("gunicorn", "gunicorn")), 4, django=True),
]}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default=",".join(CASES), help=f"of: {', '.join(CASES)}")
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--port", type=int, default=18350)
    p.add_argument("--no-csv", action="store_true")
    p.add_argument("--compare-src", metavar="DIR",
                   help="also start workhorse from this source tree (a checkout's src/, put first "
                        "on PYTHONPATH) as the row workhorse-base: a change's before and after")
    return p.parse_args(argv)


def argv_for(case: Case, row: str, tmp: Path, port: int) -> list[str]:
    bind = f"{HOST}:{port}"
    if case.django:
        return django_site.argv(row, bind=bind, workers=case.workers, tmp=tmp)
    return SERVERS[row].argv(host=HOST, port=port, workers=case.workers, app="hello", tmp=tmp)


def first_response_ms(proc: procs.Started, port: int) -> float:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"exited before answering:\n{proc.tail()}")
        if probes.get_status(port, timeout=TIMEOUT_S) == 200:
            return (time.monotonic() - proc.started_at) * 1000
        time.sleep(POLL_S)
    raise RuntimeError(f"no 200 within {TIMEOUT_S:.0f} s:\n{proc.tail()}")


def one_start(case: Case, row: str, env: dict[str, str], port: int, raw: Path,
              db: Path | None, label: str) -> float:
    if probes.get_status(port, timeout=0.5) is not None:
        raise RuntimeError(f"port {port} already answers: not ours")
    tmp = Path(tempfile.mkdtemp(prefix="wh-start-"))
    try:
        if db is not None:
            django_site.copy_database(db, tmp / "db.sqlite3")
            env = {**env, "BENCH_DJANGO_DB": str(tmp / "db.sqlite3")}
        cmd = argv_for(case, row, tmp, port)
        exe = shutil.which(cmd[0], path=env["PATH"])
        if exe is None:
            raise RuntimeError(f"{cmd[0]} not found")
        cwd = django_site.PROJECT if case.django else BENCH
        proc = procs.Started([exe, *cmd[1:]], raw / f"{case.name}-{label}.log", env, cwd)
        try:
            return first_response_ms(proc, port)
        finally:
            proc.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    cases = [CASES[c] for c in args.cases.split(",") if c]
    run_id = time.strftime("%Y%m%d-%H%M%S")
    raw = BENCH / "results" / "raw" / f"startup-{run_id}"
    raw.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PATH": search_path(), "PYTHONPATH": str(django_site.PROJECT)}
    db = None
    if any(c.django for c in cases):
        db = raw / "template.sqlite3"
        python = BENCH / ".venv" / "bin" / "python"
        django_site.make_database(python if python.exists() else Path(sys.executable), db, env)
    times: dict[tuple[str, str], list[float]] = {}
    lines = []
    print(f"load average at start: {machine.loadavg()}", flush=True)
    base_env = {**env, "PYTHONPATH": f"{args.compare_src}{os.pathsep}{env['PYTHONPATH']}"}
    for rep in range(1, args.reps + 1):
        for case in cases:
            for label, row in rows_of(case, bool(args.compare_src)):
                ms = one_start(case, row, base_env if label == "workhorse-base" else env,
                               args.port, raw, db if case.django else None, label)
                times.setdefault((case.name, label), []).append(ms)
                lines.append({"run_id": run_id, "rep": rep, "case": case.name, "server": label,
                              "ms": round(ms, 1), "loadavg": machine.loadavg()})
        print(f"[{time.strftime('%H:%M:%S')}] rep {rep} done", flush=True)
    print_table(cases, times)
    if not args.no_csv:
        append_csv(lines)
    return 0


def rows_of(case: Case, compare: bool) -> list[tuple[str, str]]:
    """The case's rows; with --compare-src, workhorse-base first (before, after, gunicorn)."""
    own = dict(case.rows)["workhorse"]
    return ([("workhorse-base", own)] if compare else []) + list(case.rows)


def print_table(cases: list[Case], times: dict[tuple[str, str], list[float]]) -> None:
    print("\n| case | server | median ms | quartiles | range | n | workhorse / this row |")
    print("|---|---|---|---|---|---|---|")
    for case in cases:
        wh = statistics.median(times[(case.name, "workhorse")])
        for label in [lb for c, lb in times if c == case.name]:
            ts = sorted(times[(case.name, label)])
            q = statistics.quantiles(ts, n=4) if len(ts) > 1 else [ts[0], ts[0], ts[0]]
            med = statistics.median(ts)
            ratio = f"{wh / med:.2f}x" if label != "workhorse" else ""  # < 1: workhorse faster
            print(f"| {case.name} | {label} | {med:.0f} | {q[0]:.0f}-{q[2]:.0f} "
                  f"| {ts[0]:.0f}-{ts[-1]:.0f} | {len(ts)} | {ratio} |")


def append_csv(lines: list[dict[str, object]]) -> None:
    new = not RESULTS.exists()
    with open(RESULTS, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["run_id", "utc", "rep", "case", "server", "ms",
                                               "loadavg"], extrasaction="ignore")
        if new:
            writer.writeheader()
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        writer.writerows({**line, "utc": now} for line in lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
