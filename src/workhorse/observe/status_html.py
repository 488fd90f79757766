"""The status page's sections as HTML, rendered by the master from one snapshot.

Strategy: the page must read well with no JavaScript at all (a text
browser, a locked-down one, a screen reader), so the master writes every
section as plain HTML: headings, cards of figures, the slot map as one
lettered cell per request slot, and tables of the requests in flight and of
the workers. The page's script (``status_page.js``) redraws the same
elements, with the same ids and classes, from the ``status --json``
document; this module is the reference it follows.

Everything that comes from a request (request line, client address,
request id) is attacker-controlled: every text and attribute value goes
through :func:`text` (``html.escape`` with quotes), and nothing here writes
a ``style`` attribute or a URL built from data.
"""

from __future__ import annotations

import html
import time

from workhorse.observe.schema import ListenerInfo, Snapshot, ThreadInfo, WorkerInfo
from workhorse.observe.view import seconds, size
from workhorse.scoreboard import STATE_LEGEND

#: A request is shown as stuck once it has used this much of its time budget
#: (``timeout``, plus what it asked for with ``extend_deadline``): half-way
#: it is no longer a slow request but one the watchdog will most likely end.
STUCK_FRACTION = 0.5
#: Without a deadline (``timeout = 0``), a request this old is shown as stuck
#: (Gunicorn's default timeout).
STUCK_WITHOUT_DEADLINE = 30.0

#: CSS class of each map character (the page's colours and the legend).
CELL_CLASSES = {".": "s-empty", "S": "s-start", "_": "s-idle", "R": "s-read", "A": "s-app",
                "W": "s-write", "G": "s-grace"}


def text(value: object) -> str:
    """Any value as HTML text or attribute content, escaped."""
    return html.escape(str(value), quote=True)


def is_stuck(thread: ThreadInfo) -> bool:
    """True when the request in this slot has used most of its time budget."""
    elapsed, left = thread["elapsed"], thread["deadline_in"]
    if elapsed is None:
        return False
    if left is None:
        return elapsed >= STUCK_WITHOUT_DEADLINE
    return left <= 0 or elapsed >= STUCK_FRACTION * (elapsed + left)


def in_flight(snapshot: Snapshot) -> list[tuple[WorkerInfo, ThreadInfo]]:
    """Busy request slots, the longest-running first."""
    busy = [(worker, thread) for worker in snapshot["workers"] for thread in worker["threads"]
            if thread["state"] != "idle"]
    return sorted(busy, key=lambda pair: -(pair[1]["elapsed"] or 0.0))


def percent(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.0%}"


# --- the header ----------------------------------------------------------------------------
def server_line(snapshot: Snapshot) -> str:
    server = snapshot["server"]
    return (f"master {server['pid']} · workhorse {server['version']} ·"
            f" {server['worker_class']}, {server['threads']} thread(s), timeout"
            f" {server['timeout']:g}s · generation {server['generation']} ·"
            f" up {seconds(server['uptime'])}")


def as_of(snapshot: Snapshot) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(snapshot["taken_at"]))
    return f"as of {stamp}; reload the page to refresh"


# --- the cards -------------------------------------------------------------------------------
def _card(title: str, *lines: str, extra_class: str = "") -> str:
    classes = f"card {extra_class}".strip()
    body = "".join(f"<p>{line}</p>" for line in lines)
    return f'<div class="{classes}"><h3>{text(title)}</h3>{body}</div>'


def _figure(key: str, value: object) -> str:
    """A figure the script updates (and a test reads) by its ``data-k``."""
    return f'<b data-k="{text(key)}">{text(value)}</b>'


def _meter(value: float, maximum: float, label: str) -> str:
    """A gauge that turns yellow from half full and red from 90 % (lower is better)."""
    return (f'<meter min="0" max="{text(maximum)}" low="{text(maximum * 0.5)}"'
            f' high="{text(maximum * 0.9)}" optimum="0" value="{text(value)}"'
            f' aria-label="{text(label)}"></meter>')


