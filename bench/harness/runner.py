"""Measurements: start a server, check it, load it with wrk, read /proc, stop it.

One start serves the scenarios that share its app, worker count and pinning
(a and b; c and d). Per start:
  1. refuse to start if a port it needs already answers;
  2. spawn (pinned with taskset when the scenario says so and the machine can),
     poll every 10 ms until the first 200 (start_ms), wait until its process
     count is stable for 1 s, read the idle RSS/PSS;
  3. check the app's exact bytes, and whether the server keeps a connection
     open, closes it saying so, or closes it silently;
  4. warm up with unrecorded wrk;
  5. per scenario: wait for the machine to go quiet, then wrk while the
     new-client probe runs and CPU is counted (server session, proxy, foreign,
     steal); then RSS/PSS;
  6. stop everything started, by PID.
Repetitions are interleaved: rep 1 of every server, then rep 2, ...
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import machine, nginx, probes, procs, wrk
from .probes import HOST
from .scenarios import Scenario
from .servers import BENCH, Server

WRK_GRACE_S = 30  # wrk gets this long past its duration before it is killed
PROXY_WARMUP_S = 1


class Abort(Exception):
    """Stop the whole run (a port is taken: measuring someone else's server is worse)."""


@dataclass(frozen=True)
class Ready:
    """A server that can be measured: found, importable, versioned."""

    server: Server
    executable: Path
    version: str


@dataclass(frozen=True)
class Context:
    run_id: str
    mode: str
    reps: int
    duration: float
    warmup: float
    quiet_wait: float
    port: int
    raw: Path
    env: dict[str, str]
    cpus: tuple[int, int] | None  # (client, server), None: nothing is pinned
    nginx: str | None
    machine: str
    tools: str
    record: Callable[[list[dict[str, object]]], None]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def instances(server: Server, scenarios: list[Scenario], ctx: Context) -> list[list[Scenario]]:
    groups: dict[tuple[str, int, bool], list[Scenario]] = {}
    for sc in scenarios:
        if (server.supports(sc.name, sc.app) and (not sc.proxy or ctx.nginx)
                and (not sc.rows or server.name in sc.rows)):
            groups.setdefault(sc.instance, []).append(sc)
    return list(groups.values())


def run_all(ctx: Context, ready: list[Ready], scenarios: list[Scenario]) -> list[str]:
    """Every rep of every server; returns failures (workhorse's are prefixed `workhorse:`)."""
    failures = []
    for rep in range(1, ctx.reps + 1):
        for r in ready:
            for scs in instances(r.server, scenarios, ctx):
                try:
                    ctx.record(run_instance(ctx, r, scs, rep))
                except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
                    msg = f"{r.server.name} {'/'.join(s.name for s in scs)} rep {rep}: {exc}"
                    log(f"FAILED {msg}")
                    failures.append(("workhorse: " if r.server.own else "") + msg)
    return failures


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def run_instance(ctx: Context, r: Ready, scs: list[Scenario], rep: int) -> list[dict[str, object]]:
    first = scs[0]
    workers = r.server.workers_for(first.workers)
    pinned = first.pinned and ctx.cpus is not None
    needed = [ctx.port, ctx.port + 1, ctx.port + 2]
    busy = [p for p in needed if _port_open(p)]
    if busy:
        raise Abort(f"port(s) {busy} on {HOST} already answer: not ours, refusing to measure")
    tmp = Path(tempfile.mkdtemp(prefix="wh-bench-"))
    tmp.chmod(0o755)  # nginx workers may run as another user
    argv = r.server.argv(host=HOST, port=ctx.port, workers=workers, app=first.app, tmp=tmp)
    if pinned and ctx.cpus:
        argv = ["taskset", "-c", str(ctx.cpus[1]), *argv]
    label = f"{r.server.name}-{first.app}-w{workers}-rep{rep}"
    log(f"start {label}: {' '.join(argv)}")
    try:
        proc = procs.Started(argv, ctx.raw / f"{label}.server.log", ctx.env, BENCH)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        start_ms = probes.wait_ready(proc, ctx.port)
        probes.wait_settled(proc)
        idle = procs.memory_kb(proc.pids())
        probes.check_app(ctx.port, first.app, r.server.kind)
        behaviour = probes.connection_behaviour(ctx.port)
        notes = _observability_check(r.server, ctx.port, tmp)
        warm = wrk.argv(first, f"http://{HOST}:{ctx.port}/", ctx.warmup, tmp,
                        ctx.cpus[0] if pinned and ctx.cpus else None)
        subprocess.run(warm, capture_output=True, check=False, timeout=ctx.warmup + WRK_GRACE_S)
        rows = []
        for sc in scs:
            row = _measure(ctx, r, sc, proc, tmp, label, pinned)
            row.update(rep=rep, workers=workers, startup_ms=round(start_ms, 1),
                       rss_idle_kb=idle[0], pss_idle_kb=idle[1], conn_behaviour=behaviour)
            _classify_errors(row, behaviour, sc)
            row["notes"] = "; ".join(filter(None, [notes, _access_log_lines(r.server, tmp)]))
            rows.append(row)
            _log_row(row)
        return rows
    finally:
        proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(ctx: Context, r: Ready, sc: Scenario, proc: procs.Started, tmp: Path,
             label: str, pinned: bool) -> dict[str, object]:
    proxy = None
    target = ctx.port
    client_cpu = ctx.cpus[0] if pinned and ctx.cpus else None
    try:
        if sc.proxy and ctx.nginx:
            target = ctx.port + 1
            proxy = procs.Started(nginx.argv(ctx.nginx, tmp, HOST, target, ctx.port),
                                  ctx.raw / f"{label}.nginx.log", ctx.env, BENCH)
            probes.wait_ready(proxy, target)
            probes.check_app(target, sc.app, r.server.kind)
            subprocess.run(wrk.argv(sc, f"http://{HOST}:{target}/", PROXY_WARMUP_S, tmp, None),
                           capture_output=True, check=False, timeout=PROXY_WARMUP_S + WRK_GRACE_S)

        def server_cpu() -> float:
            return procs.cpu_seconds(proc.pids(), proc.pid)

        def proxy_cpu() -> float:
            return procs.cpu_seconds(proxy.pids(), proxy.pid) if proxy else 0.0

        waited, _ = machine.wait_quiet(ctx.quiet_wait, lambda: server_cpu() + proxy_cpu())
        cpu0, pcpu0 = server_cpu(), proxy_cpu()
        meter = machine.CpuMeter(lambda: server_cpu() + proxy_cpu())
        probe = probes.NewClientProbe(target, client_cpu)
        probe.start()
        try:
            done = subprocess.run(
                wrk.argv(sc, f"http://{HOST}:{target}/", ctx.duration, tmp, client_cpu),
                capture_output=True, text=True, check=False, timeout=ctx.duration + WRK_GRACE_S)
        finally:
            probed = probe.finish()
        foreign, steal = meter.read()
        cpu, pcpu = server_cpu() - cpu0, proxy_cpu() - pcpu0
        (ctx.raw / f"{label}-{sc.name}.wrk.txt").write_text(done.stdout + done.stderr)
        if not proc.alive():
            raise RuntimeError(f"the server died during {sc.name}:\n{proc.tail()}")
        pids = proc.pids()
        rss, pss = procs.memory_kb(pids)
    finally:
        if proxy is not None:
            proxy.stop()
            _keep(tmp / "nginx.error.log", ctx.raw / f"{label}-{sc.name}.nginx-error.log")
    try:
        res = wrk.parse(done.stdout)
    except ValueError as exc:
        raise RuntimeError(f"{exc}; wrk said: {(done.stdout + done.stderr).strip()[-300:]}")
    answered = res.requests + len(probe.waits_ms)
    return {
        "run_id": ctx.run_id,
        "utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mode": ctx.mode, "server": r.server.name, "scenario": sc.name, "app": sc.app,
        "pinned": "yes" if pinned else "no", "keepalive": "yes" if sc.keepalive else "no",
        "connections": sc.connections, "duration_s": ctx.duration,
        "requests": res.requests, "req_per_s": round(res.req_per_s, 1),
        "p50_ms": round(res.p50_ms, 3), "p99_ms": round(res.p99_ms, 3),
        **{f"err_{k}": v for k, v in res.errors.items()},
        "server_cpu_us_per_req": round(cpu * 1e6 / answered, 1) if answered else "",
        "proxy_cpu_us_per_req": round(pcpu * 1e6 / answered, 1) if proxy and answered else "",
        "rss_kb": rss, "pss_kb": pss, "nprocs": len(pids), **probed,
        "foreign_cpu": round(foreign, 3), "steal_cpu": round(steal, 3),
        "quiet_wait_s": round(waited, 1),
        "server_version": r.version, "machine": ctx.machine, "tools": ctx.tools,
    }


def _keep(src: Path, dest: Path) -> None:
    """Copy a log out of the scratch folder (which is deleted) when it says anything."""
    if src.exists() and src.stat().st_size:
        shutil.copyfile(src, dest)


def _classify_errors(row: dict[str, object], behaviour: str, sc: Scenario) -> None:
    """A server that closes without `Connection: close` makes wrk count one read error per
    reused connection: those are expected (and the responses are complete), not errors."""
    counts = {k: int(str(row[f"err_{k}"])) for k in wrk.ERROR_KINDS}
    expected = counts["read"] if behaviour == probes.CLOSES_SILENTLY and not sc.proxy else 0
    row["expected_read_errors"] = expected
    row["errors"] = sum(counts.values()) - expected


def _observability_check(server: Server, port: int, tmp: Path) -> str:
    """For the observability-on row: the metrics endpoint and control socket really are on."""
    if "--metrics-bind" not in server.command:
        return ""
    status = None
    try:
        ex = probes.Exchange(port + 2, 5.0)
        status = ex.request(close=True, path="/metrics").status
        ex.close()
    except (OSError, ValueError, IndexError):
        pass
    ctl = "control socket on" if (tmp / "ctl.sock").exists() else "NO control socket"
    return f"metrics endpoint {status}; {ctl}"


def _access_log_lines(server: Server, tmp: Path) -> str:
    log_file = tmp / "access.log"
    if "--access-logfile" not in server.command:
        return ""
    if not log_file.exists():
        return "NO access log"
    with open(log_file, "rb") as f:
        return f"access log {sum(1 for _ in f)} lines so far"


def _log_row(row: dict[str, object]) -> None:
    probe = f"probe {row['probe_p50_ms'] or '-'}/{row['probe_max_ms'] or '-'} ms"
    if row["probe_fail"]:
        probe += f" ({row['probe_fail']} of {row['probes']} failed)"
    log(f"  {row['server']:18} {row['scenario']:5} {float(str(row['req_per_s'])):>9,.0f} req/s"
        f"  p50 {row['p50_ms']} p99 {row['p99_ms']} ms  errors {row['errors']}"
        f" (+{row['expected_read_errors']} expected)  cpu {row['server_cpu_us_per_req']} us/req"
        f"  {probe}  foreign {row['foreign_cpu']} steal {row['steal_cpu']} cores")
