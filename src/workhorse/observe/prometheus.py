"""The status snapshot as Prometheus metrics (text format 0.0.4 or OpenMetrics 1.0).

Strategy: first turn a :class:`Snapshot` into a list of :class:`Family`
values (name, type, unit, help and samples), independent of any format;
then write that list in the format the scraper asked for. The two formats
differ only in spelling: OpenMetrics names a counter family without its
``_total`` suffix, has ``# UNIT`` lines, an ``info`` type, escapes ``"`` in
HELP and ends with ``# EOF``. Every family name starts with ``workhorse_``;
the application's own metrics (``prometheus_client`` multiprocess output)
are appended by :func:`merge_app_metrics`, which drops any app family that
would use our prefix so the combined text never holds a family twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from workhorse.observe.schema import Histogram, Snapshot

PREFIX = "workhorse_"
CONTENT_TYPE_TEXT = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
EOF_LINE = b"# EOF\n"

WORKER_STATES = ("booting", "ready", "stopping")
SLOT_STATES = ("idle", "reading", "app", "writing")

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Sample:
    suffix: str  # appended to the family name: "", "_total", "_bucket", ...
    labels: Labels
    value: float


@dataclass
class Family:
    name: str  # without "_total" for counters, without "_info" for info
    kind: str  # "counter" | "gauge" | "histogram" | "info"
    help: str
    unit: str = ""
    samples: list[Sample] = field(default_factory=list)

    def add(self, value: float | None, suffix: str = "", **labels: str) -> None:
        """Add a sample; ``None`` (unknown) adds nothing."""
        if value is not None:
            self.samples.append(Sample(suffix, tuple(labels.items()), value))


def _gauge(name: str, help_text: str, unit: str = "") -> Family:
    return Family(PREFIX + name, "gauge", help_text, unit)


def _counter(name: str, help_text: str, unit: str = "") -> Family:
    return Family(PREFIX + name, "counter", help_text, unit)


# --- the families --------------------------------------------------------------------
def families(snapshot: Snapshot) -> list[Family]:
    """Every metric family of the snapshot, in exposition order."""
    built = [*_server_families(snapshot), *_capacity_families(snapshot),
             *_listener_families(snapshot), *_request_families(snapshot),
             *_worker_families(snapshot), *_supervision_families(snapshot)]
    return [family for family in built if family.samples]


def _server_families(snapshot: Snapshot) -> Iterator[Family]:
    server = snapshot["server"]
    info = Family(PREFIX + "build", "info", "Version and setup of this workhorse master.")
    info.add(1, "_info", version=server["version"], worker_class=server["worker_class"],
             proc_name=server["proc_name"])
    yield info
    started = _gauge("start_time_seconds", "When the master started, in seconds since the"
                     " Unix epoch.", "seconds")
    started.add(server["started_at"])
    yield started
    generation = _gauge("generation", "Configuration generation; each reload adds one.")
    generation.add(server["generation"])
    yield generation


def _capacity_families(snapshot: Snapshot) -> Iterator[Family]:
    summary = snapshot["summary"]
    workers = _gauge("workers", "Worker processes by state.")
    by_state = {"booting": summary["workers_booting"], "ready": summary["workers_ready"],
                "stopping": summary["workers_stopping"]}
    for state in WORKER_STATES:
        workers.add(by_state[state], state=state)
    yield workers
    target = _gauge("workers_target", "Number of workers the master aims to run.")
    target.add(summary["target_workers"])
    yield target
    slots = _gauge("slots", "Request slots (one per worker thread) by state; idle counts"
                   " only slots of ready workers.")
    for state, count in slot_states(snapshot).items():
        slots.add(count, state=state)
    yield slots
    ratio = _gauge("busy_ratio", "Busy request slots over busy plus idle ones.")
    ratio.add(summary["busy_ratio"])
    yield ratio


def slot_states(snapshot: Snapshot) -> dict[str, int]:
    """Request slots by state: busy ones of any worker, idle ones of ready workers."""
    counts = dict.fromkeys(SLOT_STATES, 0)
    for worker in snapshot["workers"]:
        for thread in worker["threads"]:
            state = thread["state"]
            if state != "idle" or worker["state"] == "ready":
                counts[state] = counts.get(state, 0) + 1
    return counts


def _listener_families(snapshot: Snapshot) -> Iterator[Family]:
    queue = _gauge("listen_queue", "Connections waiting in a listener's accept queue.")
    limit = _gauge("listen_queue_limit", "Capacity of a listener's accept queue (backlog).")
    for listener in snapshot["listeners"]:
        queue.add(listener["queued"], listener=listener["address"])
        limit.add(listener["limit"], listener=listener["address"])
    yield queue
    yield limit


def _request_families(snapshot: Snapshot) -> Iterator[Family]:
    totals = snapshot["totals"]
    requests = _counter("requests", "Requests answered, by status class.")
    for status_class, count in sorted(totals["by_status_class"].items()):
        requests.add(count, "_total", status_class=status_class)
    yield requests
    yield _histogram("request_duration_seconds", "Time from reading a request to the end of"
                     " its response.", totals["duration"])
    yield _histogram("request_queue_seconds", "Time a request waited before a worker took it.",
                     totals["queue"])
    received = _counter("received_bytes", "Bytes received from clients.", "bytes")
    received.add(totals["bytes_in"], "_total")
    sent = _counter("sent_bytes", "Bytes sent to clients.", "bytes")
    sent.add(totals["bytes_out"], "_total")
    busy = _counter("busy_seconds", "Time request slots spent serving requests, all workers"
                    " past and present.", "seconds")
    busy.add(totals["busy_seconds"], "_total")
    yield from (received, sent, busy)


def _histogram(name: str, help_text: str, histogram: Histogram) -> Family:
    family = Family(PREFIX + name, "histogram", help_text, "seconds")
    cumulative = 0
    for bound, count in zip([*histogram["bounds"], math.inf], histogram["counts"], strict=False):
        cumulative += count
        family.add(cumulative, "_bucket", le=format_value(float(bound)))
    family.add(cumulative, "_count")  # the +Inf bucket, so the two always agree
    family.add(histogram["sum"], "_sum")
    return family


def _worker_families(snapshot: Snapshot) -> Iterator[Family]:
    busy = _counter("worker_busy_seconds", "Time this worker slot's threads spent serving"
                    " requests (resets when the worker is replaced).", "seconds")
    rss = _gauge("worker_rss_bytes", "Resident memory of the worker in this slot.", "bytes")
    requests = _counter("worker_requests", "Requests served by the worker in this slot"
                        " (resets when the worker is replaced).")
    age = _gauge("worker_age_seconds", "Time since the worker in this slot was spawned.",
                 "seconds")
    connections = _gauge("worker_connections", "Client connections the worker holds open.")
    for worker in snapshot["workers"]:
        slot = str(worker["slot"])
        busy.add(worker["busy_seconds"], "_total", slot=slot)
        rss.add(worker["rss_bytes"], slot=slot)
        requests.add(worker["requests"], "_total", slot=slot)
        age.add(worker["age"], slot=slot)
        connections.add(worker["connections"], slot=slot)
    yield from (busy, rss, requests, age, connections)


def _supervision_families(snapshot: Snapshot) -> Iterator[Family]:
    summary = snapshot["summary"]
    restarts = _counter("worker_restarts", "Workers replaced, by cause.")
    for cause, count in sorted(summary["restarts"].items()):
        restarts.add(count, "_total", cause=cause)
    yield restarts
    timeouts = _counter("timeouts", "Requests that overran their deadline (the worker was"
                        " ended, or an event-loop worker cancelled the request).")
    timeouts.add(summary["timeouts"], "_total")
    yield timeouts
    shed = _counter("shed", "Requests answered 503 without running the app: they waited"
                    " longer than max_queue_time.")
    shed.add(summary.get("shed", 0), "_total")
    yield shed
    blocked = _counter("loop_blocked", "Times an event-loop worker's loop did not turn for"
                       " blocked_loop_timeout (each logged with the blocking stack).")
    blocked.add(summary["loops_blocked"], "_total")
    yield blocked
    answers = _counter("master_responses", "Responses the master sent for a worker it ended"
                       " (504) or for requests it turned away (503).")
    answers.add(summary["answered_504"], "_total", code="504")
    answers.add(summary["answered_503"], "_total", code="503")
    yield answers
    failures = _gauge("boot_failures_in_a_row", "Consecutive workers that failed to boot"
                      " (spawning backs off while this is above zero).")
    failures.add(summary["boot_failures_in_a_row"])
    yield failures


# --- writing -------------------------------------------------------------------------
def render(snapshot: Snapshot, *, openmetrics: bool = False) -> bytes:
    """The snapshot in the Prometheus text format 0.0.4, or OpenMetrics 1.0."""
    return write(families(snapshot), openmetrics=openmetrics)


def write(found: list[Family], *, openmetrics: bool = False) -> bytes:
    lines: list[str] = []
    for family in found:
        lines.extend(_family_lines(family, openmetrics))
    text = "".join(line + "\n" for line in lines).encode()
    return text + EOF_LINE if openmetrics else text


def _family_lines(family: Family, openmetrics: bool) -> Iterator[str]:
    name = family.name if openmetrics else _text_format_name(family)
    kind = family.kind if openmetrics or family.kind != "info" else "gauge"
    yield f"# HELP {name} {escape_help(family.help, openmetrics)}"
    yield f"# TYPE {name} {kind}"
    if openmetrics and family.unit:
        yield f"# UNIT {name} {family.unit}"
    for sample in family.samples:
        yield f"{family.name}{sample.suffix}{_labels(sample.labels)} {format_value(sample.value)}"


def _text_format_name(family: Family) -> str:
    """The 0.0.4 format names a counter's and an info's family by their sample."""
    if family.kind == "counter":
        return family.name + "_total"
    if family.kind == "info":
        return family.name + "_info"
    return family.name


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{escape_label(value)}"' for key, value in labels) + "}"


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str, openmetrics: bool) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if openmetrics else text


def format_value(value: float) -> str:
    """Numbers as both formats spell them: +Inf, -Inf, NaN, Python's shortest repr."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


