// /play: fetch a version's module by digest, check its SHA-256, run it in this page with the
// tenant's limits and grants, and show the result next to the server's for the same input.
import { adminToken, api, el, hex, loadRuntime, sha256hex, short } from "/web/common.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let plugins = [];
let tenants = [];

function status(text) {
  $("runtime-status").textContent = `runtime: ${text}`;
}

function appendLog(level, line) {
  const names = ["error", "warn", "info", "debug", "trace"];
  const li = el("li", { class: `lvl-${names[level] || "info"}` }, line);
  $("log").append(li);
  while ($("log").children.length > 200) $("log").firstChild.remove();
}

// The runtime loads on first use: this page is that use, so start now, after first paint.
const runtimePromise = new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0))).then(() => {
  status("loading…");
  return loadRuntime(appendLog);
});
runtimePromise.then(
  (rt) => {
    status(`ready in ${Math.round(rt.readyMs)} ms`);
    window.palisadeTimings.runtimeReady = rt.readyMs;
    window.palisadeTimings.runtimeCompile = rt.compileMs;
    document.body.dataset.runtime = "ready";
    showTimings();
  },
  (e) => {
    status(`failed: ${e.message}`);
    document.body.dataset.runtime = "failed";
  },
);

window.palisadeTimings = {};
function showTimings() {
  for (const p of performance.getEntriesByType("paint")) window.palisadeTimings[p.name] = p.startTime;
  const t = window.palisadeTimings;
  const f = (v) => (v === undefined ? "–" : `${Math.round(v)} ms`);
  $("timings").textContent =
    `first paint ${f(t["first-paint"])} · first contentful paint ${f(t["first-contentful-paint"])} · runtime ready ${f(t.runtimeReady)}`;
}

$("ping").addEventListener("click", () => {
  $("pings").textContent = String(Number($("pings").textContent) + 1);
});

function parseInput() {
  const kind = $("input-kind").value;
  const text = $("input").value;
  if (kind === "text") return new TextEncoder().encode(text);
  if (kind === "hex") {
    const clean = text.replace(/\s+/g, "");
    if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new Error("hex input: an even number of hex digits");
    return Uint8Array.from(clean.match(/../g) || [], (b) => parseInt(b, 16));
  }
  const nums = text.split(/[\s,]+/).filter(Boolean).map(Number);
  if (nums.some((n) => !Number.isInteger(n) || n < -2147483648 || n > 2147483647)) {
    throw new Error("i32 input: integers between -2147483648 and 2147483647");
  }
  const out = new Uint8Array(nums.length * 4);
  const view = new DataView(out.buffer);
  nums.forEach((n, i) => view.setInt32(i * 4, n, true));
  return out;
}

function fillVersions() {
  const p = plugins.find((x) => x.name === $("plugin").value);
  const select = $("version");
  select.replaceChildren();
  if (!p) return;
  for (const v of p.versions) {
    const tags = [];
    if (p.active && p.active.digest === v.digest) tags.push("active");
    if (p.canary && p.canary.digest === v.digest) tags.push("canary");
    const label = `${v.version} · ${short(v.digest)}${tags.length ? ` (${tags.join(", ")})` : ""}`;
    select.append(el("option", { value: v.digest }, label));
  }
  const want = params.get("digest") || (p.active && p.active.digest);
  if (want && p.versions.some((v) => v.digest === want)) select.value = want;
  $("digest").value = select.value;
}

function tenantIdOf(token) {
  const m = /^pt_([^.]+)\./.exec(token);
  return m ? m[1] : "";
}

function applyTenant() {
  const id = tenantIdOf($("tenant-token").value.trim());
  const t = tenants.find((x) => x.id === id);
  if (!t) return;
  const l = t.config.limits;
  $("fuel").value = l.fuel;
  $("memory").value = l.memory_bytes;
  $("deadline").value = l.deadline_ms;
  $("grants").value = t.config.grants.join(" ");
  $("limits-source").textContent = `Limits and grants: tenant ${id}'s, as the server holds them.`;
  currentLimits = l;
}
let currentLimits = null;

async function loadLists() {
  if (!adminToken.get()) return;
  try {
    plugins = (await api("/v1/admin/plugins")).plugins;
    tenants = (await api("/v1/admin/tenants")).tenants;
  } catch {
    return;
  }
  const select = $("plugin");
  select.replaceChildren(...plugins.map((p) => el("option", { value: p.name }, p.name)));
  if (params.get("plugin")) select.value = params.get("plugin");
  fillVersions();
  applyTenant();
}

$("plugin").addEventListener("change", fillVersions);
$("version").addEventListener("change", () => {
  $("digest").value = $("version").value;
});
$("tenant-token").addEventListener("change", applyTenant);
$("input-kind").addEventListener("change", () => {
  if ($("input-kind").value === "i32" && !$("input").value) $("input").value = "18000";
});

