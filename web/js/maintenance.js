// Maintenance: the audit of the mapped folders with its fixes, the sweep's dry-run plan and
// the eviction simulator.
import { act, api, bytes, confirmDialog, el, emptyRow, fill, pill } from "./util.js";

const FIXABLE = new Set(["adopt", "adopt_duplicate", "restore_backup", "remove_temp"]);
const FIX_LABEL = { adopt: "Adopt", adopt_duplicate: "Adopt", restore_backup: "Restore name", remove_temp: "Remove temp" };

function ref(f) { return { kind: f.kind, mapping: f.mapping, rel: f.rel, side: f.side }; }

async function fix(findings, button, rerun) {
  const what = findings.length === 1 ? findings[0].rel : `${findings.length} findings`;
  if (!(await confirmDialog("Apply the fix?", `${what}: ${findings.length === 1 ? findings[0].explanation : "each fix is re-checked on disk first"}`, "Fix"))) return;
  const data = await act(button, () => api("/api/maintenance/fix", { method: "POST", body: { findings: findings.map(ref) } }));
  if (data) await rerun();
}

async function runAudit(box, button) {
  const report = await act(button, () => api("/api/maintenance/audit"), (r) => `${r.findings.length} findings in ${r.files_scanned} files`);
  if (!report) return;
  const rerun = () => runAudit(box, null);
  const fixable = report.findings.filter((f) => FIXABLE.has(f.fix));
  fill(box,
    el("p.muted", {}, Object.entries(report.counts).map(([k, n]) => `${k.replaceAll("_", " ")}: ${n}`).join(" · ")),
    ...report.errors.map((e) => el("p.error", {}, e)),
    fixable.length > 1 ? el("button.primary", { type: "button", on: { click: (e) => fix(fixable, e.target, rerun) } }, `Fix all ${fixable.length}`) : null,
    el("div.scroll", {}, el("table.table", {},
      el("thead", {}, el("tr", {}, ...["Kind", "File", "What it means", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...(report.findings.length ? report.findings.map((f) => el("tr", {},
        el("td", {}, pill(f.kind.replaceAll("_", " "), f.fix === "none" ? "warn" : "")),
        el("td.file", {}, el("div.name", {}, f.rel), el("div.path.muted", {}, f.paths.map((p) => `${p.role}: ${p.path} (${bytes(p.size_bytes)})`).join(" · "))),
        el("td", {}, f.explanation),
        el("td.actions", {}, FIXABLE.has(f.fix)
          ? el("button.small", { type: "button", on: { click: (e) => fix([f], e.target, rerun) } }, FIX_LABEL[f.fix])
          : el("span.muted", {}, "needs a person")))) : [emptyRow(4, "Nothing to fix: the mapped folders are clean.")])))));
}

async function showPlan(box, button) {
  const plan = await act(button, () => api("/api/plan"), (p) => `${p.length} planned actions (nothing was moved)`);
  if (!plan) return;
  box.replaceChildren(el("div.scroll", {}, el("table.table.compact", {},
    el("thead", {}, el("tr", {}, ...["Action", "File", "Size", "Priority", "Why"].map((h) => el("th", {}, h)))),
    el("tbody", {}, ...(plan.length ? plan.map((a) => el("tr", {},
      el("td", {}, pill(a.action, a.action === "cache" ? "ok" : a.action === "unfit" ? "bad" : "warn")),
      el("td.path", { title: a.path }, a.path), el("td.num", {}, bytes(a.size_bytes)),
      el("td.num", {}, a.priority === null ? "—" : String(a.priority)), el("td", {}, a.reason))) : [emptyRow(5, "Nothing to do: the cache matches the claims.")])))));
}

async function simulate(form, box) {
  const gb = Number(form.elements.size.value);
  const params = new URLSearchParams({ size_bytes: String(Math.round(gb * 1e9)) });
  if (form.elements.priority.value) params.set("priority", form.elements.priority.value);
  const r = await act(form.querySelector("button"), () => api(`/api/claims/simulate?${params}`), () => "");
  if (!r) return;
  box.replaceChildren(
    el("p", {}, r.fits ? (r.evicted.length ? `It fits once ${r.evicted.length} files (${bytes(r.freed_bytes)}) go back:` : "It fits without sending anything back.")
      : `It would not fit: ${bytes(r.missing_bytes)} missing even after evicting everything of lower priority.`),
    el("ul.plain", {}, ...r.evicted.map((e) => el("li", {}, el("span.path", {}, e.path), el("span.muted", {}, ` · ${bytes(e.size_bytes)} · priority ${e.priority ?? "none"}`)))));
}

export async function enter(main, ctx) {
  const auditBox = el("div#audit");
  const planBox = el("div#plan");
  const simBox = el("div#simulation");
  const simForm = el("form.row.wrap", { on: { submit: (e) => { e.preventDefault(); simulate(e.target, simBox); } } },
    el("label", {}, "Size (GB)", el("input", { name: "size", type: "number", min: "0.001", step: "any", value: "5", required: true })),
    el("label", {}, "Priority", el("input", { name: "priority", type: "number", step: "any", placeholder: "630 (next episode)" })),
    el("button", { type: "submit" }, "Simulate"));
  fill(main,
    el("section.card", {}, el("div.row", {}, el("h2", {}, "Audit"), el("span.spacer"),
      el("button.primary", { type: "button", on: { click: (e) => runAudit(auditBox, e.target) } }, "Run the audit")),
    el("p.muted", {}, "Looks through the mapped folders for PlexCache leftovers to adopt, files on both tiers, orphaned backups and half-written copies. Nothing changes until you fix a finding."),
    auditBox),
    ctx.features.has("GET /api/plan") ? el("section.card", {}, el("div.row", {}, el("h2", {}, "Dry run"), el("span.spacer"),
      el("button", { type: "button", on: { click: (e) => showPlan(planBox, e.target) } }, "Show the plan"),
      ctx.features.has("POST /api/sweep") ? el("button", { type: "button", on: { click: (e) => act(e.target, () => api("/api/sweep", { method: "POST" })) } }, "Sweep now") : null),
    el("p.muted", {}, "What a sweep would do now, in order, and why; nothing is moved."), planBox) : null,
    el("section.card", {}, el("h2", {}, "Eviction simulator"),
      el("p.muted", {}, "What would go back to the array to make room for a file of this size."), simForm, simBox));
}
