// Shared by /console and /play: the admin token, the API, DOM helpers (text only: guest and
// server data are always set as textContent, never parsed as markup), the runtime loader.

const TOKEN_KEY = "palisade.admin-token";

export const adminToken = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || "",
  set: (t) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** `el("td", {class: "x"}, "text", child)`: children are nodes or plain text. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** A JSON API call; throws an Error with the server's code and message on failure. */
export async function api(path, { method = "GET", body, token = adminToken.get(), raw = false } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let payload = body;
  if (body !== undefined && !(body instanceof Uint8Array) && !(body instanceof ArrayBuffer)) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload });
  if (raw) return response;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const e = json && json.error ? json.error : { code: `http_${response.status}`, message: text };
    const err = new Error(`${e.code}: ${e.message}`);
    err.code = e.code;
    throw err;
  }
  return json;
}

export const short = (digest) => (digest ? digest.slice(0, 12) : "–");

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function sha256hex(bytes) {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

/** The runtime module's hashed URL, written into the page by the server. */
export function runtimeUrl() {
  const meta = document.querySelector('meta[name="palisade-runtime"]');
  return meta ? meta.content : "";
}

/** Prefetch the runtime while the browser is idle (pages that lead to /play). */
export function prefetchRuntimeWhenIdle() {
  const go = () => {
    const link = el("link", { rel: "prefetch", href: runtimeUrl(), as: "fetch", crossorigin: "anonymous" });
    document.head.append(link);
  };
  if ("requestIdleCallback" in window) requestIdleCallback(go, { timeout: 3000 });
  else setTimeout(go, 1000);
}

let runtime = null;

/**
 * Loads the runtime on first use, in a worker. Resolves to `{run(spec), readyMs}`;
 * `onLog(level, line)` receives guest log lines as they are written.
 */
export function loadRuntime(onLog) {
  if (runtime) return runtime;
  runtime = new Promise((resolve, reject) => {
    const worker = new Worker("/web/worker.js");
    const pending = new Map();
    let nextId = 1;
    worker.onmessage = (event) => {
      const m = event.data;
      if (m.type === "ready") {
        const readyMs = performance.now();
        resolve({
          readyMs,
          compileMs: m.ms,
          run(spec) {
            const id = nextId++;
            return new Promise((res, rej) => {
              pending.set(id, { res, rej });
              worker.postMessage({ type: "run", id, ...spec });
            });
          },
        });
      } else if (m.type === "log") {
        if (onLog) onLog(m.level, m.line);
      } else if (m.type === "result") {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (p) p.res(m);
      } else if (m.type === "error") {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (p) p.rej(new Error(m.error));
        else reject(new Error(m.error));
      }
    };
    worker.onerror = (e) => reject(new Error(e.message || "the runtime worker failed"));
    worker.postMessage({ type: "init", url: runtimeUrl() });
  });
  return runtime;
}
