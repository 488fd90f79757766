#!/usr/bin/env python3
"""Memory of a real Django project under workhorse, Gunicorn and uWSGI, 4 preloaded workers.

    .venv/bin/python django_memory.py           # workhorse, gunicorn, uwsgi; 20,000 requests
    .venv/bin/python django_memory.py --servers workhorse --workhorse-args "--warmup /"

For each server, one after the other: a fresh copy of the project's SQLite
database, the server started with the app loaded in the master and 4 workers,
its memory read once every worker is up (idle), a scripted admin login, then
`--requests` requests over the project's views (see harness/django_site.py:
template, ORM list, JSON, admin login page, admin changelists with the
session), `--clients` at a time, each on a new connection with
`Connection: close` (Gunicorn's and workhorse's sync workers close anyway;
uWSGI's --http-socket too). Then, with every process still up, smaps_rollup
of the master and each worker, and smaps per mapping. The server is stopped
by its PID. Output: a table on stdout, a line per server appended to
results/django_memory.csv, the per-mapping detail in results/raw/<run>/.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import django_site, machine, probes, procs, smaps
from harness.probes import HOST
from harness.servers import BENCH, search_path

RESULTS = BENCH / "results" / "django_memory.csv"
MiB = 1024.0
FIELDS = ["run_id", "utc", "server", "extra", "workers", "requests", "clients", "seconds",
          "non_200", "failures", "requests_per_worker", "start_ms",
          "master_pss_kb", "workers_pss_kb", "total_pss_kb", "total_pss_idle_kb",
          "worker_private_kb", "worker_private_idle_kb", "worker_private_dirty_kb",
          "worker_rss_idle_kb", "worker_rss_kb", "worker_rss_growth_kb", "version", "machine"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--servers", default="workhorse,gunicorn,uwsgi",
                   help=f"comma-separated, of: {', '.join(django_site.ROWS)}")
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--clients", type=int, default=8, help="requests in flight at once")
    p.add_argument("--reps", type=int, default=1, help="starts per server, interleaved")
    p.add_argument("--port", type=int, default=18300)
    p.add_argument("--workhorse-args", default="",
                   help="more options for the workhorse rows (e.g. a setting to measure)")
    p.add_argument("--label", default="", help="appended to the workhorse rows' names")
    p.add_argument("--no-csv", action="store_true", help=f"do not append to {RESULTS.name}")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    rows = [r for r in args.servers.split(",") if r]
    unknown = [r for r in rows if r not in django_site.ROWS]
    if unknown:
        print(f"unknown server(s): {unknown}; known: {list(django_site.ROWS)}", file=sys.stderr)
        return 2
    run_id = time.strftime("%Y%m%d-%H%M%S")
    raw = BENCH / "results" / "raw" / f"django-{run_id}"
    raw.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PATH": search_path(), "PYTHONPATH": str(django_site.PROJECT),
           "PYTHONDONTWRITEBYTECODE": "1"}
    python = BENCH / ".venv" / "bin" / "python"
    if not python.exists():
        python = Path(sys.executable)
    db = raw / "template.sqlite3"
    django_site.make_database(python, db, env)
    requests = django_site.paths(args.requests)
    results = []
    for rep in range(1, args.reps + 1):
        for row in rows:
            try:
                results.append(measure(row, rep, args, env, db, raw, requests, run_id))
            except (RuntimeError, OSError) as exc:
                print(f"FAILED {row} rep {rep}: {exc}", file=sys.stderr)
                if row.startswith("workhorse"):
                    return 1
    print_table(results)
    if not args.no_csv:
        append_csv(results)
    print(f"\ndetail: {raw}")
    return 0


def measure(row: str, rep: int, args: argparse.Namespace, env: dict[str, str], db: Path,
            raw: Path, requests: list[tuple[str, bool]], run_id: str) -> dict[str, object]:
    if probes.get_status(args.port, timeout=0.5) is not None:
        raise RuntimeError(f"port {args.port} already answers: not ours, refusing to measure")
    own = row.startswith("workhorse")
    name = row + (args.label if own else "")
    tmp = Path(tempfile.mkdtemp(prefix="wh-django-"))
    django_site.copy_database(db, tmp / "db.sqlite3")
    env = {**env, "BENCH_DJANGO_DB": str(tmp / "db.sqlite3")}
    cmd = django_site.argv(row, bind=f"{HOST}:{args.port}", workers=args.workers, tmp=tmp,
                           extra=args.workhorse_args if own else "")
    exe = shutil.which(cmd[0], path=env["PATH"])
    if exe is None:
        raise RuntimeError(f"{cmd[0]} not found")
    cmd[0] = exe
    print(f"[{time.strftime('%H:%M:%S')}] {name} rep {rep}: {' '.join(cmd)}", flush=True)
    proc = procs.Started(cmd, raw / f"{name}-rep{rep}.log", env, django_site.PROJECT)
    try:
        start_ms = probes.wait_ready(proc, args.port)
        probes.wait_settled(proc)
        idle = {pid: smaps.rollup(pid) for pid in proc.pids()}
        idle_kinds = {pid: smaps.by_kind(pid) for pid in proc.pids()}
        cookie = django_site.login(args.port)
        load = django_site.load(args.port, requests, cookie, args.clients)
        if probes.wait_settled(proc) != len(idle):
            raise RuntimeError("the number of processes changed during the load")
        after = {pid: smaps.rollup(pid) for pid in proc.pids()}
        kinds = {pid: smaps.by_kind(pid) for pid in proc.pids()}
        workers = [pid for pid in after if pid != proc.pid]
        top = smaps.top_private(workers[0]) if workers else []
    finally:
        proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    detail = {"idle": idle, "after": after, "idle_kinds": idle_kinds, "kinds": kinds,
              "top_private_worker": top, "master": proc.pid, "by_pid": dict(load.by_pid),
              "statuses": dict(load.statuses), "failures": load.failures[:20]}
    (raw / f"{name}-rep{rep}.json").write_text(json.dumps(detail, indent=1, default=str))
    return summarize(name, args, proc.pid, idle, after, load, start_ms, run_id)


def summarize(name: str, args: argparse.Namespace, master: int, idle: dict[int, dict[str, int]],
              after: dict[int, dict[str, int]], load: django_site.LoadResult, start_ms: float,
              run_id: str) -> dict[str, object]:
    workers = [pid for pid in after if pid != master]
    idle_workers = [pid for pid in idle if pid != master and pid in after]

    def mean(pids: list[int], snap: dict[int, dict[str, int]], key: str) -> int:
        return round(statistics.mean(snap[p].get(key, 0) for p in pids)) if pids else 0

    growth = [after[p]["Rss"] - idle[p]["Rss"] for p in idle_workers]
    return {
        "run_id": run_id, "utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "server": name, "extra": args.workhorse_args if name.startswith("workhorse") else "",
        "workers": len(workers), "requests": load.requests, "clients": args.clients,
        "seconds": round(load.seconds, 1),
        "non_200": sum(n for s, n in load.statuses.items() if s != 200),
        "failures": len(load.failures),
        "requests_per_worker": "/".join(str(n) for _, n in load.by_pid.most_common()),
        "start_ms": round(start_ms),
        "master_pss_kb": after[master].get("Pss", 0),
        "workers_pss_kb": sum(after[p].get("Pss", 0) for p in workers),
        "total_pss_kb": sum(s.get("Pss", 0) for s in after.values()),
        "total_pss_idle_kb": sum(s.get("Pss", 0) for s in idle.values()),
        "worker_private_kb": mean(workers, after, "Private"),
        "worker_private_idle_kb": mean(idle_workers, idle, "Private"),
        "worker_private_dirty_kb": mean(workers, after, "Private_Dirty"),
        "worker_rss_idle_kb": mean(idle_workers, idle, "Rss"),
        "worker_rss_kb": mean(workers, after, "Rss"),
        "worker_rss_growth_kb": round(statistics.mean(growth)) if growth else 0,
        "version": versions(), "machine": machine.describe(),
    }


def versions() -> str:
    import importlib.metadata as md

    out = []
    for dist in ("workhorse", "gunicorn", "uWSGI", "Django"):
        try:
            out.append(f"{dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            pass
    return ", ".join(out)


def print_table(results: list[dict[str, object]]) -> None:
    gunicorn = next((r for r in results if r["server"] == "gunicorn"), None)
    print("\n| server | total PSS MiB (idle) | master PSS | per-worker private MiB (idle) "
          "| worker RSS growth MiB | vs gunicorn | requests per worker | s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        ratio = (f"{float(str(r['total_pss_kb'])) / float(str(gunicorn['total_pss_kb'])):.2f}x"
                 if gunicorn else "-")
        print(f"| {r['server']} | {kib(r['total_pss_kb'])} ({kib(r['total_pss_idle_kb'])}) "
              f"| {kib(r['master_pss_kb'])} | {kib(r['worker_private_kb'])} "
              f"({kib(r['worker_private_idle_kb'])}) | {kib(r['worker_rss_growth_kb'])} | {ratio} "
              f"| {r['requests_per_worker']} | {r['seconds']} |")
        if r["non_200"] or r["failures"]:
            print(f"|   {r['server']}: {r['non_200']} non-200, {r['failures']} failed |")


def kib(value: object) -> str:
    return f"{float(str(value)) / MiB:.1f}"


def append_csv(results: list[dict[str, object]]) -> None:
    new = not RESULTS.exists()
    with open(RESULTS, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerows(results)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
