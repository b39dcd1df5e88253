// Live updates over Socket.IO (the vendored client): a `status` snapshot, then every event.

const handlers = new Map();
let socket = null;
export const snapshot = { data: null };

/** Call `fn(data, event)` for every event named `name` ("*" for all). Returns an unsubscribe. */
export function on(name, fn) {
  if (!handlers.has(name)) handlers.set(name, new Set());
  handlers.get(name).add(fn);
  return () => handlers.get(name).delete(fn);
}

function dispatch(name, body) {
  const data = body && body.data !== undefined ? body.data : body;
  for (const key of [name, "*"]) {
    for (const fn of handlers.get(key) || []) {
      try { fn(data, body, name); } catch (err) { console.error("live handler", name, err); }
    }
  }
}

export function connect() {
  if (socket || typeof window.io !== "function") return;
  const dot = document.getElementById("live");
  socket = window.io({ path: "/socket.io", transports: ["websocket", "polling"] });
  socket.on("connect", () => { dot.classList.add("on"); dot.title = "Live updates: connected"; });
  socket.on("disconnect", () => { dot.classList.remove("on"); dot.title = "Live updates: reconnecting…"; });
  socket.on("connect_error", () => { dot.classList.remove("on"); dot.title = "Live updates: cannot connect"; });
  socket.on("status", (body) => { snapshot.data = body.data; dispatch("status", body); });
  socket.onAny((name, body) => { if (name !== "status") dispatch(name, body); });
}

export function disconnect() {
  if (socket) { socket.disconnect(); socket = null; }
}