def summary_cards(snapshot: Snapshot) -> str:
    return "".join([_slots_card(snapshot), _workers_card(snapshot), _window_card(snapshot),
                    _backlog_card(snapshot["listeners"]), _trouble_card(snapshot)])


def _slots_card(snapshot: Snapshot) -> str:
    summary = snapshot["summary"]
    stuck = sum(1 for _, thread in in_flight(snapshot) if is_stuck(thread))
    return _card(
        "Slots",
        f"{_figure('busy', summary['busy'])} busy, {_figure('idle', summary['idle'])} idle"
        f" of {_figure('slots_total', summary['slots_total'])} ready",
        f"{_figure('busy_ratio', percent(summary['busy_ratio']))} busy "
        + _meter(summary["busy_ratio"] or 0.0, 1, "busy ratio"),
        f"{_figure('stuck', stuck)} stuck",
        extra_class="alert" if stuck else "")


def _workers_card(snapshot: Snapshot) -> str:
    summary = snapshot["summary"]
    return _card(
        "Workers",
        f"{_figure('workers_ready', summary['workers_ready'])} ready,"
        f" {_figure('workers_booting', summary['workers_booting'])} booting,"
        f" {_figure('workers_stopping', summary['workers_stopping'])} stopping",
        f"target {_figure('target_workers', summary['target_workers'])}")


def _window_card(snapshot: Snapshot) -> str:
    window = snapshot["window"]
    rate = f"{window['rps']:.1f}"
    return _card(
        f"Last {window['seconds']:.0f}s",
        f"{_figure('rps', rate)} req/s"
        f" ({_figure('requests', window['requests'])} requests)",
        f"duration p50 {_figure('duration_p50', seconds(window['duration_p50']))}"
        f" p99 {_figure('duration_p99', seconds(window['duration_p99']))}",
        f"queue p50 {_figure('queue_p50', seconds(window['queue_p50']))}"
        f" p99 {_figure('queue_p99', seconds(window['queue_p99']))}")


def _backlog_card(listeners: list[ListenerInfo]) -> str:
    if not listeners:
        return _card("Backlog", "no listeners")
    lines = [_listener_line(listener) for listener in listeners]
    full = any(_fullness(listener) >= 0.5 for listener in listeners)
    return _card("Backlog", *lines, extra_class="alert" if full else "")


def _fullness(listener: ListenerInfo) -> float:
    queued, limit = listener["queued"], listener["limit"]
    return queued / limit if queued is not None and limit else 0.0


def _listener_line(listener: ListenerInfo) -> str:
    queued = "?" if listener["queued"] is None else listener["queued"]
    limit = "?" if listener["limit"] is None else listener["limit"]
    meter = (_meter(listener["queued"] or 0, listener["limit"], "listen queue")
             if listener["limit"] else "")
    return (f'<span class="addr">{text(listener["address"])}</span>'
            f' <b data-k="queued">{text(queued)}</b> waiting of'
            f' <b data-k="limit">{text(limit)}</b> {meter}')


def _trouble_card(snapshot: Snapshot) -> str:
    summary = snapshot["summary"]
    causes = sorted((cause, n) for cause, n in summary["restarts"].items() if n)
    restarts = ", ".join(f"{cause} {n}" for cause, n in causes) or "none"
    lines = [f"restarts: {_figure('restarts', restarts)}",
             f"timeouts {_figure('timeouts', summary['timeouts'])};"
             f" 504 x {_figure('answered_504', summary['answered_504'])},"
             f" 503 x {_figure('answered_503', summary['answered_503'])}"]
    failing = summary["boot_failures_in_a_row"]
    if failing:
        lines.append(f"boot failures in a row: {_figure('boot_failures', failing)}")
    return _card("Trouble", *lines, extra_class="alert" if failing else "")


# --- the map ---------------------------------------------------------------------------------
def slot_map(snapshot: Snapshot) -> str:
    """One lettered cell per request slot, grouped by worker, in the status map's order."""
    groups = []
    for worker in snapshot["workers"]:
        cells = "".join(_cell(worker, thread) for thread in worker["threads"])
        groups.append(f'<span class="worker" title="{text(_worker_title(worker))}">'
                      f"{cells}</span>")
    return " ".join(groups) or "(no workers)"


