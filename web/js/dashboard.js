// Dashboard: the cards, the usage chart, live operations, who is playing, the activity feed.
import { ago, api, bytes, clock, duration, el, emptyRow, pill, progressBar } from "./util.js";
import { on } from "./live.js";

const SVG = "http://www.w3.org/2000/svg";
let offs = [];
let timers = {};
let range = "24h";
const ops = new Map();

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function later(key, fn, ms = 400) {
  clearTimeout(timers[key]);
  timers[key] = setTimeout(fn, ms);
}

function card(id, title) {
  return el(`section.card.stat#${id}`, {}, el("h2", {}, title), el("div.value", {}, "…"), el("div.sub.muted", {}, ""));
}

function setCard(id, value, sub, extra) {
  const node = document.getElementById(id);
  if (!node) return;
  node.querySelector(".value").replaceChildren(value);
  node.querySelector(".sub").replaceChildren(sub || "");
  node.querySelector(".bar")?.remove();
  if (extra) node.append(extra);
}

function showUsage(usage) {
  const limit = usage.limit_bytes;
  setCard("card-usage", `${bytes(usage.used_bytes)}`,
    limit ? `of ${bytes(limit)} limit · ${usage.used_percent ?? 0}% · pool ${bytes(usage.free_bytes)} free`
      : "no cache pool found: check the path mappings",
    limit ? progressBar(usage.used_bytes, limit) : null);
}

async function loadStats() {
  const [stats, status] = await Promise.all([api("/api/stats"), api("/api/status")]);
  showUsage(stats.usage);
  const unclaimed = stats.unclaimed.files;
  setCard("card-files", String(status.counts.files_cached),
    `${status.counts.files_in_flight} on the way · ${unclaimed} waiting to go back`);
  const spared = stats.disks_spared;
  setCard("card-disks", spared.count === null ? "—" : String(spared.count), spared.explanation);
  const plex = status.plex;
  const state = pill(plex.headline || plex.state, { connected: "ok", down: "bad", degraded: "warn" }[plex.state] || "");
  const since = plex.since && plex.state !== "not_configured" ? ` · since ${clock(plex.since)}` : "";
  setCard("card-plex", state, el("span", {}, `${plex.detail || plex.message || ""}${since}`,
    plex.advice ? el("span.advice", {}, " ", plex.advice) : null));
  const sweep = status.sweep || {};
  document.getElementById("sweep-line").textContent = sweep.state === "unavailable" ? ""
    : `Sweep: ${sweep.state || "idle"}${sweep.last_finished_at ? " · last " + ago(sweep.last_finished_at) : ""}${sweep.next_in_s != null ? " · next in " + duration(sweep.next_in_s) : ""}`;
  const bySource = document.getElementById("by-source");
  bySource.replaceChildren(...stats.by_source.map((s) => el("li", {}, pill(s.source), ` ${s.files} files · ${bytes(s.bytes)}`)),
    ...stats.by_user.map((u) => el("li", {}, pill(u.user, "user"), ` ${u.files} files · ${bytes(u.bytes)}`)));
  if (!bySource.children.length) bySource.append(el("li.muted", {}, "Nothing is claimed yet."));
}

