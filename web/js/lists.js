// Import lists: add, edit, refresh, delete; each list's entries with their match state.
import { act, ago, api, confirmDialog, el, emptyRow, openDialog, pill, toast } from "./util.js";
import { showErrors } from "./form.js";
import { on } from "./live.js";

const PROVIDERS = ["trakt", "tmdb", "imdb", "rss", "url"];
const MATCH = { matched: "ok", not_in_library: "", ambiguous: "warn", pending: "" };

let offs = [];
let timer = null;

function field(label, input, help) {
  return el("label", {}, label, input, help ? el("small.muted", {}, help) : null,
    el("small.field-error", { dataset: { for: input.name } }));
}

async function editList(list, reload) {
  const d = list || { name: "", enabled: true, provider: "trakt", source: "", max_items: 50, mode: "strict", episodes_per_show: 1, priority: 0, refresh_interval_s: 21600, title_fallback: false };
  const content = el("div.form", {},
    field("Name", el("input", { name: "name", required: true, value: d.name })),
    field("Provider", el("select", { name: "provider" }, ...PROVIDERS.map((p) => el("option", { value: p, selected: p === d.provider }, p)))),
    field("Source", el("input", { name: "source", required: true, value: d.source }), "e.g. user/slug, trending/movies, a TMDb list id, an IMDb ls… id or a URL"),
    field("Most items", el("input", { name: "max_items", type: "number", min: "1", max: "10000", value: d.max_items })),
    field("Mode", el("select", { name: "mode" }, ...["strict", "fill"].map((m) => el("option", { value: m, selected: m === d.mode }, m))),
      "strict: cache in list order; fill: only in space left over"),
    field("Episodes per show", el("input", { name: "episodes_per_show", type: "number", min: "0", max: "100", value: d.episodes_per_show })),
    field("Priority (−100…100)", el("input", { name: "priority", type: "number", min: "-100", max: "100", value: d.priority })),
    field("Refresh every (s)", el("input", { name: "refresh_interval_s", type: "number", min: "300", value: d.refresh_interval_s })),
    el("label.check", {}, el("input", { name: "enabled", type: "checkbox", checked: d.enabled }), "Enabled"),
    el("label.check", {}, el("input", { name: "title_fallback", type: "checkbox", checked: d.title_fallback }), "Match by title and year when no id matches"));
  const problem = el("p.error", { role: "alert" });
  content.append(problem);
  // The server checks the list; what it refuses is shown at its field and the dialog stays
  // open with everything typed.
  const saved = await openDialog(list ? `Edit ${list.name}` : "Add an import list", content, "Save", false, async (form) => {
    const f = form.elements;
    const body = { ...(list ? stripView(list) : {}),
      name: f.name.value.trim(), provider: f.provider.value, source: f.source.value.trim(), max_items: Number(f.max_items.value),
      mode: f.mode.value, episodes_per_show: Number(f.episodes_per_show.value), priority: Number(f.priority.value),
      refresh_interval_s: Number(f.refresh_interval_s.value), enabled: f.enabled.checked, title_fallback: f.title_fallback.checked };
    const path = list ? `/api/lists/${encodeURIComponent(list.name)}` : "/api/lists";
    problem.textContent = "";
    try {
      await api(path, { method: list ? "PUT" : "POST", body });
      return api.lastMessage || "list saved";
    } catch (err) {
      if (!showErrors(content, err.details)) problem.textContent = err.message;
      return null;
    }
  });
  if (!saved) return;
  toast(saved);
  await reload();
}

function stripView(list) {
  const copy = { ...list };
  delete copy.status;
  return copy;
}

async function showItems(list, box) {
  const data = await api(`/api/lists/${encodeURIComponent(list.name)}/items`);
  box.replaceChildren(el("table.table.compact", {}, el("tbody", {},
    ...(data.items.length ? data.items.map((i) => el("tr", {},
      el("td.num", {}, String(i.position + 1)), el("td", {}, `${i.title}${i.year ? " (" + i.year + ")" : ""}`),
      el("td", {}, i.kind || ""), el("td", {}, pill(i.match_state.replaceAll("_", " "), MATCH[i.match_state] || ""), i.by_title ? pill("by title", "warn") : null)))
      : [emptyRow(4, "No entries yet: refresh the list.")]))));
}

export async function enter(main) {
  const body = el("div#lists-body");
  async function load() {
    const lists = await api("/api/lists");
    body.replaceChildren(...lists.map((l) => {
      const items = el("div.items");
      const s = l.status;
      return el("section.card.list", { dataset: { list: l.name } },
        el("div.row.wrap", {}, el("h3", {}, l.name), pill(l.provider), l.enabled ? null : pill("disabled"),
          pill(s.state, s.state === "failed" ? "bad" : s.state === "ok" ? "ok" : ""), el("span.spacer"),
          el("button.small", { type: "button", on: { click: (e) => act(e.target, () => api(`/api/lists/${encodeURIComponent(l.name)}/refresh`, { method: "POST" })).then(load) } }, "Refresh"),
          el("button.small", { type: "button", on: { click: () => editList(l, load) } }, "Edit"),
          el("button.small.danger", { type: "button", on: { click: async (e) => {
            if (await confirmDialog(`Delete ${l.name}?`, "Its claims are released; cached files go back after their retention.", "Delete", true)) {
              await act(e.target, () => api(`/api/lists/${encodeURIComponent(l.name)}`, { method: "DELETE" }));
              await load();
            }
          } } }, "Delete")),
        el("p.muted", {}, `${l.source} · ${s.item_count} items${s.truncated ? " (truncated)" : ""} · matched ${s.counts.matched}, not in library ${s.counts.not_in_library}, ambiguous ${s.counts.ambiguous} · fetched ${ago(s.fetched_at)}${s.state === "failed" && s.attempted_at ? ` · tried ${ago(s.attempted_at)}, again within 15 min` : ""}`),
        s.error ? el("p.error", {}, s.error) : null,
        el("details", { on: { toggle: (e) => { if (e.target.open) showItems(l, items); } } }, el("summary", {}, "Entries"), items));
    }));
    if (!lists.length) body.append(el("p.muted", {}, "No import list yet."));
  }
  main.replaceChildren(el("div.row", {}, el("h2", {}, "Import lists"), el("span.spacer"),
    el("button.primary", { type: "button", on: { click: () => editList(null, load) } }, "Add a list")), body);
  await load();
  // A list fetched in the background (or by another page) shows its new state at once.
  offs = [on("list_state", () => { clearTimeout(timer); timer = setTimeout(load, 300); })];
}

export function leave() {
  offs.forEach((off) => off());
  offs = [];
  clearTimeout(timer);
}
