// Settings forms generated from the settings' JSON schema: one input per field, its
// description as help, env-locked fields disabled, secrets write-only, errors by field.
import { el } from "./util.js";

let root = null;
export function useSchema(schema) { root = schema; }

function deref(s) {
  if (s && s.$ref) return { ...root.$defs[s.$ref.split("/").pop()], description: s.description || root.$defs[s.$ref.split("/").pop()].description };
  return s;
}

/** {schema, nullable} with `anyOf [X, null]` unwrapped. */
function unwrap(s) {
  s = deref(s);
  if (s && s.anyOf) {
    const other = s.anyOf.filter((a) => a.type !== "null");
    if (other.length === 1) return { schema: { ...deref(other[0]), description: s.description, title: s.title }, nullable: true };
  }
  return { schema: s, nullable: false };
}

function humanise(key) {
  return key.replace(/_(s|ms|bytes|hours|pct)$/, (m, u) => ` (${{ s: "s", ms: "ms", bytes: "bytes", hours: "h", pct: "%" }[u]})`)
    .replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase());
}

const isSecret = (s) => s.format === "password" || s.writeOnly;

/** A fieldset for the model at `path` (e.g. "cache"), skipping `skip` keys. */
export function modelFields(path, schema, value, ctx, skip = []) {
  const s = deref(schema);
  const nodes = [];
  for (const [key, prop] of Object.entries(s.properties || {})) {
    if (skip.includes(key)) continue;
    nodes.push(field(`${path}.${key}`, key, prop, value ? value[key] : undefined, ctx));
  }
  return nodes;
}

function field(path, key, prop, value, ctx) {
  const { schema, nullable } = unwrap(prop);
  const locked = ctx.locked.some((l) => l === path || path.startsWith(l + ".") || l.startsWith(path + "."));
  const help = el("small.help.muted", {}, schema.description || "");
  const lockNote = locked ? el("small.locked", {}, `Set by CACHERR_${path.split(".").map((p) => p.toUpperCase()).join("__")}`) : null;
  const error = el("small.field-error", { dataset: { for: path } });
  if (schema.type === "object" && schema.properties) {
    return el("fieldset", { dataset: { path } }, el("legend", {}, humanise(key)), help,
      el("small.field-error", { dataset: { for: path } }), ...modelFields(path, schema, value, ctx));
  }
  let input;
  let extra = null;
  if (schema.type === "array" && schema.items && isSecret(schema.items)) {
    // A list of secrets (apprise URLs) is shown only as a count: typing replaces them all.
    const count = (value && value.count) || 0;
    input = el("textarea", { rows: "2", autocomplete: "off",
      placeholder: count ? `${count} set — type new ones (one per line) to replace them all` : "none set — one per line" });
    input.dataset.secret = "list";
    if (count) {
      extra = el("label.check", {}, el("input", { type: "checkbox", dataset: { clears: path } }), `Remove all ${count}`);
    }
  } else if (isSecret(schema)) {
    input = el("input", { type: "password", autocomplete: "off", placeholder: value && value.set ? "set — type to replace" : "not set" });
    input.dataset.secret = "1";
  } else if (schema.enum) {
    input = el("select", {}, ...(nullable ? [el("option", { value: "" }, "—")] : []),
      ...schema.enum.map((v) => el("option", { value: v, selected: v === value }, String(v))));
  } else if (schema.type === "boolean") {
    input = el("input", { type: "checkbox", checked: !!value });
  } else if (schema.type === "integer" || schema.type === "number") {
    const min = schema.minimum ?? schema.exclusiveMinimum;
    input = el("input", { type: "number", step: schema.type === "integer" ? "1" : "any", min: min !== undefined ? String(min) : undefined,
      max: schema.maximum !== undefined ? String(schema.maximum) : undefined, value: value ?? "" });
  } else if (schema.type === "array") {
    input = el("textarea", { rows: "2", placeholder: "one per line" });
    input.value = (value || []).join("\n");
  } else {
    input = el("input", { type: "text", value: value ?? "", placeholder: nullable ? "unset" : "" });
  }
  Object.assign(input.dataset, { path, kind: schema.type || "string", nullable: nullable ? "1" : "" });
  input.name = path;
  input.disabled = locked;
  input.dataset.initial = readInput(input) === undefined ? "" : JSON.stringify(readInput(input));
  const label = schema.type === "boolean"
    ? el("label.check", {}, input, humanise(key))
    : el("label", {}, humanise(key), input);
  return el("div.field", { dataset: { path } }, label, extra, help, lockNote, error);
}

function readInput(input) {
  if (input.dataset.secret === "list") {
    const lines = input.value.split("\n").map((l) => l.trim()).filter(Boolean);
    const clears = input.closest(".field")?.querySelector("[data-clears]");
    return lines.length ? lines : clears && clears.checked ? [] : undefined;
  }
  if (input.dataset.secret) return input.value === "" ? undefined : input.value;
  if (input.type === "checkbox") return input.checked;
  const raw = input.value.trim();
  if (input.tagName === "TEXTAREA") return raw ? raw.split("\n").map((l) => l.trim()).filter(Boolean) : [];
  if (raw === "" && input.dataset.nullable) return null;
  if (input.dataset.kind === "integer" || input.dataset.kind === "number") return raw === "" ? null : Number(raw);
  return raw;
}

/** The changed fields under `container` as a nested patch ({} when nothing changed). */
export function collectPatch(container) {
  const patch = {};
  for (const input of container.querySelectorAll("[data-path]:is(input,select,textarea)")) {
    if (input.disabled) continue;
    const value = readInput(input);
    if (value === undefined) continue;
    if (JSON.stringify(value) === input.dataset.initial) continue;
    const parts = input.dataset.path.split(".");
    let node = patch;
    for (const part of parts.slice(0, -1)) node = node[part] = node[part] || {};
    node[parts[parts.length - 1]] = value;
  }
  return patch;
}

/** Show a 400's field errors next to their inputs; returns how many were placed. */
export function showErrors(container, details) {
  for (const node of container.querySelectorAll(".field-error")) node.textContent = "";
  let placed = 0;
  for (const d of details || []) {
    const path = d.path || d.field;
    const all = [...container.querySelectorAll(".field-error")];
    const target = all.find((n) => n.dataset.for === path)
      || all.filter((n) => path.startsWith(n.dataset.for + ".")).pop();
    if (target) { target.textContent = d.message; placed += 1; }
  }
  return placed;
}
