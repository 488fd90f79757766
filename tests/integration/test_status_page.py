"""The status page as a person sees it: a real server with work in flight, in real Chromium.

The browser is Debian's ``chromium`` (``./scripts/setup-tests`` installs
it), driven over the DevTools protocol (``tests/browser_support.py``). With
``WORKHORSE_DOCS_SCREENSHOTS=1`` the page's screenshot is also written to
``docs/images/status-page.png``, where docs/observability.md shows it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from browser_support import CHROMIUM, Browser, wait_for_page
from support import REPO, free_port, wait_for
from workhorse.observe.status_html import is_stuck

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium missing (Debian package chromium;"
                       " ./scripts/setup-tests installs it)"),
]

#: The server's timeout: a request is shown as stuck from half of it (10 s)
#: until the master ends it (20 s), time enough for a loaded machine to look.
TIMEOUT = 20
SCREENSHOT = REPO / "docs" / "images" / "status-page.png"
#: What the page shows, read in one go (the page redraws every second).
READ_PAGE = """(() => {
  const texts = (selector) => [...document.querySelectorAll(selector)].map((e) => e.textContent);
  const figure = (key) => texts(`[data-k="${key}"]`);
  const colour = (selector) => {
    const node = document.querySelector(selector);
    return node ? getComputedStyle(node).backgroundColor : null;
  };
  return {
    renders: Number(document.body.dataset.renders || 0),
    freshness: document.getElementById("freshness").textContent,
    busy: figure("busy"), idle: figure("idle"), slots: figure("slots_total"),
    stuck: figure("stuck"), queued: figure("queued"), limit: figure("limit"),
    answered504: figure("answered_504"),
    map: texts("#map .cell").join(""),
    stuckCells: document.querySelectorAll("#map .cell.stuck").length,
    rows: [...document.querySelectorAll("#inflight tbody tr")].map((tr) => ({
      stuck: tr.classList.contains("stuck"), cells: [...tr.cells].map((td) => td.textContent)})),
    stuckRowColour: colour("#inflight tr.stuck td"),
    otherRowColour: colour("#inflight tr:not(.stuck) td"),
    stuckCellColour: colour("#map .cell.stuck"),
    plots: document.querySelectorAll("#plots svg").length,
    lines: document.querySelectorAll("#plots polyline").length,
    timeoutMarks: document.querySelectorAll("#plots line.mark-timeout").length,
    injected: document.querySelectorAll("#inflight *:is(img, svg, script, iframe)," +
                                         " #map *:is(img, svg, script, iframe)").length,
    pwned: window.pwned === undefined ? null : String(window.pwned),
    title: document.title,
  };
})()"""


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    started = Browser(tmp_path / "chromium.log").start()
    yield started
    started.stop()


def status(server: Any) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "workhorse", "status", "--json",
                          "--pid", str(server.pid)],
                         capture_output=True, text=True, timeout=15, check=True)
    snapshot: dict[str, Any] = json.loads(out.stdout)
    return snapshot


def send(port: int, head: bytes) -> socket.socket:
    """A connection that has sent ``head`` and stays open (closed by the test)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(head)
    return sock


def request(target: str, *headers: str) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: shop.example", *headers, "", ""]
    return "\r\n".join(lines).encode("latin-1")


def marks(env: dict[str, str], kind: str) -> int:
    return len(list(Path(env["STUCK_MARK_DIR"]).glob(f"{kind}-*")))


def traffic(url: str, seconds: float) -> int:
    """Mixed answers, one at a time for ``seconds``, stamped as a proxy stamps them
    (``X-Request-Start``: the queue-time plot has something to show)."""
    paths = ["/code?c=200"] * 6 + ["/code?c=404", "/code?c=500", "/code?c=302",
                                   "/sleep?s=0.05", "/sleep?s=0.2"]
    deadline = time.monotonic() + seconds
    sent = 0
    with requests.Session() as session:
        while time.monotonic() < deadline:
            stamp = time.time() - (sent % 7) * 0.004
            session.get(url + paths[sent % len(paths)], timeout=5, allow_redirects=False,
                        headers={"X-Request-Start": f"t={stamp:.3f}"})
            sent += 1
    return sent


def in_flight(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for w in snapshot["workers"] for t in w["threads"] if t["state"] != "idle"]


