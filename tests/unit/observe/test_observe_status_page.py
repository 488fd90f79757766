"""The status page as the master writes it, and its routes on the metrics listener."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any

import pytest

from workhorse.observe import status_page
from workhorse.observe.history import HistorySampler
from workhorse.observe.metrics_http import MetricsServer
from workhorse.observe.schema import Snapshot, ThreadInfo
from workhorse.observe.status_html import is_stuck

Serve = Callable[..., Any]
SnapshotFactory = Callable[[], Snapshot]
#: The page's budget: it is read over slow links and served by the master.
MAX_PAGE_BYTES = 40 * 1024
HOSTILE_LINE = ('GET /search?q=<script>alert(1)</script>&x="><img/src=x/onerror=alert(2)>'
                " HTTP/1.1")


class Page(HTMLParser):
    """The parts of a page the tests look at: tags, figures, table rows, inline code."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.figures: dict[str, list[str]] = {}
        self.rows: dict[str, list[list[str]]] = {}
        self.inline: dict[str, str] = {}
        self._open: list[str] = []
        self._figure: str | None = None
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        self._open.append(tag)
        if "data-k" in attributes:
            self._figure = attributes["data-k"]
            self.figures.setdefault(self._figure or "", []).append("")
        if tag == "table":
            self._table = attributes.get("id")
        elif tag == "tr" and self._table:
            self.rows.setdefault(self._table, []).append([])
        elif tag == "td" and self._table:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()
        if tag == "b":
            self._figure = None
        elif tag == "td" and self._cell is not None and self._table:
            self.rows[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] in ("script", "style"):
            self.inline[self._open[-1]] = self.inline.get(self._open[-1], "") + data
            return
        if self._figure is not None:
            self.figures[self._figure][-1] += data
        if self._cell is not None:
            self._cell.append(data)

    def figure(self, key: str) -> str:
        (value,) = self.figures[key]
        return value


def body_rows(page: Page, table: str) -> list[list[str]]:
    return [row for row in page.rows[table] if row]  # the header row has no td


def render(snapshot: Snapshot) -> Page:
    return Page(status_page.render(snapshot))


# --- what the page shows ---------------------------------------------------------------
def test_the_figures_are_the_snapshot(snapshot: SnapshotFactory) -> None:
    snap = snapshot()
    page = render(snap)
    summary = snap["summary"]
    for key in ("busy", "idle", "slots_total", "workers_ready", "workers_booting",
                "workers_stopping", "target_workers", "timeouts", "answered_504",
                "answered_503"):
        assert page.figure(key) == str(summary[key]), key  # type: ignore[literal-required]
    assert page.figure("busy_ratio") == "50%"
    assert page.figure("rps") == "12.4" and page.figure("requests") == "744"
    assert page.figure("duration_p99") == "1.20s" and page.figure("queue_p50") == "0.40ms"
    assert page.figure("restarts") == "crash 1, max_requests 14, timeout 2"
    assert page.figures["queued"] == ["3", "0"] and page.figures["limit"] == ["2048", "128"]
    assert page.figure("stuck") == "0"


def test_requests_in_flight_longest_first(snapshot: SnapshotFactory) -> None:
    rows = body_rows(render(snapshot()), "inflight")
    assert [row[3] for row in rows] == ["12.3s", "210ms", "4.0ms"]
    slot, pid, state, _, line, client, request_id, queue = rows[0]
    assert (slot, pid, state) == ("0", "4250", "app")
    assert line == "GET /reports/annual?year=2026&format=pdf HTTP/1.1"
    assert (client, request_id, queue) == ("192.0.2.7:51234", "7f3a9c", "0.40ms")


def test_every_slot_is_a_lettered_cell_in_map_order(snapshot: SnapshotFactory) -> None:
    snap = snapshot()
    page = render(snap)
    # Map cells say what they are in a title; the legend's cells are explained beside them.
    in_map = [attrs for tag, attrs in page.tags
              if tag == "span" and (attrs.get("title") or "").startswith("slot ")]
    assert len(in_map) == len(snap["map"])
    assert [a["class"] for a in in_map] == [
        "cell s-app", "cell s-idle", "cell s-read", "cell s-write", "cell s-idle", "cell s-idle",
        "cell s-start", "cell s-start"]


