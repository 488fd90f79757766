"""Rows: one per measurement (server x scenario x rep), kept in CSV; cells: their medians.

results.csv is append-only across runs. A cell is one server in one scenario
of one run: the median of its reps (errors and probe failures are summed,
worst cases are maxima). Ratios to the gunicorn baselines are computed only
against the baseline's cell of the same run and scenario.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass
from pathlib import Path

from .machine import QUIET_CORES
from .servers import BASELINES

FIELDS = [
    "run_id", "utc", "mode", "rep", "server", "scenario", "app", "workers", "pinned",
    "keepalive", "connections", "duration_s",
    "requests", "req_per_s", "p50_ms", "p99_ms",
    "errors", "expected_read_errors",
    "err_connect", "err_read", "err_write", "err_timeout", "err_status", "conn_behaviour",
    "server_cpu_us_per_req", "proxy_cpu_us_per_req",
    "rss_idle_kb", "pss_idle_kb", "rss_kb", "pss_kb", "nprocs", "startup_ms",
    "probes", "probe_p50_ms", "probe_max_ms", "probe_fail",
    "foreign_cpu", "steal_cpu", "quiet_wait_s",
    "server_version", "machine", "tools", "notes",
]
Row = dict[str, str]


def append(path: Path, rows: list[dict[str, object]]) -> None:
    """Append rows; if the file has older columns, rewrite it once with the current ones."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old: list[Row] = []
    rewrite = not path.exists()
    if not rewrite:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != FIELDS:
                old, rewrite = list(reader), True
    if rewrite:
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(old)
    with open(path, "a", newline="") as f:
        csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore").writerows(rows)


def load(path: Path) -> list[Row]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def run_ids(rows: list[Row]) -> list[str]:
    """In the order the runs were appended."""
    return list(dict.fromkeys(r["run_id"] for r in rows))


@dataclass
class Cell:
    run_id: str
    server: str
    scenario: str
    workers: int
    reps: int
    req_per_s: float
    req_min: float
    req_max: float
    p50_ms: float
    p99_ms: float
    errors: int
    expected_read_errors: int
    conn_behaviour: str
    cpu_us: float | None
    proxy_cpu_us: float | None
    rss_idle_kb: float | None
    pss_idle_kb: float | None
    rss_kb: float | None
    pss_kb: float | None
    nprocs: int
    startup_ms: float | None
    probes: int
    probe_p50_ms: float | None
    probe_max_ms: float | None
    probe_fail: int
    foreign_max: float
    steal_max: float
    disturbed: int  # reps during which others (or the hypervisor) took >= QUIET_CORES
    server_version: str
    machine: str
    tools: str
    utc: str
    notes: str
    x_sync: float | None = None  # req/s ratio to gunicorn-sync, same run and scenario
    x_gthread: float | None = None
    cpu_x_sync: float | None = None  # CPU-per-request ratio, same run and scenario
    cpu_x_gthread: float | None = None


def _floats(rows: list[Row], key: str) -> list[float]:
    return [float(r[key]) for r in rows if r.get(key) not in (None, "")]


def _median(rows: list[Row], key: str) -> float | None:
    vals = _floats(rows, key)
    return statistics.median(vals) if vals else None


def _sum(rows: list[Row], key: str) -> int:
    return int(sum(_floats(rows, key)))


def _max(rows: list[Row], key: str) -> float | None:
    vals = _floats(rows, key)
    return max(vals) if vals else None


def _cell(rs: list[Row]) -> Cell:
    last = rs[-1]
    rates = _floats(rs, "req_per_s")
    return Cell(
        run_id=last["run_id"], server=last["server"], scenario=last["scenario"],
        workers=int(last["workers"]), reps=len(rs),
        req_per_s=statistics.median(rates), req_min=min(rates), req_max=max(rates),
        p50_ms=_median(rs, "p50_ms") or 0.0, p99_ms=_median(rs, "p99_ms") or 0.0,
        errors=_sum(rs, "errors"), expected_read_errors=_sum(rs, "expected_read_errors"),
        conn_behaviour=last.get("conn_behaviour", ""),
        cpu_us=_median(rs, "server_cpu_us_per_req"),
        proxy_cpu_us=_median(rs, "proxy_cpu_us_per_req"),
        rss_idle_kb=_median(rs, "rss_idle_kb"), pss_idle_kb=_median(rs, "pss_idle_kb"),
        rss_kb=_median(rs, "rss_kb"), pss_kb=_median(rs, "pss_kb"),
        nprocs=int(_max(rs, "nprocs") or 0), startup_ms=_median(rs, "startup_ms"),
        probes=_sum(rs, "probes"), probe_p50_ms=_median(rs, "probe_p50_ms"),
        probe_max_ms=_max(rs, "probe_max_ms"), probe_fail=_sum(rs, "probe_fail"),
        foreign_max=_max(rs, "foreign_cpu") or 0.0, steal_max=_max(rs, "steal_cpu") or 0.0,
        disturbed=sum(1 for r in rs if max(_floats([r], "foreign_cpu") + _floats([r], "steal_cpu"),
                                           default=0.0) >= QUIET_CORES),
        server_version=last.get("server_version", ""), machine=last.get("machine", ""),
        tools=last.get("tools", ""), utc=rs[0].get("utc", ""),
        notes="; ".join(dict.fromkeys(r["notes"] for r in rs if r.get("notes"))),
    )


def _ratio(x: float | None, base: float | None) -> float | None:
    return x / base if x is not None and base else None


def cells(rows: list[Row], runs: list[str]) -> list[Cell]:
    """The cells of the given runs; a server/scenario measured in several keeps the last run's."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for run in runs:
        mine: dict[tuple[str, str], list[Row]] = {}
        for r in rows:
            if r["run_id"] == run:
                mine.setdefault((r["server"], r["scenario"]), []).append(r)
        groups.update(mine)
    out = [_cell(rs) for rs in groups.values()]
    by_run = {(c.run_id, c.scenario, c.server): c for c in out}
    for c in out:
        sync = by_run.get((c.run_id, c.scenario, BASELINES[0]))
        gthread = by_run.get((c.run_id, c.scenario, BASELINES[1]))
        c.x_sync = _ratio(c.req_per_s, sync.req_per_s if sync else None)
        c.x_gthread = _ratio(c.req_per_s, gthread.req_per_s if gthread else None)
        c.cpu_x_sync = _ratio(c.cpu_us, sync.cpu_us if sync else None)
        c.cpu_x_gthread = _ratio(c.cpu_us, gthread.cpu_us if gthread else None)
    return out
