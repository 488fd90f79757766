"""The human view of a snapshot: what ``workhorse status`` prints.

Strategy: three blocks an operator reads top-down, each answering one
question. The summary: is the server keeping up (workers and request slots,
listen queues against their limits, last-minute rate and latency
percentiles, restarts and timeouts by cause)? The map, after Apache's
mod_status: one character per request slot, grouped by worker, with its
legend. The table: what each thread is doing now, one row each, the request
line last so it can be cut to the terminal's width. Pure functions of the
snapshot and a width, so they are tested by comparing text.
"""

from __future__ import annotations

import textwrap

from workhorse.observe.schema import ListenerInfo, Snapshot, ThreadInfo, WorkerInfo
from workhorse.scoreboard import STATE_LEGEND

#: Width used when the output is not a terminal.
DEFAULT_WIDTH = 100
#: The request column never shrinks below this, even on a narrow terminal.
MIN_REQUEST_WIDTH = 16
LABEL_WIDTH = 11
#: With one thread per worker the map is cut in groups of this many workers.
SINGLE_THREAD_GROUP = 10
COLUMNS = (("SLOT", 5), ("PID", 8), ("STATE", 9), ("ELAPSED", 8), ("REQS", 7), ("RSS", 8),
           ("AGE", 7))


# --- numbers for people --------------------------------------------------------------------
def seconds(value: float | None) -> str:
    """A duration in the unit that suits it: 0.4ms, 12ms, 1.20s, 3m05s, 2h03m, 3d04h."""
    if value is None:
        return "-"
    if value < 0.001:
        return f"{value * 1000:.2f}ms"
    if value < 0.01:
        return f"{value * 1000:.1f}ms"
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 60:
        return f"{value:.2f}s" if value < 10 else f"{value:.1f}s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def size(value: int | None) -> str:
    """Bytes in binary units: 512B, 81.2M, 1.5G."""
    if value is None:
        return "-"
    amount = float(value)
    for unit in ("B", "K", "M", "G"):
        if amount < 1024 or unit == "G":
            return f"{amount:.0f}{unit}" if unit == "B" else f"{amount:.1f}{unit}"
        amount /= 1024
    return f"{amount:.1f}G"


def _line(label: str, text: str) -> str:
    return f"{label:<{LABEL_WIDTH}}{text}".rstrip()


# --- the summary ---------------------------------------------------------------------------
def render_summary(snapshot: Snapshot) -> list[str]:
    server, summary = snapshot["server"], snapshot["summary"]
    lines = [
        f"workhorse {server['version']}  master {server['pid']} ({server['proc_name']})"
        f"  up {seconds(server['uptime'])}  {server['worker_class']}, {server['threads']}"
        f" thread(s), timeout {server['timeout']:g}s, generation {server['generation']}",
        "",
        _line("Workers", f"{summary['workers_ready']} ready, {summary['workers_booting']}"
              f" booting, {summary['workers_stopping']} stopping (target"
              f" {summary['target_workers']})"),
        _line("Slots", _slots_text(snapshot)),
    ]
    lines += _listener_lines(snapshot["listeners"])
    lines += _window_lines(snapshot)
    lines += _trouble_lines(snapshot)
    return lines


def _slots_text(snapshot: Snapshot) -> str:
    summary = snapshot["summary"]
    ratio = summary["busy_ratio"]
    busy = f" ({ratio:.0%} busy)" if ratio is not None else ""
    return (f"{summary['busy']} busy, {summary['idle']} idle of {summary['slots_total']}"
            f" ready{busy}")


def _listener_lines(listeners: list[ListenerInfo]) -> list[str]:
    if not listeners:
        return [_line("Backlog", "no listeners")]
    width = max(len(listener["address"]) for listener in listeners)
    lines = []
    for index, listener in enumerate(listeners):
        queued = "?" if listener["queued"] is None else str(listener["queued"])
        limit = "?" if listener["limit"] is None else str(listener["limit"])
        text = f"{listener['address']:<{width}}  {queued} waiting (limit {limit})"
        lines.append(_line("Backlog" if index == 0 else "", text))
    return lines


