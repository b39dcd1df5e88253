// Settings: every section of cacherr.json, saved through PATCH /api/settings, with the Plex
// test, path mappings with a live resolve preview, the notification test and security.
import { act, api, confirmDialog, el, toast } from "./util.js";
import { collectPatch, modelFields, showErrors, useSchema } from "./form.js";
import { security } from "./security.js";

const SECTIONS = [
  ["general", "General", [["general"]]],
  ["plex", "Plex", [["plex"], ["sessions"]]],
  ["paths", "Paths", [["paths", ["mappings"]], ["mover"]]],
  ["cache", "Cache & retention", [["cache"], ["retention"], ["watchlist"], ["sweep"], ["users", ["overrides"]]]],
  ["notifications", "Notifications", [["notifications"]]],
  ["lists", "List providers", [["lists", ["definitions"]]]],
  ["security", "Security", [["web", ["api_key", "password_hash", "password", "username"]], ["webhook"]]],
];
let tab = "general";

async function save(button, box, state) {
  const patch = collectPatch(box);
  if (box.dataset.section === "security" && patch.web && patch.web.auth === "none") {
    const sure = await confirmDialog("Turn the login off?",
      "Anyone who can reach this page on your network will be able to use Cacherr and change its settings.", "Turn off", true);
    if (!sure) return;
  }
  if (!Object.keys(patch).length) { toast("Nothing changed"); return; }
  button.disabled = true;
  try {
    const data = await api("/api/settings", { method: "PATCH", body: patch });
    showErrors(box, []);
    toast(api.lastMessage || "Settings saved");
    state.settings = data.settings;
    render(state);
  } catch (err) {
    const placed = showErrors(box, err.details);
    toast(placed ? "Some fields need a change: see below" : err.message, "error");
  } finally {
    button.disabled = false;
  }
}

function plexTest(box) {
  const out = el("span.muted#plex-test-result", { role: "status" });
  return el("div.row.wrap", {}, el("button", { type: "button", on: { click: async (e) => {
    const url = box.querySelector('[name="plex.url"]').value.trim();
    const token = box.querySelector('[name="plex.token"]').value;
    const body = { url: url || null, token: token || null };
    // The answer (or why the test cannot start) is shown beside the button, where the fields are.
    e.target.disabled = true;
    let result;
    try {
      result = await api("/api/settings/plex/test", { method: "POST", body });
    } catch (err) {
      result = { ok: false, reason: err.message };
    } finally {
      e.target.disabled = false;
    }
    out.className = result.ok ? "ok-text" : "error";
    out.textContent = result.ok ? `Connected: ${result.name || "Plex"} ${result.version || ""}` : result.reason;
  } } }, "Test the connection"), out);
}

function notifyTest(box) {
  const out = el("span.muted");
  return el("div.row.wrap", {}, el("button", { type: "button", on: { click: async (e) => {
    const text = box.querySelector('[name="notifications.urls"]').value.trim();
    const body = text ? { urls: text.split("\n").map((u) => u.trim()).filter(Boolean) } : null;
    const result = await act(e.target, () => api("/api/notifications/test", { method: "POST", body }), (r) => `Sent to ${r.sent} of ${r.sent + r.failed}`);
    if (result) out.textContent = result.results.map((r) => `#${r.index ?? ""} ${r.service || ""}: ${r.ok ? "ok" : r.error || "failed"}`).join(" · ");
  } } }, "Send a test notification"), out,
  el("small.muted", {}, "The configured URLs are never shown again; type new ones to replace them all, or to test them before saving."));
}

function mappingRow(m = { name: "", plex: "", array: "", cache: "", host_cache: null, cacheable: true }) {
  const input = (key, placeholder) => el("input", { name: key, value: m[key] ?? "", placeholder, "aria-label": key });
  return el("tr.mapping", {}, el("td", {}, input("name", "tv")), el("td", {}, input("plex", "/data/tv")),
    el("td", {}, input("array", "/mnt/user0/media/tv")), el("td", {}, input("cache", "/mnt/cache/media/tv")),
    el("td", {}, input("host_cache", "(same)")),
    el("td", {}, el("input", { type: "checkbox", name: "cacheable", checked: m.cacheable, "aria-label": "cacheable" })),
    el("td", {}, el("button.small.danger", { type: "button", title: "Remove", on: { click: (e) => e.target.closest("tr").remove() } }, "✕")));
}

function readMappings(table) {
  return [...table.querySelectorAll("tr.mapping")].map((row) => {
    const v = (k) => row.querySelector(`[name=${k}]`).value.trim();
    return { name: v("name"), plex: v("plex"), array: v("array"), cache: v("cache"), host_cache: v("host_cache") || null, cacheable: row.querySelector("[name=cacheable]").checked };
  });
}