def test_workers_table(snapshot: SnapshotFactory) -> None:
    rows = body_rows(render(snapshot()), "workers")
    assert [row[:3] for row in rows] == [["0", "4250", "ready"], ["1", "4251", "ready"],
                                         ["2", "4312", "ready"], ["3", "4400", "booting"]]
    assert rows[0][6] == "81.2M" and rows[1][8] == "2/2"


def _thread(elapsed: float | None, deadline_in: float | None) -> ThreadInfo:
    return ThreadInfo(thread=0, slot_id=0, state="app" if elapsed is not None else "idle",
                      char="A", request="GET / HTTP/1.1", client="", request_id="",
                      elapsed=elapsed, deadline_in=deadline_in, queue_time=None, requests=1,
                      last_status=200)


@pytest.mark.parametrize(("elapsed", "deadline_in", "stuck"), [
    (None, None, False),  # idle
    (12.3, 17.7, False),  # 41 % of a 30 s budget
    (15.0, 15.0, True),  # half of it
    (2.0, -0.2, True),  # overdue (the watchdog is about to end it)
    (29.0, 571.0, False),  # it asked for more time: 5 % of its budget
    (29.9, None, False),  # no deadline (timeout 0): stuck after 30 s
    (30.0, None, True),
])
def test_stuck_means_past_half_of_its_time_budget(elapsed: float | None,
                                                  deadline_in: float | None,
                                                  stuck: bool) -> None:
    assert is_stuck(_thread(elapsed, deadline_in)) is stuck


def test_a_stuck_request_stands_out(snapshot: SnapshotFactory) -> None:
    snap = snapshot()
    thread = snap["workers"][0]["threads"][0]
    thread["elapsed"], thread["deadline_in"] = 21.0, 9.0
    page = render(snap)
    assert page.figure("stuck") == "1"
    stuck_rows = [attrs for tag, attrs in page.tags if tag == "tr" and attrs.get("class")]
    assert stuck_rows == [{"class": "stuck"}]
    assert body_rows(page, "inflight")[0][2] == "app stuck"
    assert ("span", {"class": "cell s-app stuck",
                     "title": "slot 0 · pid 4250 · app 21.0s · GET /reports/annual?year=2026"
                              "&format=pdf HTTP/1.1 · STUCK"}) in page.tags
    assert ("div", {"class": "card alert"}) in page.tags


def test_no_workers_and_no_listeners_read_as_such(snapshot: SnapshotFactory) -> None:
    snap = snapshot()
    snap["workers"], snap["listeners"], snap["map"] = [], [], ""
    text = status_page.render(snap)
    assert "(no workers)" in text and "no listeners" in text
    assert "no request in flight" in text


# --- hostile input ---------------------------------------------------------------------
def hostile(snapshot: Snapshot) -> Snapshot:
    thread = snapshot["workers"][1]["threads"][0]
    thread["request"] = HOSTILE_LINE
    thread["client"] = "<b>10.0.0.1</b>:80"
    thread["request_id"] = "'\"><svg/onload=alert(3)>"
    snapshot["listeners"][0]["address"] = "<iframe src=//evil>"
    snapshot["server"]["proc_name"] = "</title><script>alert(4)</script>"
    return snapshot


def test_request_data_is_escaped_text(snapshot: SnapshotFactory) -> None:
    snap = hostile(snapshot())
    text = status_page.render(snap)
    page = Page(text)
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"img", "svg", "iframe"}
    assert [tag for tag, _ in page.tags].count("script") == 1  # the page's own
    assert [tag for tag, _ in page.tags].count("title") == 1
    row = next(row for row in body_rows(page, "inflight") if row[4] == HOSTILE_LINE)
    assert row[5] == "<b>10.0.0.1</b>:80" and row[6] == "'\"><svg/onload=alert(3)>"
    assert "alert(" not in page.inline["script"] + page.inline["style"]
    assert not any(name.startswith("on") for _, attrs in page.tags for name in attrs)


