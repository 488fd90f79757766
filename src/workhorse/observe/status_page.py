"""The status page: ``/status`` in a browser, served by the master on the metrics listener.

Strategy: the listener only routes here (:func:`serves`, :func:`answer`) and
frames the :class:`Page` it gets back; this module owns the page. Three
read-only documents, all built from the snapshot the master hands over:

- ``/status``: one self-contained HTML document (its style and script are
  inline; nothing is loaded from anywhere else), written completely by the
  master (:mod:`.status_html`), so it reads as a page of tables without
  JavaScript. With JavaScript, its script polls the two JSON documents
  below every second and redraws the same elements, plus small plots of the
  last minutes, without reloading the page;
- ``/status.json``: the ``workhorse status --json`` document (schema:
  :class:`~workhorse.observe.schema.Snapshot`);
- ``/status/history.json``: the last minutes (schema:
  :class:`~workhorse.observe.schema.History`, kept by
  :class:`~workhorse.observe.history.HistorySampler`).

Nothing here changes the server: no form, no command, GET and HEAD only
(the listener refuses other methods). Request lines, client addresses and
request ids are attacker-controlled; the HTML escapes them and the script
only ever sets text. A Content-Security-Policy that admits exactly the
page's own inline style and script (by hash) and fetches only from this
origin backs that up, should an escape ever be missed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from workhorse.observe import status_html as sections
from workhorse.observe.schema import History, Snapshot

PAGE_PATH = "/status"
SNAPSHOT_PATH = "/status.json"
HISTORY_PATH = "/status/history.json"
ROUTES = (PAGE_PATH, SNAPSHOT_PATH, HISTORY_PATH)
#: Seconds between the script's refreshes (the snapshot is cheap; the
#: history is fetched again only when a new sample is due).
REFRESH_SECONDS = 1.0
#: Without JavaScript the page asks the browser to reload it this often.
NOSCRIPT_REFRESH_SECONDS = 5

HTML_TYPE = "text/html; charset=utf-8"
JSON_TYPE = "application/json"
Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Page:
    """One answer: status, body and the headers of this page (the listener adds framing)."""

    status: int
    body: bytes
    content_type: str
    headers: Headers


def _asset(name: str, element: str) -> str:
    """A file of this package, to be inlined in ``<element>``."""
    content = resources.files("workhorse.observe").joinpath(name).read_text("utf-8")
    if f"</{element}" in content.lower():
        raise RuntimeError(f"{name} contains '</{element}', which would end its element early")
    return content


def _sha256(content: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(content.encode()).digest()).decode() + "'"


STYLE = _asset("status_page.css", "style")
SCRIPT = _asset("status_page.js", "script")

#: The browser may run this page's own style and script and fetch from its
#: own origin; nothing else (no other script, frame, form or base URL).
PAGE_POLICY = "; ".join([
    "default-src 'none'", f"script-src {_sha256(SCRIPT)}", f"style-src {_sha256(STYLE)}",
    "connect-src 'self'", "img-src data:", "base-uri 'none'", "form-action 'none'",
    "frame-ancestors 'none'"])
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"


def security_headers(policy: str) -> Headers:
    return (("Content-Security-Policy", policy), ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"))


def serves(path: str) -> bool:
    """True for the paths this module answers."""
    return path in ROUTES


def answer(path: str, snapshot: Callable[[], Snapshot],
           history: Callable[[], History] | None) -> Page:
    """The page for ``path`` (one of :data:`ROUTES`); only what it shows is built."""
    if path == SNAPSHOT_PATH:
        return Page(200, to_json(snapshot()), JSON_TYPE, security_headers(DATA_POLICY))
    if path == HISTORY_PATH:
        if history is None:
            return Page(404, b"no history is kept by this listener\n",
                        "text/plain; charset=utf-8", security_headers(DATA_POLICY))
        return Page(200, to_json(history()), JSON_TYPE, security_headers(DATA_POLICY))
    return Page(200, render(snapshot()).encode(), HTML_TYPE, security_headers(PAGE_POLICY))


def to_json(document: object) -> bytes:
    """Compact JSON; NaN and infinities (not JSON) become null, as on the control socket."""
    return json.dumps(_finite(document), allow_nan=False, separators=(",", ":")).encode()


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def render(snapshot: Snapshot) -> str:
    """The whole HTML page for ``snapshot``."""
    title = sections.text(f"workhorse status: {snapshot['server']['proc_name']}")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<noscript><meta http-equiv="refresh" content="{NOSCRIPT_REFRESH_SECONDS}"></noscript>
<style>{STYLE}</style>
</head>
<body data-refresh="{REFRESH_SECONDS:g}" data-stuck-fraction="{sections.STUCK_FRACTION:g}" \
data-stuck-without-deadline="{sections.STUCK_WITHOUT_DEADLINE:g}">
<header>
<h1>{title}</h1>
<p id="server">{sections.text(sections.server_line(snapshot))}</p>
<p id="freshness" class="muted">{sections.text(sections.as_of(snapshot))}</p>
</header>
<main>
<section id="summary" class="cards">{sections.summary_cards(snapshot)}</section>
<section aria-labelledby="map-title"><h2 id="map-title">Slot map</h2>
<div id="map" class="map">{sections.slot_map(snapshot)}</div>
<ul id="legend" class="legend">{sections.legend()}</ul></section>
<section aria-labelledby="plots-title"><h2 id="plots-title">Last minutes</h2>
<div id="plots" class="plots"><p class="muted">The plots are drawn by the page's script;
the figures above are as of the moment the page was loaded.</p></div></section>
<section aria-labelledby="inflight-title"><h2 id="inflight-title">Requests in flight</h2>
<div class="scroll"><table id="inflight">{sections.inflight_table(snapshot)}</table></div>
</section>
<section aria-labelledby="workers-title"><h2 id="workers-title">Workers</h2>
<div class="scroll"><table id="workers">{sections.workers_table(snapshot)}</table></div>
</section>
</main>
<footer class="muted">Read-only. The same figures as JSON: <a href="status.json">status.json</a>
(the <code>workhorse status --json</code> document) and
<a href="status/history.json">status/history.json</a> (the last minutes).</footer>
<script>{SCRIPT}</script>
</body>
</html>
"""
