// Cached files: search, sort, why each file is cached, evict and pin.
import { act, ago, api, bytes, confirmDialog, el, emptyRow, pill } from "./util.js";
import { on } from "./live.js";

const state = { q: "", sort: "priority", order: "desc", offset: 0, limit: 50 };
let offs = [];
let timer = null;
let features = new Set();

function why(file) {
  if (!file.claims.length) {
    return el("span.muted", {}, file.returns_at ? `no claim left · goes back ${ago(file.returns_at)}` : "no claim left");
  }
  return el("div.claims", {}, ...file.claims.map((c) =>
    el("span.claim", { title: `${c.reason || c.source} · priority ${c.priority}` },
      pill(c.source.replace("_", " "), c.source === "pinned" ? "warn" : c.source === "playing" || c.source === "next_up" ? "ok" : ""),
      " ", el("span", {}, c.reason || c.user))));
}

function actions(file) {
  const cell = el("td.actions");
  if (features.has("POST /api/pins") && /^\d+$/.test(file.rating_key || "") && !file.pinned) {
    cell.append(el("button.small", { type: "button", title: "Keep this item on the cache for good", on: { click: async (e) => {
      await act(e.target, () => api("/api/pins", { method: "POST", body: { rating_key: file.rating_key } }));
      load();
    } } }, "Pin"));
  }
  if (features.has("POST /api/files/evict")) {
    cell.append(el("button.small.danger", { type: "button", on: { click: async (e) => {
      const yes = await confirmDialog("Send back to the array?",
        `${file.path} (${bytes(file.size_bytes)}) goes back to the array now; the claims on it are released.`, "Evict", true);
      if (!yes) return;
      await act(e.target, () => api("/api/files/evict", { method: "POST", body: { path: file.path } }));
      load();
    } } }, "Evict"));
  }
  return cell;
}

async function load() {
  const params = new URLSearchParams({ sort: state.sort, order: state.order, limit: state.limit, offset: state.offset });
  if (state.q) params.set("q", state.q);
  const body = document.getElementById("files-body");
  const data = await api(`/api/files?${params}`);
  body.replaceChildren(...data.items.map((f) => el("tr", { dataset: { path: f.path } },
    el("td.file", {}, el("div.name", {}, f.name, f.pinned ? pill("pinned", "warn") : null, f.state !== "cached" ? pill(f.state) : null),
      el("div.path.muted", { title: f.path }, f.path),
      (f.sidecar_files || []).length ? el("ul.sidecars.muted", {}, ...f.sidecar_files.map((c) =>
        el("li", { title: c.path }, "↳ ", c.name, ` · ${bytes(c.size_bytes)}`, c.state !== "cached" ? pill(c.state) : null))) : null),
    el("td.num", {}, bytes(f.size_bytes)),
    el("td.num", {}, f.priority === null ? "—" : String(f.priority)),
    el("td", {}, why(f)),
    el("td.muted", { title: new Date(f.cached_at * 1000).toLocaleString() }, ago(f.cached_at)),
    actions(f))));
  if (!data.items.length) body.append(emptyRow(6, state.q ? "No cached file matches." : "Nothing is cached yet."));
  const end = Math.min(data.total, state.offset + data.items.length);
  document.getElementById("files-count").textContent = data.total ? `${state.offset + 1}–${end} of ${data.total}` : "0 files";
  document.getElementById("prev").disabled = state.offset === 0;
  document.getElementById("next").disabled = end >= data.total;
}

export async function enter(main, ctx) {
  features = ctx.features;
  const sort = el("select#sort", { "aria-label": "Sort by", on: { change: (e) => { state.sort = e.target.value; state.offset = 0; load(); } } },
    ...[["priority", "Priority"], ["size", "Size"], ["age", "Cached"], ["user", "User"], ["path", "Name"]].map(([v, t]) =>
      el("option", { value: v, selected: v === state.sort }, t)));
  const order = el("button#order", { type: "button", title: "Order", on: { click: (e) => {
    state.order = state.order === "desc" ? "asc" : "desc";
    e.target.textContent = state.order === "desc" ? "↓" : "↑";
    load();
  } } }, state.order === "desc" ? "↓" : "↑");
  const search = el("input#search", { type: "search", placeholder: "Search files, users, reasons…", value: state.q, on: { input: (e) => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.q = e.target.value.trim(); state.offset = 0; load(); }, 250);
  } } });
  main.replaceChildren(el("section.card", {},
    el("div.row.wrap", {}, el("h2", {}, "Cached files"), el("span.spacer"), search, sort, order),
    el("div.scroll", {}, el("table.table", {},
      el("thead", {}, el("tr", {}, ...["File", "Size", "Priority", "Why it is cached", "Cached", ""].map((h) => el("th", {}, h)))),
      el("tbody#files-body"))),
    el("div.row", {}, el("span#files-count.muted"), el("span.spacer"),
      el("button#prev", { type: "button", on: { click: () => { state.offset = Math.max(0, state.offset - state.limit); load(); } } }, "Previous"),
      el("button#next", { type: "button", on: { click: () => { state.offset += state.limit; load(); } } }, "Next"))));
  await load();
  offs = [on("operation_complete", () => { clearTimeout(timer); timer = setTimeout(load, 500); })];
}

export function leave() {
  offs.forEach((off) => off());
  offs = [];
  clearTimeout(timer);
}