def _cell(worker: WorkerInfo, thread: ThreadInfo) -> str:
    char = thread["char"]
    classes = ["cell", CELL_CLASSES.get(char, "s-empty")]
    if is_stuck(thread):
        classes.append("stuck")
    title = text(_cell_title(worker, thread))
    return f'<span class="{" ".join(classes)}" title="{title}">{text(char)}</span>'


def _worker_title(worker: WorkerInfo) -> str:
    return f"worker slot {worker['slot']}, pid {worker['pid']}, {worker['state']}"


def _cell_title(worker: WorkerInfo, thread: ThreadInfo) -> str:
    title = f"slot {thread['slot_id']} · pid {worker['pid']} · {thread['state']}"
    if thread["state"] != "idle":
        title += f" {seconds(thread['elapsed'])} · {thread['request']}"
    return title + (" · STUCK" if is_stuck(thread) else "")


def legend() -> str:
    items = (f'<li><span class="cell {CELL_CLASSES[char]}" data-char="{text(char)}">'
             f"{text(char)}</span> {text(meaning)}</li>"
             for char, meaning in STATE_LEGEND.items())
    return "".join(items) + '<li><span class="cell s-app stuck">A</span> stuck</li>'


# --- the tables ------------------------------------------------------------------------------
INFLIGHT_COLUMNS = ("Slot", "PID", "State", "Elapsed", "Request", "Client", "Request id",
                    "Queue")
WORKER_COLUMNS = ("Slot", "PID", "State", "Gen", "Age", "Requests", "RSS", "Conns", "Busy",
                  "Heartbeat")


def _head(columns: tuple[str, ...]) -> str:
    return "<thead><tr>" + "".join(f"<th>{text(c)}</th>" for c in columns) + "</tr></thead>"


def _row(cells: list[str], row_class: str = "") -> str:
    opening = f'<tr class="{row_class}">' if row_class else "<tr>"
    return opening + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def inflight_table(snapshot: Snapshot) -> str:
    rows = [_inflight_row(worker, thread) for worker, thread in in_flight(snapshot)]
    if not rows:
        rows = [f'<tr><td colspan="{len(INFLIGHT_COLUMNS)}" class="muted">no request in'
                " flight</td></tr>"]
    return _head(INFLIGHT_COLUMNS) + "<tbody>" + "".join(rows) + "</tbody>"


def _inflight_row(worker: WorkerInfo, thread: ThreadInfo) -> str:
    stuck = is_stuck(thread)
    state = text(thread["state"]) + (' <strong class="badge">stuck</strong>' if stuck else "")
    return _row([text(thread["slot_id"]), text(worker["pid"]), state,
                 text(seconds(thread["elapsed"])),
                 f'<code class="req">{text(thread["request"])}</code>',
                 text(thread["client"]), f"<code>{text(thread['request_id'])}</code>",
                 text(seconds(thread["queue_time"]))],
                "stuck" if stuck else "")


def workers_table(snapshot: Snapshot) -> str:
    rows = [_worker_row(worker) for worker in snapshot["workers"]]
    if not rows:
        rows = [f'<tr><td colspan="{len(WORKER_COLUMNS)}" class="muted">no workers</td></tr>']
    return _head(WORKER_COLUMNS) + "<tbody>" + "".join(rows) + "</tbody>"


def _worker_row(worker: WorkerInfo) -> str:
    busy = sum(1 for thread in worker["threads"] if thread["state"] != "idle")
    return _row([text(worker["slot"]), text(worker["pid"]), text(worker["state"]),
                 text(worker["generation"]), text(seconds(worker["age"])),
                 text(worker["requests"]), text(size(worker["rss_bytes"])),
                 text(worker["connections"]), text(f"{busy}/{len(worker['threads'])}"),
                 text(seconds(worker["heartbeat_age"]))])