def _window_lines(snapshot: Snapshot) -> list[str]:
    window = snapshot["window"]
    return [
        _line(f"Last {window['seconds']:.0f}s",
              f"{window['rps']:.1f} req/s ({window['requests']} requests)"),
        _line("", "duration  " + _percentiles(window["duration_p50"], window["duration_p90"],
                                                window["duration_p99"])),
        _line("", "queue     " + _percentiles(window["queue_p50"], window["queue_p90"],
                                                window["queue_p99"])),
    ]


def _percentiles(p50: float | None, p90: float | None, p99: float | None) -> str:
    return f"p50 {seconds(p50):<8} p90 {seconds(p90):<8} p99 {seconds(p99)}"


def _trouble_lines(snapshot: Snapshot) -> list[str]:
    summary = snapshot["summary"]
    causes = sorted((cause, n) for cause, n in summary["restarts"].items() if n)
    restarts = ", ".join(f"{cause} {n}" for cause, n in causes) or "none"
    lines = [
        _line("Restarts", restarts),
        _line("Timeouts", f"{summary['timeouts']}; answered by the master: 504 x"
              f" {summary['answered_504']}, 503 x {summary['answered_503']}"
              + (f"; event loops blocked: {summary['loops_blocked']}"
                 if summary.get("loops_blocked") else "")),
    ]
    if summary["boot_failures_in_a_row"]:
        wait = summary["next_spawn_in"]
        later = f"; next spawn in {seconds(wait)}" if wait is not None else ""
        lines.append(_line("Boot", f"{summary['boot_failures_in_a_row']} failure(s) in a"
                           f" row{later}"))
    return lines


# --- the map -------------------------------------------------------------------------------
def render_map(snapshot: Snapshot, width: int = DEFAULT_WIDTH) -> list[str]:
    """The one-character-per-slot map, one group per worker, and its legend."""
    threads = snapshot["server"]["threads"]
    group = threads if threads > 1 else SINGLE_THREAD_GROUP
    chars = snapshot["map"]
    groups = [chars[i : i + group] for i in range(0, len(chars), group)]
    room = max(20, width - LABEL_WIDTH)
    lines = textwrap.wrap(" ".join(groups), room, break_on_hyphens=False) or ["(no workers)"]
    out = [_line("Map" if i == 0 else "", text) for i, text in enumerate(lines)]
    legend = [f'"{char}" {meaning}' for char, meaning in STATE_LEGEND.items()]
    cell = max(len(entry) for entry in legend) + 2
    per_line = max(1, room // cell)
    for start in range(0, len(legend), per_line):
        row = "".join(f"{entry:<{cell}}" for entry in legend[start : start + per_line])
        out.append(_line("Legend" if start == 0 else "", row))
    return out


# --- the table -----------------------------------------------------------------------------
def render_table(snapshot: Snapshot, width: int = DEFAULT_WIDTH) -> list[str]:
    """One row per request slot: who serves what, for how long."""
    fixed = sum(w for _, w in COLUMNS)
    room = max(MIN_REQUEST_WIDTH, width - fixed)
    header = "".join(f"{name:<{w}}" for name, w in COLUMNS) + "REQUEST"
    rows = [header]
    for worker in snapshot["workers"]:
        for thread in worker["threads"]:
            rows.append(_row(worker, thread, room))
    return rows


def _row(worker: WorkerInfo, thread: ThreadInfo, room: int) -> str:
    busy = thread["state"] != "idle"
    state = thread["state"] if busy or worker["state"] == "ready" else worker["state"]
    cells = (str(thread["slot_id"]), str(worker["pid"]), state,
             seconds(thread["elapsed"]) if busy else "-", str(thread["requests"]),
             size(worker["rss_bytes"]), seconds(worker["age"]))
    text = "".join(f"{cell:<{w}}" for cell, (_, w) in zip(cells, COLUMNS, strict=True))
    return (text + truncate(thread["request"], room)).rstrip()


def truncate(text: str, room: int) -> str:
    """``text`` cut to ``room`` characters, marked with "..." when cut."""
    if len(text) <= room:
        return text
    return text[: max(0, room - 3)] + "..."


def render(snapshot: Snapshot, width: int = DEFAULT_WIDTH) -> str:
    """The whole ``workhorse status`` page."""
    blocks = [render_summary(snapshot), render_map(snapshot, width), render_table(snapshot, width)]
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"