function mappingsEditor(state) {
  const locked = state.locked.some((l) => l.startsWith("paths.mappings") || l === "paths");
  const body = el("tbody", {}, ...state.settings.paths.mappings.map(mappingRow));
  const table = el("table.table.compact.mappings", {},
    el("thead", {}, el("tr", {}, ...["Name", "Plex path", "Array path", "Cache path", "Host cache path", "Cacheable", ""].map((h) => el("th", {}, h)))), body);
  const preview = el("div.resolve.muted", {}, "Type a file path as Plex shows it to see where Cacherr finds it.");
  let timer = null;
  const probe = el("input#resolve-input", { type: "text", placeholder: "/data/tv/Show/Season 01/Show - S01E01.mkv", on: { input: () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const path = probe.value.trim();
      if (!path) return;
      const params = new URLSearchParams({ plex_path: path, mappings: JSON.stringify(readMappings(table).filter((m) => m.name)) });
      try {
        const r = await api(`/api/settings/resolve?${params}`);
        preview.className = "resolve " + (r.ok ? "ok-text" : "error");
        preview.replaceChildren(...(r.ok ? [
          el("div", {}, `Mapping ${r.mapping}${r.cacheable ? "" : " (not cacheable)"}`),
          el("div", {}, "Array: ", el("code", {}, r.array_path), r.exists.array === null ? " (checked once the mapping is saved)" : r.exists.array ? " ✓" : r.exists.backup ? " (backed up: served from the cache)" : " (not found)"),
          el("div", {}, "Cache: ", el("code", {}, r.cache_path), r.exists.cache ? " ✓" : "")] : [el("div", {}, "Refused: " + r.reason)]));
      } catch (err) { preview.className = "resolve error"; preview.textContent = err.message; }
    }, 250);
  } } });
  const errors = el("p.error");
  return el("fieldset", {}, el("legend", {}, "Path mappings"),
    el("small.help.muted", {}, "Each mapping says where a Plex folder lives on the array (never the /mnt/user union) and on the cache pool; the longest Plex prefix wins."),
    locked ? el("small.locked", {}, "Set by an environment variable") : null,
    el("div.scroll", {}, table), errors,
    el("div.row", {}, el("button", { type: "button", disabled: locked, on: { click: () => body.append(mappingRow()) } }, "Add a mapping"),
      el("button.primary", { type: "button", disabled: locked, on: { click: async (e) => {
        errors.textContent = "";
        const mappings = readMappings(table);
        const data = await act(e.target, () => api("/api/settings", { method: "PATCH", body: { paths: { mappings } } }).catch((err) => {
          errors.textContent = err.message; throw err;
        }));
        if (data) { state.settings = data.settings; }
      } } }, "Save mappings")),
    el("label", {}, "Resolve a Plex path", probe), preview);
}

function render(state) {
  const box = document.getElementById("settings-body");
  // The highlighted tab and the form below it always agree: a tab that cannot be built
  // says so in place of its form, never leaving the previous tab's form under it.
  for (const b of document.querySelectorAll("#settings-tabs button")) {
    b.classList.toggle("on", b.dataset.tab === tab);
    b.setAttribute("aria-selected", String(b.dataset.tab === tab));
  }
  try {
    box.replaceChildren(...build(state));
  } catch (err) {
    console.error("settings tab", tab, err);
    box.replaceChildren(el("p.error", {}, `This tab could not be shown: ${err.message}`));
  }
}

function build(state) {
  const [key, title, parts] = SECTIONS.find((s) => s[0] === tab);
  const ctx = { locked: state.locked };
  const form = el("form.form.settings", { dataset: { section: key }, on: { submit: (e) => { e.preventDefault(); save(e.submitter, form, state); } } });
  for (const [section, skip] of parts) {
    const schema = state.schema.properties[section];
    form.append(el("fieldset", { dataset: { path: section } }, el("legend", {}, schema.description || section),
      el("small.field-error", { dataset: { for: section } }),
      ...modelFields(section, schema, state.settings[section], ctx, skip || [])));
  }
  form.append(el("div.row.end.sticky", {}, el("button.primary", { type: "submit" }, `Save ${title.toLowerCase()}`)));
  const extra = [];
  if (key === "plex") form.querySelector('[data-path="plex"]').append(plexTest(form));
  if (key === "notifications") form.querySelector('[data-path="notifications"]').append(notifyTest(form));
  if (key === "paths") extra.push(mappingsEditor(state));
  if (key === "security") extra.push(security(state));
  return [...extra, form];
}

export async function enter(main) {
  const data = await api("/api/settings");
  useSchema(data.schema);
  const state = { settings: data.settings, locked: data.locked, schema: data.schema };
  main.replaceChildren(el("section.card", {},
    el("div#settings-tabs.tabs", { role: "tablist" }, ...SECTIONS.map(([key, title]) => el("button", {
      type: "button", role: "tab", dataset: { tab: key }, on: { click: () => { tab = key; render(state); } } }, title))),
    el("div#settings-body")));
  // A link elsewhere on the page may name a tab and a field: #settings?tab=cache&field=users.home
  const wanted = new URLSearchParams(location.hash.split("?")[1] || "");
  if (SECTIONS.some(([key]) => key === wanted.get("tab"))) tab = wanted.get("tab");
  render(state);
  const field = wanted.get("field") && document.querySelector(`#settings-body [data-path="${CSS.escape(wanted.get("field"))}"]`);
  if (field) { field.classList.add("pointed"); field.scrollIntoView({ block: "start" }); }
}
