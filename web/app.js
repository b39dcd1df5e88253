"use strict";
// Cacherr's page: talks only to the REST API (and Socket.IO once connected).

async function api(path) {
  const res = await fetch(path, { credentials: "same-origin" });
  const body = await res.json();
  if (!body.success) throw new Error(body.message || res.statusText);
  return body.data;
}

function showHealth(health) {
  const dl = document.getElementById("health");
  const rows = [
    ["Status", health.status],
    ["Database", health.database.ok ? "ok" : "not answering"],
    ["Plex", health.plex.state + (health.plex.message ? ": " + health.plex.message : "")],
    ["Uptime", Math.round(health.uptime_s) + " s"],
  ];
  dl.replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    return [dt, dd];
  }));
  document.getElementById("version").textContent = "v" + health.version;
}

async function refresh() {
  try { showHealth(await api("/api/health")); }
  catch (err) { document.getElementById("health").textContent = "Cannot reach Cacherr: " + err.message; }
}

refresh();
setInterval(refresh, 5000);
