/* The status page's script (workhorse/observe/status_page.py).
   Every second it fetches status.json (the `workhorse status --json` document) and, when
   the master has taken a new sample, status/history.json, then redraws the page's
   sections in place: the same markup the master writes (status_html.py is the reference),
   plus plots of the last minutes. Request lines, clients and request ids come from
   attackers: this script only creates elements and sets their text and attributes,
   it never parses a string as HTML. */
"use strict";
(() => {
  const body = document.body;
  const REFRESH_MS = 1000 * Number(body.dataset.refresh || 1);
  const STUCK_FRACTION = Number(body.dataset.stuckFraction);
  const STUCK_WITHOUT_DEADLINE = Number(body.dataset.stuckWithoutDeadline);
  // A master that has not answered in this long is reported as not answering.
  const FETCH_TIMEOUT_MS = 5000;
  const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"];
  const SVG = "http://www.w3.org/2000/svg";
  // The map's colour classes, read from the legend the master wrote (one source).
  const CELL_CLASS = {};
  for (const item of document.querySelectorAll("#legend [data-char]")) {
    CELL_CLASS[item.dataset.char] = item.classList[1];
  }
  let history = null;
  let historyKept = true;
  let drawnHistory = null;
  let renders = 0;

  // --- elements, text only ------------------------------------------------------------
  function build(node, attrs, children) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);  // strings become text
    }
    return node;
  }
  const el = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
  const svg = (tag, attrs, ...children) => build(document.createElementNS(SVG, tag), attrs,
                                                 children);
  const replace = (id, nodes) => document.getElementById(id).replaceChildren(...nodes);

  // --- numbers for people, as workhorse/observe/view.py writes them ----------------------
  function seconds(value) {
    if (value === null || value === undefined) return "-";
    if (value < 0.001) return `${(value * 1000).toFixed(2)}ms`;
    if (value < 0.01) return `${(value * 1000).toFixed(1)}ms`;
    if (value < 1) return `${(value * 1000).toFixed(0)}ms`;
    if (value < 60) return value < 10 ? `${value.toFixed(2)}s` : `${value.toFixed(1)}s`;
    const pad = (n) => String(n).padStart(2, "0");
    let minutes = Math.floor(value / 60);
    if (minutes < 60) return `${minutes}m${pad(Math.floor(value) % 60)}s`;
    let hours = Math.floor(minutes / 60);
    minutes %= 60;
    if (hours < 24) return `${hours}h${pad(minutes)}m`;
    const days = Math.floor(hours / 24);
    hours %= 24;
    return `${days}d${pad(hours)}h`;
  }
  function size(value) {
    if (value === null || value === undefined) return "-";
    let amount = value;
    for (const unit of ["B", "K", "M", "G"]) {
      if (amount < 1024 || unit === "G") {
        return unit === "B" ? `${amount.toFixed(0)}B` : `${amount.toFixed(1)}${unit}`;
      }
      amount /= 1024;
    }
    return "-";
  }
  const percent = (ratio) => (ratio === null ? "-" : `${Math.round(ratio * 100)}%`);
  const clock = (at) => new Date(at * 1000).toLocaleTimeString();

  // --- what the master's HTML shows -------------------------------------------------------
  function isStuck(thread) {
    const elapsed = thread.elapsed;
    const left = thread.deadline_in;
    if (elapsed === null) return false;
    if (left === null) return elapsed >= STUCK_WITHOUT_DEADLINE;
    return left <= 0 || elapsed >= STUCK_FRACTION * (elapsed + left);
  }
  function inFlight(snap) {
    const busy = [];
    for (const worker of snap.workers) {
      for (const thread of worker.threads) {
        if (thread.state !== "idle") busy.push([worker, thread]);
      }
    }
    return busy.sort((a, b) => (b[1].elapsed || 0) - (a[1].elapsed || 0));
  }
  function serverLine(snap) {
    const s = snap.server;
    return `master ${s.pid} · workhorse ${s.version} · ${s.worker_class}, ${s.threads}` +
      ` thread(s), timeout ${s.timeout}s · generation ${s.generation} ·` +
      ` up ${seconds(s.uptime)}`;
  }

  // --- the cards --------------------------------------------------------------------------
  const figure = (key, value) => el("b", {"data-k": key}, String(value));
  // Yellow from half full, red from 90 % (the master's HTML sets the same).
  const meter = (value, max, label) => el("meter", {
    min: 0, max, low: max * 0.5, high: max * 0.9, optimum: 0, value, "aria-label": label});
  function card(title, lines, alert) {
    return el("div", {class: alert ? "card alert" : "card"}, el("h3", {}, title),
              ...lines.map((parts) => el("p", {}, ...parts)));
  }
  function summaryCards(snap) {
    const sum = snap.summary;
    const win = snap.window;
    const stuck = inFlight(snap).filter(([, thread]) => isStuck(thread)).length;
    const restarts = Object.entries(sum.restarts).filter(([, n]) => n).sort()
      .map(([cause, n]) => `${cause} ${n}`).join(", ") || "none";
    const trouble = [["restarts: ", figure("restarts", restarts)],
      ["timeouts ", figure("timeouts", sum.timeouts), "; 504 x ",
       figure("answered_504", sum.answered_504), ", 503 x ",
       figure("answered_503", sum.answered_503)]];
    if (sum.boot_failures_in_a_row) {
      trouble.push(["boot failures in a row: ",
                    figure("boot_failures", sum.boot_failures_in_a_row)]);
    }
    return [
      card("Slots", [
        [figure("busy", sum.busy), " busy, ", figure("idle", sum.idle), " idle of ",
         figure("slots_total", sum.slots_total), " ready"],
        [figure("busy_ratio", percent(sum.busy_ratio)), " busy ",
         meter(sum.busy_ratio || 0, 1, "busy ratio")],
        [figure("stuck", stuck), " stuck"]], stuck > 0),
      card("Workers", [
        [figure("workers_ready", sum.workers_ready), " ready, ",
         figure("workers_booting", sum.workers_booting), " booting, ",
         figure("workers_stopping", sum.workers_stopping), " stopping"],
        ["target ", figure("target_workers", sum.target_workers)]]),
      card(`Last ${Math.round(win.seconds)}s`, [
        [figure("rps", win.rps.toFixed(1)), " req/s (", figure("requests", win.requests),
         " requests)"],
        ["duration p50 ", figure("duration_p50", seconds(win.duration_p50)), " p99 ",
         figure("duration_p99", seconds(win.duration_p99))],
        ["queue p50 ", figure("queue_p50", seconds(win.queue_p50)), " p99 ",
         figure("queue_p99", seconds(win.queue_p99))]]),
      backlogCard(snap.listeners),
      card("Trouble", trouble, sum.boot_failures_in_a_row > 0),
    ];
  }
  function backlogCard(listeners) {
    if (!listeners.length) return card("Backlog", [["no listeners"]]);
    const full = listeners.some((l) => l.queued !== null && l.limit && l.queued / l.limit >= 0.5);
    return card("Backlog", listeners.map((l) => [
      el("span", {class: "addr"}, l.address), " ",
      el("b", {"data-k": "queued"}, l.queued === null ? "?" : String(l.queued)), " waiting of ",
      el("b", {"data-k": "limit"}, l.limit === null ? "?" : String(l.limit)), " ",
      l.limit ? meter(l.queued || 0, l.limit, "listen queue") : ""]), full);
  }

  // --- the map ------------------------------------------------------------------------------
  function slotMap(snap) {
    const groups = snap.workers.map((worker) => el("span", {
      class: "worker", title: `worker slot ${worker.slot}, pid ${worker.pid}, ${worker.state}`},
    ...worker.threads.map((thread) => cell(worker, thread))));
    if (!groups.length) return ["(no workers)"];
    return groups.flatMap((group, i) => (i ? [" ", group] : [group]));
  }
  function cell(worker, thread) {
    const stuck = isStuck(thread);
    let title = `slot ${thread.slot_id} · pid ${worker.pid} · ${thread.state}`;
    if (thread.state !== "idle") title += ` ${seconds(thread.elapsed)} · ${thread.request}`;
    if (stuck) title += " · STUCK";
    const classes = `cell ${CELL_CLASS[thread.char] || "s-empty"}${stuck ? " stuck" : ""}`;
    return el("span", {class: classes, title}, thread.char);
  }

  // --- the tables ---------------------------------------------------------------------------
  const head = (columns) => el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", {}, c))));
  const row = (cells, rowClass) => el("tr", {class: rowClass || null},
                                      ...cells.map((c) => el("td", {}, c)));
  const columnsOf = (id) => [...document.querySelectorAll(`#${id} thead th`)]
    .map((th) => th.textContent);
  const INFLIGHT_COLUMNS = columnsOf("inflight");
  const WORKER_COLUMNS = columnsOf("workers");
  const empty = (columns, message) => el("tr", {}, el("td", {colspan: columns.length,
                                                              class: "muted"}, message));
  function inflightTable(snap) {
    const rows = inFlight(snap).map(([worker, thread]) => {
      const stuck = isStuck(thread);
      const state = [thread.state];
      if (stuck) state.push(" ", el("strong", {class: "badge"}, "stuck"));
      return el("tr", {class: stuck ? "stuck" : null},
                ...[String(thread.slot_id), String(worker.pid)].map((c) => el("td", {}, c)),
                el("td", {}, ...state), el("td", {}, seconds(thread.elapsed)),
                el("td", {}, el("code", {class: "req"}, thread.request)),
                el("td", {}, thread.client), el("td", {}, el("code", {}, thread.request_id)),
                el("td", {}, seconds(thread.queue_time)));
    });
    return [head(INFLIGHT_COLUMNS), el("tbody", {}, ...(rows.length ? rows
      : [empty(INFLIGHT_COLUMNS, "no request in flight")]))];
  }
  function workersTable(snap) {
    const rows = snap.workers.map((w) => row([
      w.slot, w.pid, w.state, w.generation, seconds(w.age), w.requests, size(w.rss_bytes),
      w.connections, `${w.threads.filter((t) => t.state !== "idle").length}/${w.threads.length}`,
      seconds(w.heartbeat_age)].map(String)));
    return [head(WORKER_COLUMNS), el("tbody", {}, ...(rows.length ? rows
      : [empty(WORKER_COLUMNS, "no workers")]))];
  }

  // --- the plots ----------------------------------------------------------------------------
  const WIDTH = 300;
  const HEIGHT = 96;
  const TOP = 14;
  const BOTTOM = 14;
  const ago = (span) => (span < 120 ? `${Math.round(span)}s` : `${Math.round(span / 60)}m`);
  function niceMax(values, floor) {
    const top = Math.max(floor, ...values.filter((v) => v !== null));
    const step = 10 ** Math.floor(Math.log10(top));
    return [1, 2, 5, 10].map((m) => m * step).find((v) => v >= top);
  }
  function chart(hist, title, series, {max, floor, format}) {
    // The plots span the samples there are (a young master has only seconds of them),
    // up to the ring's span.
    const end = hist.at[hist.at.length - 1];
    const spanned = Math.max(end - hist.at[0], hist.interval);
    const start = end - spanned;
    const top = max || niceMax(series.flatMap((s) => s.values), floor);
    const x = (at) => (((at - start) / spanned) * WIDTH).toFixed(1);
    const y = (v) => (TOP + (1 - Math.min(v, top) / top) * (HEIGHT - TOP - BOTTOM)).toFixed(1);
    const plot = svg("svg", {viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": title},
      svg("line", {class: "axis", x1: 0, x2: WIDTH, y1: y(0), y2: y(0)}),
      svg("line", {class: "axis", x1: 0, x2: WIDTH, y1: TOP, y2: TOP}),
      svg("text", {x: 0, y: TOP - 3}, format(top)),
      svg("text", {x: 0, y: HEIGHT - 2}, `-${ago(spanned)}`),
      svg("text", {x: WIDTH, y: HEIGHT - 2, "text-anchor": "end"}, "now"));
    for (const event of hist.events.filter((e) => e.at >= start)) {
      const what = event.kind === "timeout" ? "timeout(s)" : `restart(s), ${event.cause}`;
      plot.append(svg("line", {class: `mark-${event.kind}`, x1: x(event.at), x2: x(event.at),
                               y1: TOP, y2: y(0)},
                      svg("title", {}, `${event.count} ${what} at ${clock(event.at)}`)));
    }
    for (const s of series) {
      let points = [];
      const flush = () => {
        if (points.length > 1) plot.append(svg("polyline", {class: `series ${s.key}`,
                                                             points: points.join(" ")}));
        points = [];
      };
      s.values.forEach((v, i) => (v === null ? flush() : points.push(`${x(hist.at[i])},${y(v)}`)));
      flush();
    }
    const keys = series.map((s) => el("span", {class: `key ${s.key}`},
                                      `${s.label} ${format(s.values[s.values.length - 1])}`));
    return el("div", {class: "plot"}, el("h3", {}, title), plot, el("div", {class: "keys"}, ...keys));
  }
  function plots(hist) {
    if (!hist.at.length) return [el("p", {class: "muted"}, "The first samples are being taken.")];
    const kept = `up to ${Math.round(hist.span / 60)} minutes, one point every ${hist.interval}s`;
    const rate = (v) => (v === null || v === undefined ? "-" : `${+v.toPrecision(3)}/s`);
    const count = (v) => (v === null || v === undefined ? "-" : String(Math.round(v)));
    const byClass = STATUS_CLASSES.map((c, i) => ({key: `k${i}`, label: c, values: hist.rps[c]}))
      .filter((s) => s.label !== "1xx" || s.values.some((v) => v > 0));
    return [
      chart(hist, "Busy slots", [{key: "k3", label: "busy", values: hist.busy_ratio}],
            {max: 1, format: percent}),
      chart(hist, "Requests by status", byClass, {floor: 1, format: rate}),
      chart(hist, "Duration", [{key: "k2", label: "p50", values: hist.duration_p50},
                               {key: "k4", label: "p99", values: hist.duration_p99}],
            {floor: 0.001, format: seconds}),
      chart(hist, "Queue time", [{key: "k2", label: "p50", values: hist.queue_p50},
                                 {key: "k4", label: "p99", values: hist.queue_p99}],
            {floor: 0.001, format: seconds}),
      chart(hist, "Backlog", [{key: "k0", label: "waiting", values: hist.backlog}],
            {floor: 1, format: count}),
      el("p", {class: "keys"}, `The last minutes (${kept}). Marks: `,
         el("span", {class: "key k3"}, "restart"), el("span", {class: "key k4"}, "timeout")),
    ];
  }

  // --- refreshing -----------------------------------------------------------------------------
  async function getJSON(url) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), FETCH_TIMEOUT_MS);
    try {
      const response = await fetch(url, {signal: abort.signal, cache: "no-store"});
      if (!response.ok) throw Object.assign(new Error(`HTTP ${response.status}`),
                                            {status: response.status});
      return await response.json();
    } finally {
      clearTimeout(timer);
    }
  }
  function render(snap) {
    document.title = `workhorse status: ${snap.server.proc_name}`;
    document.querySelector("h1").textContent = document.title;
    document.getElementById("server").textContent = serverLine(snap);
    replace("summary", summaryCards(snap));
    replace("map", slotMap(snap));
    replace("inflight", inflightTable(snap));
    replace("workers", workersTable(snap));
    renders += 1;
    body.dataset.renders = String(renders);
    body.dataset.takenAt = String(snap.taken_at);
  }
  async function refreshHistory(snap) {
    const last = history && history.at.length ? history.at[history.at.length - 1] : null;
    if (historyKept && (last === null || snap.taken_at >= last + history.interval)) {
      try {
        history = await getJSON("status/history.json");
      } catch (error) {
        historyKept = error.status !== 404;  // an older master: no history to ask for
      }
    }
    if (history !== drawnHistory || !historyKept) {
      replace("plots", history ? plots(history)
        : [el("p", {class: "muted"}, "This master keeps no history.")]);
      drawnHistory = history;
    }
  }
  function freshness(snap, error) {
    const line = document.getElementById("freshness");
    line.className = error ? "stale" : "muted";
    line.textContent = error
      ? `No answer from the master (${error.message}) at ${new Date().toLocaleTimeString()};` +
        " the figures below are older. Retrying."
      : `Live: updated ${clock(snap.taken_at)}, every ${REFRESH_MS / 1000}s.`;
  }
  async function refresh() {
    if (!document.hidden) {
      try {
        const snap = await getJSON("status.json");
        render(snap);
        await refreshHistory(snap);
        freshness(snap, null);
      } catch (error) {
        freshness(null, error);
      }
    }
    setTimeout(refresh, REFRESH_MS);
  }
  refresh();
})();
