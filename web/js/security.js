// Settings → Security: the API key (reveal, regenerate), the password, the webhook URLs.
import { act, api, confirmDialog, el, toast } from "./util.js";

function copyable(value, label) {
  const input = el("input.copy", { type: "text", readonly: true, value, "aria-label": label });
  return el("div.row", {}, input, el("button.small", { type: "button", on: { click: async () => {
    input.select();
    try { await navigator.clipboard.writeText(value); } catch { document.execCommand("copy"); }
    toast(`${label} copied`);
  } } }, "Copy"));
}

export function security(state) {
  const keyBox = el("div");
  const hooks = el("div");
  const auth = state.settings.web.auth;
  // The server states the password rule; the page shows it as it is.
  const rule = el("span", {}, "New password");
  api("/api/auth/status").then((s) => { rule.textContent = `New password (${s.password_min_length} characters or more)`; }, () => {});
  const password = el("form.form", { on: { submit: async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    if (f.new.value !== f.repeat.value) { toast("The two new passwords differ", "error"); return; }
    const done = await act(e.submitter, () => api("/api/security/password", { method: "POST", body: { current: f.current.value, new: f.new.value } }));
    if (done) e.target.reset();
  } } },
  el("label", {}, "Current password", el("input", { name: "current", type: "password", autocomplete: "current-password" })),
  el("label", {}, rule, el("input", { name: "new", type: "password", autocomplete: "new-password" })),
  el("label", {}, "Repeat the new password", el("input", { name: "repeat", type: "password", autocomplete: "new-password" })),
  el("div.row", {}, el("button", { type: "submit" }, "Change the password")));
  return el("div", {},
    auth === "none" ? el("div.banner.danger", {}, "Login is off: anyone on your network can use Cacherr. Set Auth to forms below and save.") : null,
    el("fieldset", {}, el("legend", {}, "API key"),
      el("small.help.muted", {}, "For scripts and the *arr apps: send it as the X-Api-Key header."),
      keyBox,
      el("div.row", {},
        el("button", { type: "button", on: { click: async (e) => {
          const data = await act(e.target, () => api("/api/security/api-key/reveal", { method: "POST" }), () => "");
          if (data) keyBox.replaceChildren(copyable(data.api_key, "API key"));
        } } }, "Reveal"),
        el("button.danger", { type: "button", on: { click: async (e) => {
          if (!(await confirmDialog("Regenerate the API key?", "Scripts and apps using the old key stop working at once.", "Regenerate", true))) return;
          const data = await act(e.target, () => api("/api/security/api-key/regenerate", { method: "POST" }));
          if (data) keyBox.replaceChildren(copyable(data.api_key, "API key"));
        } } }, "Regenerate"))),
    el("fieldset", {}, el("legend", {}, "Webhook URLs"),
      el("small.help.muted", {}, "Paste the Plex one under Plex → Settings → Webhooks (Plex Pass), the Tautulli one in a Tautulli webhook agent. They carry the webhook secret: keep them private."),
      hooks,
      el("button", { type: "button", on: { click: async (e) => {
        const data = await act(e.target, () => api("/api/security/webhook-urls", { method: "POST" }), () => "");
        if (data) hooks.replaceChildren(el("label", {}, "Plex", copyable(data.plex, "Plex webhook URL")), el("label", {}, "Tautulli", copyable(data.tautulli, "Tautulli webhook URL")));
      } } }, "Show the webhook URLs")),
    auth === "forms" ? el("fieldset", {}, el("legend", {}, "Password"), password) : null);
}