def test_work_in_flight_as_the_page_shows_it(server_factory: Any, stuck_env: dict[str, str],
                                             browser: Browser, tmp_path: Path) -> None:
    metrics_port = free_port()
    server = server_factory(["-w", "4", "-t", str(TIMEOUT), "--backlog", "64",
                             "--graceful-timeout", "1", "--metrics-bind",
                             f"127.0.0.1:{metrics_port}", "--name", "shop",
                             "statusapp:app"], env=stuck_env)
    server.wait_booted(4)
    held: list[socket.socket] = []
    try:
        # One request stuck in C code that holds the GIL; while it gets there,
        # traffic through the other three workers (for the plots); then three
        # slow requests that asked for more time (busy, not stuck), and three
        # more that wait in the listen queue: every worker is busy.
        held.append(send(server.port, request("/spin?s=60")))
        wait_for(lambda: marks(stuck_env, "spin") == 1, message="the stuck request in the app")
        spin_started = time.monotonic()
        assert traffic(server.url, TIMEOUT / 2 - 4) > 10
        slept = marks(stuck_env, "sleep")
        for n in range(3):
            held.append(send(server.port, request(f"/sleep?s=60&extend=600&report={n}")))
        wait_for(lambda: marks(stuck_env, "sleep") == slept + 3, message="three slow requests")
        held += [send(server.port, request("/code?c=200")) for _ in range(3)]

        page_url = f"http://127.0.0.1:{metrics_port}/status"
        browser.open(page_url)
        wait_for_page(browser, "!!document.querySelector('#inflight tr.stuck')",
                      timeout=TIMEOUT - 1, message="the stuck request shown as stuck")
        seen = wait_for_page(browser, f"(p => p.queued[0] === '3' && p)({READ_PAGE})",
                             message="the three queued connections")
        snap = status(server)
        assert time.monotonic() - spin_started < TIMEOUT, "too slow to look before the timeout"

        # The page shows what `workhorse status --json` says.
        summary = snap["summary"]
        assert (seen["busy"], seen["idle"], seen["slots"]) == (
            [str(summary["busy"])], [str(summary["idle"])], [str(summary["slots_total"])])
        assert seen["busy"] == ["4"] and seen["idle"] == ["0"]
        assert seen["map"] == snap["map"] == "AAAA"
        assert seen["queued"] == [str(snap["listeners"][0]["queued"])] == ["3"]
        assert seen["limit"] == ["64"]
        threads = in_flight(snap)
        assert sorted(row["cells"][4] for row in seen["rows"]) == sorted(
            t["request"] for t in threads)
        assert seen["stuck"] == [str(sum(1 for t in threads if is_stuck(t)))] == ["1"]

        # The stuck one stands out: its row, its badge, its map cell.
        (stuck_row,) = [row for row in seen["rows"] if row["stuck"]]
        assert stuck_row["cells"][4] == "GET /spin?s=60 HTTP/1.1"
        assert stuck_row["cells"][2] == "app stuck"
        assert seen["stuckCells"] == 1
        assert seen["stuckRowColour"] != seen["otherRowColour"]
        assert seen["stuckCellColour"] == "rgb(216, 52, 44)"
        assert seen["freshness"].startswith("Live: updated")
        assert seen["plots"] == 5 and seen["lines"] >= 1
        assert browser.problems() == []  # no script error, nothing refused by the policy

        shot = tmp_path / "status-page.png"
        browser.screenshot(shot)
        if os.environ.get("WORKHORSE_DOCS_SCREENSHOTS") == "1":
            SCREENSHOT.parent.mkdir(exist_ok=True)
            shutil.copyfile(shot, SCREENSHOT)

        # Without JavaScript: the master's own tables say the same.
        browser.open(page_url, scripts=False)
        plain = browser.evaluate(READ_PAGE)
        assert plain["renders"] == 0 and "reload the page" in plain["freshness"]
        assert (plain["busy"], plain["map"], plain["stuck"]) == (["4"], "AAAA", ["1"])
        assert [row["cells"][4] for row in plain["rows"] if row["stuck"]] == [
            "GET /spin?s=60 HTTP/1.1"]

        # The master ends the stuck request at its deadline: a 504, and a mark on the plots.
        browser.open(page_url)
        ended = wait_for_page(
            browser, f"(p => p.timeoutMarks > 0 && p.stuck[0] === '0' && p)({READ_PAGE})",
            timeout=TIMEOUT + 10, message="the timeout marked on the plots")
        assert ended["answered504"] == ["1"]
    finally:
        for sock in held:
            sock.close()


HOSTILE_TARGET = ("/sleep?s=60&extend=600&q=<script>window.pwned=1</script>"
                  "<img/src=x/onerror=window.pwned=2>&x=\"'><b>bold</b>")
HOSTILE_ID = "<svg/onload=window.pwned=3>\"'&amp;"


@pytest.mark.parametrize("scripts", [True, False], ids=["javascript", "no-javascript"])
def test_request_lines_with_html_are_shown_as_text(server_factory: Any,
                                                   stuck_env: dict[str, str],
                                                   browser: Browser, scripts: bool) -> None:
    metrics_port = free_port()
    server = server_factory(["-w", "1", "--graceful-timeout", "1", "--metrics-bind",
                             f"127.0.0.1:{metrics_port}", "statusapp:app"], env=stuck_env)
    server.wait_booted(1)
    # From 127.0.0.1, a trusted proxy by default: its X-Request-ID is kept as sent.
    held = send(server.port, request(HOSTILE_TARGET, f"X-Request-ID: {HOSTILE_ID}"))
    try:
        wait_for(lambda: marks(stuck_env, "sleep") == 1, message="the request in the app")
        browser.open(f"http://127.0.0.1:{metrics_port}/status", scripts=scripts)
        if scripts:
            wait_for_page(browser, "Number(document.body.dataset.renders) >= 2",
                          message="the script to redraw the page")
        seen = browser.evaluate(READ_PAGE)
        (row,) = seen["rows"]
        assert row["cells"][4] == f"GET {HOSTILE_TARGET} HTTP/1.1"
        assert row["cells"][6] == HOSTILE_ID
        assert seen["injected"] == 0 and seen["pwned"] is None
        assert seen["title"] == "workhorse status: statusapp:app"
        assert browser.problems() == []
    finally:
        held.close()