function limits() {
  const base = currentLimits || {
    output_bytes: 1 << 20,
    log_bytes: 4 << 10,
    kv_value_bytes: 64 << 10,
    kv_write_bytes: 256 << 10,
  };
  return {
    fuel: Number($("fuel").value),
    memory_bytes: Number($("memory").value),
    deadline_ms: Number($("deadline").value),
    output_bytes: base.output_bytes,
    log_bytes: base.log_bytes,
    kv_value_bytes: base.kv_value_bytes,
    kv_write_bytes: base.kv_write_bytes,
  };
}

function showOutput(bytes) {
  if (!bytes) return "–";
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  // Shown as text (textContent): control characters are made visible, not interpreted.
  const printable = text.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return `${hex(bytes) || "(empty)"}  ${bytes.length ? `“${printable}”` : ""}`;
}

function render(local, server) {
  const rows = [
    ["outcome", local.report.outcome, server ? server.outcome : "–"],
    ["output", showOutput(local.output), server ? showOutput(server.output) : "–"],
    ["error", local.report.error || "–", server ? server.error || "–" : "–"],
    ["fuel", local.report.fuel, server ? server.fuel : "–"],
    ["time", `${(local.report.time_us / 1000).toFixed(2)} ms`, server && server.time_us !== null ? `${(server.time_us / 1000).toFixed(2)} ms` : "–"],
    ["memory", `${local.report.memory} B`, server && server.memory !== null ? `${server.memory} B` : "–"],
    ["digest", short(local.report.digest), server ? short(server.digest) : "–"],
  ];
  $("results").tBodies[0].replaceChildren(
    ...rows.map(([k, a, b]) => el("tr", { "data-row": k }, el("th", {}, k), el("td", { class: "local" }, String(a)), el("td", { class: "server" }, String(b)))),
  );
  let verdict = "";
  if (server) {
    const same = local.report.outcome === server.outcome && hex(local.output) === hex(server.output);
    verdict = same ? "Same outcome and output in the page and on the server." : "The page and the server disagree.";
    if (server.digest && server.digest !== local.report.digest) {
      verdict += ` The server ran ${short(server.digest)} (the plugin's active or canary version), not the version picked here.`;
    }
    document.body.dataset.match = same ? "yes" : "no";
  }
  $("verdict").textContent = verdict;
}

async function runOnServer(plugin, entry, input) {
  const token = $("tenant-token").value.trim();
  if (!plugin || !token) return null;
  const response = await api(`/v1/plugins/${encodeURIComponent(plugin)}/${encodeURIComponent(entry)}`, {
    method: "POST",
    body: input,
    token,
    raw: true,
  });
  const h = (n) => response.headers.get(n);
  const num = (n) => (h(n) === null ? null : Number(h(n)));
  const body = new Uint8Array(await response.arrayBuffer());
  let error = null;
  let output = body;
  if (!response.ok) {
    output = new Uint8Array();
    try {
      error = JSON.parse(new TextDecoder().decode(body)).error.message;
    } catch {
      error = `HTTP ${response.status}`;
    }
  }
  return {
    outcome: h("x-palisade-outcome") || `http_${response.status}`,
    output,
    error,
    fuel: num("x-palisade-fuel") ?? "–",
    time_us: num("x-palisade-time-us"),
    memory: num("x-palisade-memory"),
    digest: h("x-palisade-digest"),
  };
}

$("run-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("run-error").textContent = "";
  document.body.dataset.state = "running";
  $("run").disabled = true;
  try {
    const digest = $("digest").value.trim().toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(digest)) throw new Error("pick a version or type a digest (64 hex digits)");
    const input = parseInput();
    const entry = $("entry").value.trim();
    const tenantToken = $("tenant-token").value.trim();
    const moduleResponse = await api(`/v1/modules/${digest}`, { token: tenantToken || adminToken.get(), raw: true });
    if (!moduleResponse.ok) throw new Error(`module download failed: HTTP ${moduleResponse.status}`);
    const module = new Uint8Array(await moduleResponse.arrayBuffer());
    const actual = await sha256hex(module);
    if (actual !== digest) throw new Error(`digest check failed: the module's SHA-256 is ${actual}, not ${digest}; not running it`);
    const rt = await runtimePromise;
    const plugin = $("plugin").value;
    const [local, server] = await Promise.all([
      rt.run({
        module,
        entry,
        input,
        tenant: tenantIdOf(tenantToken) || "play",
        grants: $("grants").value.split(/\s+/).filter(Boolean),
        limits: limits(),
      }),
      runOnServer(plugin, entry, input),
    ]);
    render(local, server);
    document.body.dataset.state = "done";
  } catch (e) {
    $("run-error").textContent = e.message;
    document.body.dataset.state = "error";
  } finally {
    $("run").disabled = false;
  }
});

addEventListener("load", () => setTimeout(showTimings, 0));
if (params.get("digest")) $("digest").value = params.get("digest");
loadLists();
