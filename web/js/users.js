// Users: who uses the server, their type, what Cacherr does for them, per-user settings.
import { act, ago, api, bytes, el, emptyRow, openDialog, pill, toast } from "./util.js";

const FLAGS = [["enabled", "Cache for this user"], ["ondeck", "On deck"], ["watchlist", "Watchlist"], ["lists", "Import lists"]];
const NUMBERS = [
  ["episodes_ahead", "Episodes ahead", 0, 100, 1],
  ["days_to_monitor", "Ignore on-deck items older than (days, 0 = never)", 0, 100000, 1],
  ["watchlist_retention_days", "Watchlist items stay (days, 0 = while listed)", 0, 100000, 0.5],
  ["priority_boost", "Priority boost (−100…100)", -100, 100, 1],
];

function yesNo(value) { return value ? pill("on", "ok") : pill("off"); }

const DECK = { token: ["Plex (token)", "ok"], database: ["Plex database", "ok"], none: ["none", "warn"] };

function deckSource(src) {
  if (!src) return "—";
  const [label, tone] = DECK[src.source] || [src.source, ""];
  return el("span.deck-source", { title: src.reason }, pill(label, tone),
    src.source === "none" ? el("div.muted.small", {}, src.reason, src.fix ? ` — fix: ${src.fix}` : "") : null);
}

async function editUser(user, reload) {
  const o = user.override;
  const fields = [
    ...FLAGS.map(([key, label]) => el("label", {}, label, el("select", { name: key },
      el("option", { value: "", selected: o[key] === undefined }, `default (${user.policy[key] ? "on" : "off"})`),
      el("option", { value: "true", selected: o[key] === true }, "on"),
      el("option", { value: "false", selected: o[key] === false }, "off")))),
    ...NUMBERS.map(([key, label, min, max, step]) => el("label", {}, label,
      el("input", { name: key, type: "number", min: String(min), max: String(max), step: String(step),
        value: o[key] ?? "", placeholder: `default: ${user.policy[key]}` }))),
    el("p.muted", {}, `Settings left on default follow the defaults for ${user.kind} users, set in `,
      el("a", { href: `#settings?tab=cache&field=users.${user.kind}`, on: { click: () => document.getElementById("dialog").close("cancel") } },
        "Settings → Cache & retention → Per-user settings"), "."),
  ];
  const form = await openDialog(`Settings of ${user.name}`, el("div.form", {}, fields));
  if (!form) return;
  const body = {};
  for (const [key] of FLAGS) body[key] = form.elements[key].value === "" ? null : form.elements[key].value === "true";
  for (const [key] of NUMBERS) body[key] = form.elements[key].value === "" ? null : Number(form.elements[key].value);
  await act(null, () => api(`/api/users/${encodeURIComponent(user.name)}/settings`, { method: "PUT", body }));
  await reload();
}

export async function enter(main) {
  const body = el("tbody#users-body");
  async function load() {
    const users = await api("/api/users");
    body.replaceChildren(...users.map((u) => el("tr", { dataset: { user: u.name } },
      el("td", {}, el("strong", {}, u.name), u.title && u.title !== u.name ? el("span.muted", {}, ` (${u.title})`) : null),
      el("td", {}, pill(u.kind, u.kind === "main" ? "warn" : "")),
      el("td", {}, yesNo(u.policy.enabled), u.active ? null : pill("inactive")),
      el("td.num", {}, String(u.policy.episodes_ahead)),
      el("td", {}, ...["ondeck", "watchlist", "lists"].filter((k) => u.policy[k]).map((k) => pill(k))),
      el("td", {}, deckSource(u.ondeck_source)),
      el("td.num", {}, `${u.cached_files} · ${bytes(u.cached_bytes)}`),
      el("td.muted", {}, u.last_active_at ? ago(u.last_active_at) : "—"),
      el("td.actions", {}, Object.keys(u.override).length ? pill("custom", "ok") : null,
        el("button.small", { type: "button", on: { click: () => editUser(u, load) } }, "Settings")))));
    if (!users.length) body.append(emptyRow(9, "No user known yet: connect Plex, then refresh."));
  }
  main.replaceChildren(el("section.card", {},
    el("div.row", {}, el("h2", {}, "Users"), el("span.spacer"),
      el("button", { type: "button", on: { click: async (e) => {
        const found = await act(e.target, () => api("/api/users/refresh", { method: "POST" }));
        if (found) await load();
      } } }, "Refresh from Plex")),
    el("div.scroll", {}, el("table.table", {},
      el("thead", {}, el("tr", {}, ...["User", "Type", "Enabled", "Episodes ahead", "Sources", "On-deck from", "Cached", "Last played", ""].map((h) => el("th", {}, h)))),
      body))));
  try { await load(); } catch (err) { toast(err.message, "error"); }
}