def test_nothing_on_the_page_can_change_the_server(snapshot: SnapshotFactory) -> None:
    page = Page(status_page.render(snapshot()))
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"form", "input", "button", "select", "textarea", "iframe"}
    links = [attrs["href"] for tag, attrs in page.tags if tag == "a"]
    assert links == ["status.json", "status/history.json"]
    assert "fetch(" in page.inline["script"]
    assert "method" not in page.inline["script"]  # every fetch is a GET


def test_the_policy_admits_exactly_the_inline_style_and_script(
        snapshot: SnapshotFactory) -> None:
    page = Page(status_page.render(snapshot()))

    def digest(content: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(content.encode()).digest()).decode()

    policy = dict(part.split(" ", 1) for part in status_page.PAGE_POLICY.split("; "))
    assert policy["script-src"] == digest(page.inline["script"]) + "'"
    assert policy["style-src"] == digest(page.inline["style"]) + "'"
    assert policy["default-src"] == "'none'" and policy["connect-src"] == "'self'"


def test_the_page_is_small_and_self_contained(snapshot: SnapshotFactory) -> None:
    text = status_page.render(snapshot())
    assert len(text.encode()) < MAX_PAGE_BYTES
    links = text.replace("http://www.w3.org/2000/svg", "")  # a namespace name, never fetched
    assert "http://" not in links and "https://" not in links and "//" + "cdn" not in links
    assert " src=" not in text  # nothing to load (the icon is an empty data: URL)


@pytest.mark.skipif(shutil.which("node") is None, reason="node (for a syntax check) missing")
def test_the_script_parses(tmp_path: Any) -> None:
    script = tmp_path / "status_page.js"
    script.write_text(status_page.SCRIPT)
    result = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr


def test_json_documents(snapshot: SnapshotFactory) -> None:
    snap = snapshot()
    snap["window"]["rps"] = float("nan")
    answer = status_page.answer(status_page.SNAPSHOT_PATH, lambda: snap, None)
    assert answer.content_type == "application/json"
    document = json.loads(answer.body)
    assert document["window"]["rps"] is None
    snap["window"]["rps"] = None  # type: ignore[typeddict-item]
    assert document == snap
    missing = status_page.answer(status_page.HISTORY_PATH, lambda: snap, None)
    assert missing.status == 404


# --- on the metrics listener -------------------------------------------------------------
@contextmanager
def listener(serve: Serve, master: Any, history: HistorySampler | None) -> Iterator[Any]:
    server = MetricsServer("127.0.0.1:0", history=history)
    with serve(master, server):
        yield server


def get(server: MetricsServer, path: str,
        method: str = "GET") -> tuple[http.client.HTTPResponse, bytes]:
    host, port = server.address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=3)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


def test_the_routes_on_the_listener(master: Any, serve: Serve) -> None:
    history = HistorySampler()
    history.add(master.current, 0.0)
    history.add(master.current, 2.0)
    with listener(serve, master, history) as server:
        response, body = get(server, "/status")
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/html; charset=utf-8"
        assert response.getheader("Content-Security-Policy") == status_page.PAGE_POLICY
        assert response.getheader("X-Content-Type-Options") == "nosniff"
        assert response.getheader("X-Frame-Options") == "DENY"
        assert response.getheader("Cache-Control") == "no-store"
        assert body == status_page.render(master.current).encode()
        response, body = get(server, "/status.json")
        assert json.loads(body) == master.current
        response, body = get(server, "/status/history.json")
        assert json.loads(body) == history.document()
        response, body = get(server, "/status", method="HEAD")
        assert response.status == 200 and body == b""
        for method in ("POST", "PUT", "DELETE"):
            response, _ = get(server, "/status", method=method)
            assert response.status == 405
        response, body = get(server, "/status/")
        assert response.status == 404 and b"/status" in body


def test_without_a_sampler_the_page_has_no_history(master: Any, serve: Serve) -> None:
    with listener(serve, master, None) as server:
        assert get(server, "/status")[0].status == 200
        assert get(server, "/status/history.json")[0].status == 404