function drawChart(points) {
  const box = document.getElementById("chart");
  const W = 600, H = 160, P = 4;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H + 18}`, role: "img", "aria-label": `Cache usage, last ${range}` });
  if (points.length < 1) {
    box.replaceChildren(el("p.muted", {}, "No history yet: a point is recorded at start, after each change and every five minutes."));
    return;
  }
  const now = Date.now() / 1000;
  const span = range === "24h" ? 86400 : 7 * 86400;
  const t0 = now - span;
  const top = Math.max(1, ...points.map((p) => p.used_bytes));
  const limitTop = Math.max(...points.map((p) => p.limit_bytes));
  // A limit far above the usage would flatten the line: then it is only named, not drawn.
  const maxY = limitTop > 4 * top ? top * 1.25 : Math.max(top, limitTop);
  const x = (t) => P + ((t - t0) / span) * (W - 2 * P);
  const y = (v) => H - P - (v / maxY) * (H - 2 * P);
  const line = points.map((p, i) => `${i ? "L" : "M"}${x(p.ts).toFixed(1)},${y(p.used_bytes).toFixed(1)}`).join("");
  const last = points[points.length - 1];
  const area = `${line}L${x(last.ts).toFixed(1)},${H - P}L${x(points[0].ts).toFixed(1)},${H - P}Z`;
  chart.append(svg("path", { d: area, class: "area" }), svg("path", { d: line, class: "line" }));
  const limitY = Math.max(P, y(last.limit_bytes)).toFixed(1);
  if (last.limit_bytes <= maxY) chart.append(svg("line", { x1: P, x2: W - P, y1: limitY, y2: limitY, class: "limit" }));
  const label = svg("text", { x: W - P, y: Math.max(12, limitY - 4), class: "label", "text-anchor": "end" });
  label.textContent = `limit ${bytes(last.limit_bytes)}${last.limit_bytes > maxY ? " (above the chart)" : ""}`;
  const now_ = svg("text", { x: x(last.ts) - 4, y: Math.max(12, y(last.used_bytes) - 6), class: "label", "text-anchor": "end" });
  now_.textContent = bytes(last.used_bytes);
  chart.append(label, now_);
  for (let i = 0; i <= 4; i += 1) {
    const t = t0 + (span * i) / 4;
    const d = new Date(t * 1000);
    const tick = svg("text", { x: x(t), y: H + 14, class: "tick", "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" });
    tick.textContent = range === "24h" ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : d.toLocaleDateString([], { weekday: "short", day: "numeric" });
    chart.append(tick);
  }
  box.replaceChildren(chart);
}

async function loadHistory() {
  const data = await api(`/api/stats/history?range=${range}`);
  drawChart(data.points);
}

function opRow(op) {
  const pct = op.size ? Math.round((100 * (op.bytes_done || 0)) / op.size) : 0;
  return el("li.op", { dataset: { id: op.id } },
    el("div.op-head", {}, pill(op.kind === "cache" ? "to cache" : "to array", op.kind === "cache" ? "ok" : ""),
      el("span.path", { title: op.path }, op.path || "")),
    progressBar(op.bytes_done || 0, op.size || 0),
    el("div.op-meta.muted", {},
      op.state === "queued" ? "queued" :
        `${pct}% · ${bytes(op.bytes_done)} of ${bytes(op.size)} · ${op.speed_bps ? bytes(op.speed_bps) + "/s" : "…"} · ETA ${duration(op.eta_s)}`));
}

function drawOps() {
  const list = document.getElementById("ops");
  if (!list) return;
  const items = [...ops.values()].sort((a, b) => a.id - b.id);
  list.replaceChildren(...(items.length ? items.map(opRow) : [el("li.muted", {}, "Nothing is moving right now.")]));
}

function showLimits(limits) {
  const line = document.getElementById("op-limits");
  if (!line || !limits) return;
  const mib = (v) => `${v} MiB/s`;
  const parts = [`up to ${limits.copy_concurrency} copies at once`];
  if (limits.copies_per_disk) parts.push(`${limits.copies_per_disk} per array disk`);
  parts.push(limits.copy_limit_mib_s ? `at most ${mib(limits.copy_limit_mib_s)} in all` : "no speed limit");
  if (limits.disk_limit_mib_s) parts.push(`${mib(limits.disk_limit_mib_s)} per disk`);
  line.textContent = parts.join(" · ");
}

async function loadOps() {
  const data = await api("/api/operations?limit=8");
  ops.clear();
  for (const op of data.active) ops.set(op.id, op);
  drawOps();
  showLimits(data.limits);
  const recent = document.getElementById("recent-ops");
  recent.replaceChildren(...data.history.items.map((o) => el("tr", {},
    el("td", {}, pill(o.state, o.state === "done" ? "ok" : o.state === "failed" ? "bad" : "")),
    el("td", {}, o.kind), el("td.path", { title: o.path }, o.path), el("td.num", {}, bytes(o.size_bytes)),
    el("td.muted", { title: o.error || "" }, o.error ? o.error : ago(o.finished_at || o.created_at)))));
  if (!data.history.items.length) recent.append(emptyRow(5, "No operation yet."));
}

async function loadSessions() {
  const sessions = await api("/api/sessions");
  const list = document.getElementById("playing");
  list.replaceChildren(...sessions.map((s) => el("li", {},
    el("strong", {}, s.username || s.user_id || "someone"), " ", el("span", {}, s.title || s.rating_key),
    el("span.muted", {}, ` · ${s.state}${s.progress_percent !== null ? " · " + s.progress_percent + "%" : ""}${s.player ? " · " + s.player : ""}`))));
  if (!sessions.length) list.append(el("li.muted", {}, "Nobody is playing anything."));
}

async function loadActivity() {
  const data = await api("/api/activity?limit=40");
  const list = document.getElementById("activity");
  list.replaceChildren(...data.items.map((a) => el(`li.lvl-${a.level}`, {},
    el("time.muted", { datetime: new Date(a.ts * 1000).toISOString(), title: clock(a.ts) }, clock(a.ts)), " ", a.message)));
  if (!data.items.length) list.append(el("li.muted", {}, "Nothing has happened yet."));
}

export async function enter(main) {
  main.replaceChildren(
    el("div.cards", {}, card("card-usage", "Cache used"), card("card-files", "Files cached"),
      card("card-disks", "Array disks spared"), card("card-plex", "Plex")),
    el("div.grid2", {},
      el("section.card", {},
        el("div.row", {}, el("h2", {}, "Cache usage"), el("span.spacer"),
          el("div.seg", { role: "group" }, ...["24h", "7d"].map((r) => el("button", {
            type: "button", dataset: { range: r }, class: r === range ? "on" : "",
            on: { click: async (e) => {
              range = r;
              for (const b of e.target.parentNode.children) b.classList.toggle("on", b.dataset.range === r);
              await loadHistory();
            } },
          }, r)))),
        el("div#chart.chart"), el("p#sweep-line.muted", {}, "")),
      el("section.card", {}, el("h2", {}, "Moving now"), el("p#op-limits.muted"), el("ul#ops.ops"),
        el("details", {}, el("summary", {}, "Recent operations"),
          el("table.table.compact", {}, el("tbody#recent-ops"))))),
    el("div.grid2", {},
      el("section.card", {}, el("h2", {}, "Playing now"), el("ul#playing.plain"),
        el("h2", {}, "Cached for"), el("ul#by-source.plain")),
      el("section.card", {}, el("h2", {}, "Activity"), el("ul#activity.feed"))),
  );
  await Promise.all([loadStats(), loadHistory(), loadOps(), loadSessions(), loadActivity()]);
  offs = [
    on("operation_started", (d) => { ops.set(d.id, { ...d, bytes_done: 0, state: "running" }); drawOps(); }),
    on("operation_progress", (d) => { ops.set(d.id, { ...(ops.get(d.id) || {}), ...d, state: "running" }); drawOps(); }),
    on("operation_complete", (d) => {
      ops.delete(d.id); drawOps();
      later("stats", loadStats); later("ops", loadOps, 600);
    }),
    on("stats", (d) => { showUsage(d); later("history", loadHistory, 1000); }),
    on("session_start", () => later("sessions", loadSessions)),
    on("session_stop", () => later("sessions", loadSessions)),
    on("session_progress", () => later("sessions", loadSessions, 2000)),
    on("plex_state", () => later("stats", loadStats)),
    on("cycle_complete", () => later("stats", loadStats)),
    on("*", (_d, _b, name) => {
      if (!["operation_progress", "session_progress", "stats", "status", "operation_started"].includes(name)) {
        later("activity", loadActivity, 500);
      }
    }),
  ];
}

export function leave() {
  offs.forEach((off) => off());
  offs = [];
  Object.values(timers).forEach(clearTimeout);
  timers = {};
}
