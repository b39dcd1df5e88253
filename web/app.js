// Cacherr's page: log in, then one view at a time (web/js/*.js), kept live over Socket.IO.
import { api, el, setUnauthorizedHandler, toast } from "./js/util.js";
import { connect, disconnect, on } from "./js/live.js";
import * as dashboard from "./js/dashboard.js";
import * as files from "./js/files.js";
import * as users from "./js/users.js";
import * as lists from "./js/lists.js";
import * as settings from "./js/settings.js";
import * as maintenance from "./js/maintenance.js";

const views = { dashboard, files, users, lists, settings, maintenance };
const main = document.getElementById("main");
const features = new Set();
let current = null;
let authMode = "forms";

/** Which optional routes this Cacherr has ("POST /api/pins"), from its OpenAPI document. */
async function loadFeatures() {
  try {
    const res = await fetch("/api/openapi.json");
    const spec = await res.json();
    for (const [path, ops] of Object.entries(spec.paths)) {
      for (const method of Object.keys(ops)) features.add(`${method.toUpperCase()} ${path}`);
    }
  } catch { /* older build: every optional part stays hidden */ }
  document.querySelector('#nav [data-view="lists"]').hidden = !features.has("GET /api/lists");
}

let shown = 0;  // counts the views entered: a view left before it loaded stays quiet

async function show() {
  const mine = ++shown;
  const name = (location.hash || "#dashboard").slice(1).split("?")[0];
  const view = views[name] && (name !== "lists" || features.has("GET /api/lists")) ? name : "dashboard";
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.view === view);
  }
  if (current && current.leave) current.leave();
  current = views[view];
  main.replaceChildren(el("p.muted", {}, "Loading…"));
  main.dataset.view = view;
  const entered = current;
  try {
    await entered.enter(main, { features });
    // Left while it loaded: what it set up once loaded (live updates) goes with it.
    if (mine !== shown && current !== entered && entered.leave) entered.leave();
  } catch (err) {
    // A view left while it loaded fails on its own elements, which are gone: the view
    // shown since is not replaced by that failure.
    if (mine === shown) main.replaceChildren(el("p.error", {}, "Could not load this view: " + err.message));
  }
}

async function refreshBanners() {
  const box = document.getElementById("banners");
  try {
    const status = await api("/api/status");
    document.getElementById("version").textContent = "v" + status.version;
    box.replaceChildren(...status.warnings.map((w) =>
      el(`div.banner.${w.code === "auth_none" ? "danger" : "warn"}`, { dataset: { code: w.code } }, w.message)));
  } catch { /* the view shows its own error */ }
}

function showAuth(state) {
  const section = document.getElementById("auth");
  const setup = state.setup_required;
  document.getElementById("auth-intro").textContent = setup
    ? `Welcome. Choose the user name and password that will protect this page (a password of ${state.password_min_length} characters or more).`
    : "Log in to see and control what Cacherr does.";
  document.getElementById("auth-submit").textContent = setup ? "Create login" : "Log in";
  document.getElementById("auth-confirm-row").hidden = !setup;
  document.getElementById("auth-code-row").hidden = !setup;
  const form = document.getElementById("auth-form");
  form.elements.code.required = setup;
  form.elements.password.autocomplete = setup ? "new-password" : "current-password";
  form.dataset.mode = setup ? "setup" : "login";
  section.hidden = false;
  document.body.classList.add("locked");
  form.elements.username.focus();
}

async function submitAuth(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = document.getElementById("auth-error");
  error.textContent = "";
  const body = { username: form.elements.username.value, password: form.elements.password.value };
  if (form.dataset.mode === "setup" && body.password !== form.elements.confirm.value) {
    error.textContent = "The two passwords differ.";
    return;
  }
  if (form.dataset.mode === "setup") body.code = form.elements.code.value.trim();
  try {
    await api(`/api/auth/${form.dataset.mode === "setup" ? "setup" : "login"}`, { method: "POST", body });
  } catch (err) {
    error.textContent = err.message;
    return;
  }
  form.reset();
  document.getElementById("auth").hidden = true;
  document.body.classList.remove("locked");
  await start();
}

async function start() {
  document.getElementById("logout").hidden = authMode === "none";
  connect();
  await refreshBanners();
  await show();
}

async function boot() {
  document.getElementById("auth-form").addEventListener("submit", submitAuth);
  document.getElementById("logout").addEventListener("click", async () => {
    try { await api("/api/auth/logout", { method: "POST" }); } catch { /* gone anyway */ }
    disconnect();
    location.hash = "";
    location.reload();
  });
  setUnauthorizedHandler(() => { disconnect(); boot2(); });
  window.addEventListener("hashchange", show);
  on("config_reloaded", () => {
    // A save from this page rewrites the file too: only an edit made elsewhere is news.
    if (Date.now() - (api.lastWrite || 0) > 3000) toast("cacherr.json changed: settings reloaded");
    refreshBanners();
  });
  on("config_error", (d) => toast((d.message || "Configuration error") + ": " + (d.problems || []).join("; "), "error"));
  on("plex_state", refreshBanners);
  await loadFeatures();
  await boot2();
}

async function boot2() {
  let state;
  try {
    state = await api("/api/auth/status");
  } catch (err) {
    main.replaceChildren(el("p.error", {}, err.message));
    return;
  }
  authMode = state.mode;
  if (!state.logged_in) { showAuth(state); return; }
  await start();
}

export function refreshStatus() { return refreshBanners(); }

boot();
