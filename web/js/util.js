// Small helpers every view shares: the API client, DOM building, formatting, toasts, dialogs.

export class ApiError extends Error {
  constructor(message, status, details) {
    super(message);
    this.status = status;
    this.details = details;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

/** Call the REST API; resolves to the envelope's data, rejects with its message. */
export async function api(path, { method = "GET", body, quiet401 = false } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET") api.lastWrite = Date.now();
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError("Cannot reach Cacherr: " + err.message, 0);
  }
  let env = null;
  try { env = await res.json(); } catch { /* not JSON */ }
  if (res.status === 401 && !quiet401 && !path.startsWith("/api/auth/")) onUnauthorized();
  if (!env || env.success === false || !res.ok) {
    const message = (env && env.message) || `${res.status} ${res.statusText}`;
    throw new ApiError(message, res.status, env && env.error ? env.error.details : null);
  }
  api.lastMessage = env.message;
  return env.data;
}

/** Build an element: el("div.card#id", {attrs, on: {click}}, children...). */
export function el(spec, props = {}, ...children) {
  const tag = spec.match(/^[a-z0-9]*/i)[0] || "div";
  const node = document.createElement(tag);
  const classes = [];
  for (const [, mark, name] of spec.slice(tag.length).matchAll(/([.#])([^.#]+)/g)) {
    if (mark === "#") node.id = name; else classes.push(name);
  }
  if (classes.length) node.className = classes.join(" ");
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = value;
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace `node`'s children, leaving out the null/false ones (as `el` does). */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let i = 0;
  let v = Number(n);
  while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i += 1; }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

export function duration(s) {
  if (s === null || s === undefined || !isFinite(s)) return "—";
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function ago(ts) {
  if (!ts) return "—";
  const s = Date.now() / 1000 - ts;
  if (s < 0) return "in " + duration(-s);
  if (s < 5) return "just now";
  return duration(s) + " ago";
}

export function clock(ts) {
  if (!ts) return "—";
  const d = new Date(ts * 1000);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

export function toast(message, kind = "ok") {
  const node = el(`div.toast.${kind}`, { role: kind === "error" ? "alert" : "status" }, message);
  document.getElementById("toasts").append(node);
  setTimeout(() => node.remove(), kind === "error" ? 8000 : 4000);
}

/** Run an action from a button: disable it meanwhile, toast the result or the error. */
export async function act(button, fn, success) {
  if (button) button.disabled = true;
  try {
    const result = await fn();
    const text = typeof success === "function" ? success(result) : success || api.lastMessage;
    if (text) toast(text, "ok");
    return result;
  } catch (err) {
    toast(err.message, "error");
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

/** A modal dialog; resolves to true when confirmed. */
export function confirmDialog(title, text, confirmLabel = "Confirm", danger = false) {
  return openDialog(title, [el("p", {}, text)], confirmLabel, danger).then((form) => !!form);
}

/**
 * A modal dialog around `content`; resolves to its form (or null when cancelled).
 * With `onSubmit(form)`, confirming runs it first: the dialog closes (resolving to its
 * result) only when it returns something; otherwise it stays open with what was typed.
 */
export function openDialog(title, content, confirmLabel = "Save", danger = false, onSubmit = null) {
  const dialog = document.getElementById("dialog");
  const form = document.getElementById("dialog-form");
  form.replaceChildren(
    el("h2", {}, title),
    el("div.dialog-body", {}, content),
    el("div.row.end", {},
      el("button", { type: "button", value: "cancel", on: { click: () => dialog.close("cancel") } }, "Cancel"),
      el(`button.${danger ? "danger" : "primary"}`, { type: "submit", value: "ok" }, confirmLabel)),
  );
  let result = form;
  const submit = async (e) => {
    e.preventDefault();
    const button = e.submitter;
    if (button) button.disabled = true;
    try {
      result = await onSubmit(form);
      if (result !== undefined && result !== null && result !== false) dialog.close("ok");
    } finally {
      if (button) button.disabled = false;
    }
  };
  if (onSubmit) form.addEventListener("submit", submit);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      form.removeEventListener("submit", submit);
      resolve(dialog.returnValue === "ok" ? result : null);
    }, { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

export function pill(text, kind = "") {
  return el(`span.pill${kind ? "." + kind : ""}`, {}, text);
}

export function progressBar(done, size) {
  const pct = size ? Math.min(100, (100 * done) / size) : 0;
  return el("div.bar", { role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": pct.toFixed(1) },
    el("span", { style: `width:${pct.toFixed(1)}%` }));
}

export function emptyRow(colspan, text) {
  return el("tr.empty", {}, el("td", { colspan: String(colspan) }, text));
}
