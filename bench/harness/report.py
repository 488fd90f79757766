"""What a run says: a plain-text summary for the terminal, Markdown tables for the docs.

Ratios are to the gunicorn baselines of the same run and scenario (`x sync`,
`x gthread`); a blank ratio means the baseline was not measured in that run.
A `*` marks a cell where some rep ran while other jobs or the hypervisor took
at least QUIET_CORES of CPU.
"""

from __future__ import annotations

from collections.abc import Callable

from .machine import QUIET_CORES
from .results import Cell, Row
from .scenarios import SCENARIOS
from .servers import BASELINES, SERVERS

MIB = 1024.0


def _order(cells: list[Cell]) -> tuple[list[str], list[str]]:
    names = [n for n in SERVERS if any(c.server == n for c in cells)]
    names += sorted({c.server for c in cells} - set(names))
    scen = [s for s in SCENARIOS if any(c.scenario == s for c in cells)]
    return names, scen


def _x(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def _ratios(a: float | None, b: float | None) -> str:
    return "" if a is None and b is None else f" ({_x(a)} / {_x(b)})"


def _mib(kb: float | None) -> str:
    return f"{kb / MIB:.1f}" if kb is not None else "-"


def _num(x: float | None, fmt: str = ".0f") -> str:
    return format(x, fmt) if x is not None else "-"


def _probe(c: Cell) -> str:
    text = f"{_num(c.probe_p50_ms, '.1f')} / {_num(c.probe_max_ms, '.1f')}"
    return text + (f" ({c.probe_fail} of {c.probes} failed)" if c.probe_fail else "")


def _errors(c: Cell) -> str:
    text = f"{c.errors:,}"
    return text + (f" (+{c.expected_read_errors:,} read-close)" if c.expected_read_errors else "")


# --- terminal -----------------------------------------------------------------

def text(cells: list[Cell]) -> str:
    names, scen = _order(cells)
    by = {(c.server, c.scenario): c for c in cells}
    head = (f"{'server':18} {'w':>2} {'req/s':>9} {'x sync':>6} {'x gthr':>6} {'p50 ms':>7} "
            f"{'p99 ms':>7} {'errors':>8} {'exp.read':>8} {'us/req':>7} {'new client ms':>18} "
            f"{'RSS/PSS MiB':>12} {'start ms':>8}")
    out = []
    for s in scen:
        out += ["", f"scenario {s}: {SCENARIOS[s].summary}", head]
        for n in names:
            c = by.get((n, s))
            if c is None:
                continue
            mark = "*" if c.disturbed else " "
            new_client = _probe(c)
            out.append(
                f"{n:18} {c.workers:>2} {c.req_per_s:>8,.0f}{mark} {_x(c.x_sync):>6} "
                f"{_x(c.x_gthread):>6} {c.p50_ms:>7.2f} {c.p99_ms:>7.2f} {c.errors:>8,} "
                f"{c.expected_read_errors:>8,} {_num(c.cpu_us):>7} {new_client:>18} "
                f"{_mib(c.rss_kb) + '/' + _mib(c.pss_kb):>12} {_num(c.startup_ms):>8}")
    if any(c.disturbed for c in cells):
        out += ["", f"* some rep ran while others used >= {QUIET_CORES} cores (foreign or steal)"]
    return "\n".join(out)


# --- Markdown -----------------------------------------------------------------

def _table(title: str, names: list[str], scen: list[str], by: dict[tuple[str, str], Cell],
           fmt: Callable[[Cell], str]) -> list[str]:
    lines = [f"**{title}**", "", "| server | " + " | ".join(scen) + " |",
             "|---|" + "---:|" * len(scen)]
    for n in names:
        vals = [fmt(by[(n, s)]) if (n, s) in by else "" for s in scen]
        lines.append(f"| {n} | " + " | ".join(vals) + " |")
    return [*lines, ""]


def _rate(c: Cell) -> str:
    mark = "*" if c.disturbed else ""
    asked = SCENARIOS[c.scenario].workers if c.scenario in SCENARIOS else c.workers
    workers = f" [{c.workers}w]" if c.workers != asked else ""
    return f"{c.req_per_s:,.0f}{mark}{_ratios(c.x_sync, c.x_gthread)}{workers}"


def _cpu(c: Cell) -> str:
    if c.cpu_us is None:
        return "-"
    proxy = f" + {c.proxy_cpu_us:.0f} nginx" if c.proxy_cpu_us is not None else ""
    return f"{c.cpu_us:.0f}{proxy}{_ratios(c.cpu_x_sync, c.cpu_x_gthread)}"


def _memory(names: list[str], by: dict[tuple[str, str], Cell]) -> list[str]:
    lines = ["**Memory: RSS / PSS of master + workers, MiB (processes after the run); "
             "start to first 200, ms**", "",
             "| server | idle, 1 worker | after a | idle, 2 workers | after c "
             "| start, 1 / 2 workers |",
             "|---|---:|---:|---:|---:|---:|"]
    for n in names:
        one, two = by.get((n, "a")), by.get((n, "c"))
        if one is None and two is None:
            continue
        vals = []
        for c in (one, two):
            if c is None:
                vals += ["", ""]
                continue
            vals += [f"{_mib(c.rss_idle_kb)} / {_mib(c.pss_idle_kb)}",
                     f"{_mib(c.rss_kb)} / {_mib(c.pss_kb)} ({c.nprocs})"]
        starts = " / ".join(_num(c.startup_ms) if c else "-" for c in (one, two))
        lines.append(f"| {n} | " + " | ".join(vals) + f" | {starts} |")
    return [*lines, ""]


def _observability(by: dict[tuple[str, str], Cell]) -> list[str]:
    """Scenario a rows that differ from workhorse-gthread in one switch, each against its base."""
    pairs = [("everything on vs none (scoreboard writes, control socket, metrics)",
              "workhorse-bare", "workhorse-obs-on"),
             ("scoreboard writes vs none", "workhorse-bare", "workhorse-obs-off"),
             ("scoreboard writes in Python vs none", "workhorse-bare", "workhorse-pure"),
             ("control socket and metrics vs none", "workhorse-obs-off", "workhorse-obs-on"),
             ("workhorse: access log vs none", "workhorse-gthread", "workhorse-access-log"),
             ("gunicorn: access log vs none", "gunicorn-gthread", "gunicorn-access-log")]
    present = [(label, by[(base, "a")], by[(row, "a")]) for label, base, row in pairs
               if (base, "a") in by and (row, "a") in by]
    if not present:
        return []
    lines = ["**Observability and access log cost: gthread, hello, scenario a**", "",
             "| comparison | req/s, base -> with | change | CPU us per request, base -> with |",
             "|---|---:|---:|---:|"]
    for label, base, row in present:
        mark = "*" if base.disturbed or row.disturbed else ""
        rate = (row.req_per_s / base.req_per_s - 1) * 100 if base.req_per_s else None
        cpu = (f"{_num(base.cpu_us)} -> {_num(row.cpu_us)}"
               if base.cpu_us is not None and row.cpu_us is not None else "-")
        lines.append(f"| {label} | {base.req_per_s:,.0f} -> {row.req_per_s:,.0f}{mark} | "
                     f"{_num(rate, '+.1f')} % | {cpu} |")
    return [*lines, ""]


#: The gevent rows, and the one their ratios are to.
GEVENT_ROWS = ("workhorse-gevent", "workhorse-gevent-obs-off", "workhorse-gevent-bare",
               "gunicorn-gevent")
GEVENT_BASE = "gunicorn-gevent"


def _gevent(by: dict[tuple[str, str], Cell]) -> list[str]:
    """The gevent rows side by side in hello (a) and 500 slow requests (slow500),
    with ratios to Gunicorn's gevent worker, and what supervision costs."""
    rows = [n for n in GEVENT_ROWS if (n, "a") in by or (n, "slow500") in by]
    if not rows:
        return []
    lines = ["**gevent: workhorse's worker beside Gunicorn's, 1 worker pinned** (ratios: to "
             f"{GEVENT_BASE}, in the same run)", "",
             "| row | a: req/s | a: p50 / p99 ms | a: CPU us/req | slow500: req/s "
             "| slow500: p50 / p99 ms | slow500: new client ms | PSS after a / slow500, MiB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for n in rows:
        vals = []
        for s in ("a", "slow500"):
            c, base = by.get((n, s)), by.get((GEVENT_BASE, s))
            if c is None:
                vals += ["", "", ""]
                continue
            ratio = f" ({c.req_per_s / base.req_per_s:.2f})" if base and base.req_per_s else ""
            mark = "*" if c.disturbed else ""
            vals += [f"{c.req_per_s:,.0f}{mark}{ratio}", f"{c.p50_ms:.2f} / {c.p99_ms:.2f}"]
            vals.append(_num(c.cpu_us) if s == "a" else _probe(c))
        pss = " / ".join(_mib(by[(n, s)].pss_kb) if (n, s) in by else "-"
                         for s in ("a", "slow500"))
        lines.append(f"| {n} | " + " | ".join(vals) + f" | {pss} |")
    cost = [(s, by[("workhorse-gevent-bare", s)], by[("workhorse-gevent-obs-off", s)])
            for s in ("a", "slow500")
            if ("workhorse-gevent-bare", s) in by and ("workhorse-gevent-obs-off", s) in by]
    if cost:
        text = "; ".join(f"{s} {(on.req_per_s / off.req_per_s - 1) * 100:+.1f} % req/s"
                         for s, off, on in cost if off.req_per_s)
        lines += ["", f"Supervision (slots, deadlines, blocked-hub watchdog) on against off "
                      f"(workhorse-gevent-obs-off against -bare): {text}."]
    return [*lines, ""]


def _servers(names: list[str], cells: list[Cell]) -> list[str]:
    lines = ["| row | version | connection after a response | configuration |", "|---|---|---|---|"]
    for n in names:
        mine = [c for c in cells if c.server == n]
        behaviour = next((c.conn_behaviour for c in mine if c.scenario in ("a", "json")), "")
        server = SERVERS.get(n)
        note = server.note if server else ""
        lines.append(f"| {n} | {mine[-1].server_version} | {behaviour} | {note} |")
    return [*lines, ""]


def markdown(cells: list[Cell], rows: list[Row]) -> str:
    names, scen = _order(cells)
    # Rows limited to some scenarios (observability on/off) have a table of their own.
    names = [n for n in names if not (n in SERVERS and SERVERS[n].only)]
    by = {(c.server, c.scenario): c for c in cells}
    runs = sorted({c.run_id for c in cells})
    durations = sorted({f"{float(r['duration_s']):g}" for r in rows if r["run_id"] in runs})
    reps = max((c.reps for c in cells), default=0)
    disturbed = sum(c.disturbed for c in cells)
    first = cells[0]
    out = [
        f"Run {', '.join(runs)} ({first.utc[:10]}); {reps} interleaved reps x "
        f"{'/'.join(durations)} s per measurement, medians.", "",
        f"Machine: {first.machine}. Load generator: {first.tools}.", "",
        *_servers(_order(cells)[0], cells),
        "Ratios in parentheses: to gunicorn-sync / to gunicorn-gthread, in the same run. "
        f"`*`: some rep ran while other jobs or the hypervisor took >= {QUIET_CORES} cores "
        f"({disturbed} of {len(cells)} cells). `[1w]`: the server ran one process.", "",
    ]
    out += _table("Requests per second (median)", names, scen, by, _rate)
    out += _table("Latency p50 / p99, ms (median)", names, scen, by,
                  lambda c: f"{c.p50_ms:.2f} / {c.p99_ms:.2f}")
    out += _table("Errors, all reps: wrk socket errors + status >= 400 (+ read errors of a server "
                  "that closes without `Connection: close`: expected, responses complete)",
                  names, scen, by, _errors)
    out += _table("Server CPU per request, us: master + workers, utime + stime (d: + nginx's)",
                  names, scen, by, _cpu)
    out += _table("A new client during the load: median / worst wait, ms "
                  "(failed of sent, 3 s limit)",
                  names, scen, by, _probe)
    out += _memory(names, by)
    out += _observability(by)
    out += _gevent(by)
    return "\n".join(out)


def baselines_missing(cells: list[Cell]) -> list[str]:
    return [b for b in BASELINES if not any(c.server == b for c in cells)]