# --- the application's metrics ---------------------------------------------------------
def merge_app_metrics(ours: bytes, app: bytes, *, openmetrics: bool = False) -> bytes:
    """Our exposition followed by the application's, as one valid document.

    ``app`` must be in the same format as ``ours`` (what
    ``prometheus_client.generate_latest`` or its OpenMetrics variant gives).
    App families named with our ``workhorse_`` prefix are dropped, and in
    OpenMetrics only one ``# EOF`` is kept, at the end.
    """
    head = ours.removesuffix(EOF_LINE) if openmetrics else ours
    kept = [line for line in app.splitlines(keepends=True) if _keep_app_line(line, openmetrics)]
    body = b"".join(kept)
    if body and not body.endswith(b"\n"):
        body += b"\n"
    return head + body + (EOF_LINE if openmetrics else b"")


def _keep_app_line(line: bytes, openmetrics: bool) -> bool:
    stripped = line.strip()
    if not stripped or stripped == b"# EOF":
        return False
    if stripped.startswith(b"#"):
        parts = stripped.split(None, 3)
        if len(parts) >= 3 and parts[1] in (b"HELP", b"TYPE", b"UNIT"):
            return not parts[2].startswith(PREFIX.encode())
        return not openmetrics  # OpenMetrics allows no other comments
    return not stripped.startswith(PREFIX.encode())
