// /console: log in with the admin token, upload, promote, canary, rollback, and per-plugin
// charts of calls by outcome and p50/p99 latency drawn from /metrics (SVG drawn here).
import { adminToken, api, el, prefetchRuntimeWhenIdle, short } from "/web/common.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const POLL_MS = 2000;
const HISTORY = 60;
const OUTCOME_COLORS = {
  ok: "#2e7d32", guest_error: "#f9a825", trap: "#c62828", out_of_fuel: "#6a1b9a",
  deadline_exceeded: "#ad1457", memory_cap: "#4527a0", bad_output: "#8d6e63",
};
const colorOf = (o) => OUTCOME_COLORS[o] || "#546e7a";

// This page leads to /play: fetch the runtime while the browser has nothing else to do.
prefetchRuntimeWhenIdle();

let plugins = [];
let history = []; // [{t, byPlugin: {name: {outcomes: {o: n}, p50, p99}}}]
let previous = null; // the last raw sample, for deltas
let pollTimer = null;

function showError(id, e) {
  $(id).textContent = e ? e.message || String(e) : "";
}

async function login(token) {
  adminToken.set(token);
  try {
    await refresh();
  } catch (e) {
    adminToken.clear();
    throw e;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("session").replaceChildren("logged in · ", el("button", { type: "button", id: "logout", onclick: logout }, "Log out"));
  document.body.dataset.session = "in";
  poll();
}

function logout() {
  adminToken.clear();
  clearTimeout(pollTimer);
  location.reload();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("login-error");
  try {
    await login($("admin-token").value.trim());
  } catch (e) {
    showError("login-error", e);
  }
});

$("refresh").addEventListener("click", () => refresh().catch((e) => showError("action-error", e)));

$("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const plugin = $("upload-plugin").value.trim();
  const file = $("upload-file").files[0];
  const version = $("upload-version").value.trim();
  $("upload-result").textContent = "uploading…";
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const q = version ? `?version=${encodeURIComponent(version)}` : "";
    const r = await api(`/v1/admin/plugins/${encodeURIComponent(plugin)}/versions${q}`, { method: "POST", body: bytes });
    $("upload-result").textContent = `uploaded ${r.plugin} ${r.version} · ${short(r.digest)} · ${r.size} bytes`;
    await refresh();
  } catch (e) {
    $("upload-result").textContent = e.message;
  }
});

async function act(path, method, body) {
  showError("action-error");
  try {
    await api(path, { method, body });
    await refresh();
  } catch (e) {
    showError("action-error", e);
  }
}

async function refresh() {
  plugins = (await api("/v1/admin/plugins")).plugins;
  render();
}

function versionLabel(ref) {
  return ref ? `${ref.version ?? "?"} · ${short(ref.digest)}` : "–";
}

function render() {
  const container = $("plugins");
  if (!plugins.length) {
    container.replaceChildren(el("p", { class: "hint" }, "No plugins yet: upload a version above."));
    return;
  }
  container.replaceChildren(...plugins.map(renderPlugin));
  drawCharts();
}

function renderPlugin(p) {
  const path = `/v1/admin/plugins/${encodeURIComponent(p.name)}`;
  const state = el(
    "dl",
    { class: "state" },
    el("dt", {}, "active"), el("dd", { "data-field": "active" }, versionLabel(p.active)),
    el("dt", {}, "previous"), el("dd", { "data-field": "previous" }, p.previous.length ? p.previous.map(versionLabel).join(", ") : "–"),
    el("dt", {}, "canary"),
    el("dd", { "data-field": "canary" }, p.canary ? `${versionLabel(p.canary)} · ${Math.round(p.canary.fraction * 1000) / 10} %` : "–"),
  );
  const rows = p.versions.map((v) => {
    const isActive = p.active && p.active.digest === v.digest;
    return el(
      "tr",
      { "data-version": v.version },
      el("td", {}, v.version),
      el("td", { class: "mono", title: v.digest }, short(v.digest)),
      el("td", {}, (v.capabilities || []).join(" ") || "–"),
      el("td", {}, v.signer ? short(v.signer) : "unsigned"),
      el(
        "td",
        {},
        el("button", { type: "button", class: "promote", disabled: isActive, onclick: () => act(`${path}/promote`, "POST", { version: v.version }) }, isActive ? "active" : "Promote"),
        " ",
        el("a", { href: `/play?plugin=${encodeURIComponent(p.name)}&digest=${v.digest}` }, "Play"),
      ),
    );
  });
  const versions = el(
    "table",
    { class: "versions" },
    el("thead", {}, el("tr", {}, el("th", {}, "version"), el("th", {}, "digest"), el("th", {}, "capabilities"), el("th", {}, "signer"), el("th", {}, ""))),
    el("tbody", {}, rows),
  );
  const canaryVersion = el("select", { class: "canary-version", "aria-label": "canary version" }, p.versions.map((v) => el("option", { value: v.version }, v.version)));
  if (p.canary && p.canary.version) canaryVersion.value = p.canary.version;
  else if (p.versions.length) canaryVersion.value = p.versions[p.versions.length - 1].version;
  const initial = p.canary ? Math.round(p.canary.fraction * 100) : 10;
  const shown = el("output", {}, `${initial} %`);
  const slider = el("input", {
    type: "range", min: 0, max: 100, step: 1, value: initial, class: "canary-fraction", "aria-label": "canary fraction",
    oninput: (e) => { shown.textContent = `${e.target.value} %`; },
  });
  const canary = el(
    "div",
    { class: "row" },
    el("label", {}, "Canary ", canaryVersion),
    el("label", { class: "grow" }, slider, " ", shown),
    el("button", { type: "button", class: "set-canary", onclick: () => act(`${path}/canary`, "PUT", { version: canaryVersion.value, fraction: Number(slider.value) / 100 }) }, "Set canary"),
    el("button", { type: "button", class: "clear-canary", disabled: !p.canary, onclick: () => act(`${path}/canary`, "DELETE") }, "Clear canary"),
    el("button", { type: "button", class: "rollback danger", disabled: !p.previous.length, onclick: () => act(`${path}/rollback`, "POST") }, "Roll back"),
  );
  const charts = el(
    "div",
    { class: "charts" },
    el("figure", {}, el("figcaption", {}, "calls by outcome (per 2 s)"), svgBox("outcomes", p.name)),
    el("figure", {}, el("figcaption", {}, "latency p50 / p99 (µs, bucket bounds)"), svgBox("latency", p.name)),
  );
  return el("article", { class: "plugin", "data-plugin": p.name }, el("h3", {}, p.name), state, versions, canary, charts);
}

function svgBox(kind, plugin) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 360 140");
  svg.setAttribute("class", `chart ${kind}`);
  svg.dataset.plugin = plugin;
  svg.dataset.kind = kind;
  svg.setAttribute("role", "img");
  return svg;
}

function svgEl(tag, attrs, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

// ---- metrics ---------------------------------------------------------------------------

function labelsOf(s) {
  const out = {};
  for (const m of s.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) out[m[1]] = m[2].replace(/\\(.)/g, "$1");
  return out;
}

/** {plugin: {outcomes: {o: total}, buckets: {le: cumulative}}} from the Prometheus text. */
function parseMetrics(text) {
  const out = {};
  const entry = (p) => (out[p] ||= { outcomes: {}, buckets: {} });
  for (const line of text.split("\n")) {
    const m = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const [, name, labelText, value] = m;
    const l = labelsOf(labelText);
    if (!l.plugin) continue;
    if (name === "palisade_calls_total") {
      const e = entry(l.plugin);
      e.outcomes[l.outcome] = (e.outcomes[l.outcome] || 0) + Number(value);
    } else if (name === "palisade_call_latency_microseconds_bucket") {
      const e = entry(l.plugin);
      e.buckets[l.le] = (e.buckets[l.le] || 0) + Number(value);
    }
  }
  return out;
}

function quantile(buckets, q) {
  const les = Object.keys(buckets).filter((k) => k !== "+Inf").map(Number).sort((a, b) => a - b);
  const total = buckets["+Inf"] || 0;
  if (total <= 0) return null;
  for (const le of les) if ((buckets[String(le)] || 0) >= q * total) return le;
  return les.length ? les[les.length - 1] : null;
}

async function poll() {
  clearTimeout(pollTimer);
  try {
    const response = await api("/metrics", { raw: true });
    if (response.ok) {
      const sample = parseMetrics(await response.text());
      const point = { t: Date.now(), byPlugin: {} };
      for (const [name, cur] of Object.entries(sample)) {
        const prev = previous && previous[name];
        const outcomes = {};
        for (const [o, n] of Object.entries(cur.outcomes)) outcomes[o] = n - ((prev && prev.outcomes[o]) || 0);
        const buckets = {};
        for (const [le, n] of Object.entries(cur.buckets)) buckets[le] = n - ((prev && prev.buckets[le]) || 0);
        point.byPlugin[name] = { outcomes, p50: quantile(buckets, 0.5), p99: quantile(buckets, 0.99), totals: cur.outcomes };
      }
      previous = sample;
      history.push(point);
      if (history.length > HISTORY) history.shift();
      drawCharts();
    }
  } catch {
    // A failed poll leaves a gap in the charts; the next one tries again.
  }
  pollTimer = setTimeout(poll, POLL_MS);
}

function drawCharts() {
  for (const svg of document.querySelectorAll("svg.chart")) {
    const points = history.map((h) => h.byPlugin[svg.dataset.plugin] || { outcomes: {}, p50: null, p99: null });
    if (svg.dataset.kind === "outcomes") drawOutcomes(svg, points);
    else drawLatency(svg, points);
  }
}

const W = 360, H = 140, PAD = { l: 40, r: 8, t: 8, b: 20 };

function axes(svg, max, unit) {
  svg.append(svgEl("line", { x1: PAD.l, y1: H - PAD.b, x2: W - PAD.r, y2: H - PAD.b, class: "axis" }));
  svg.append(svgEl("line", { x1: PAD.l, y1: PAD.t, x2: PAD.l, y2: H - PAD.b, class: "axis" }));
  svg.append(svgEl("text", { x: PAD.l - 4, y: PAD.t + 8, "text-anchor": "end", class: "tick" }, `${max}${unit}`));
  svg.append(svgEl("text", { x: PAD.l - 4, y: H - PAD.b, "text-anchor": "end", class: "tick" }, "0"));
  svg.append(svgEl("text", { x: W - PAD.r, y: H - 4, "text-anchor": "end", class: "tick" }, "now"));
}

function drawOutcomes(svg, points) {
  svg.replaceChildren();
  const totals = points.map((p) => Object.values(p.outcomes).reduce((a, b) => a + Math.max(0, b), 0));
  const max = Math.max(1, ...totals);
  axes(svg, max, "");
  const slot = (W - PAD.l - PAD.r) / HISTORY;
  const scale = (H - PAD.t - PAD.b) / max;
  const seen = new Set();
  points.forEach((p, i) => {
    let y = H - PAD.b;
    const x = PAD.l + (HISTORY - points.length + i) * slot + 1;
    for (const [o, n] of Object.entries(p.outcomes).sort()) {
      if (n <= 0) continue;
      seen.add(o);
      const h = n * scale;
      y -= h;
      const rect = svgEl("rect", { x, y, width: Math.max(1, slot - 2), height: h, fill: colorOf(o) });
      rect.append(svgEl("title", {}, `${o}: ${n}`));
      svg.append(rect);
    }
  });
  const last = points.length ? points[points.length - 1].totals || {} : {};
  let lx = PAD.l + 4;
  for (const o of [...new Set([...seen, ...Object.keys(last)])].sort()) {
    svg.append(svgEl("rect", { x: lx, y: PAD.t, width: 8, height: 8, fill: colorOf(o) }));
    const label = svgEl("text", { x: lx + 11, y: PAD.t + 8, class: "legend", "data-outcome": o }, `${o} ${last[o] ?? 0}`);
    svg.append(label);
    lx += 14 + label.textContent.length * 5.6;
  }
}

function drawLatency(svg, points) {
  svg.replaceChildren();
  const values = points.flatMap((p) => [p.p50, p.p99]).filter((v) => v !== null);
  const max = Math.max(1, ...values);
  axes(svg, max, " µs");
  const slot = (W - PAD.l - PAD.r) / HISTORY;
  const scale = (H - PAD.t - PAD.b) / max;
  for (const [key, cls] of [["p99", "p99"], ["p50", "p50"]]) {
    let d = "";
    points.forEach((p, i) => {
      if (p[key] === null) return;
      const x = PAD.l + (HISTORY - points.length + i) * slot + slot / 2;
      const y = H - PAD.b - p[key] * scale;
      d += `${d ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
      svg.append(svgEl("circle", { cx: x, cy: y, r: 2, class: cls }));
    });
    if (d) svg.append(svgEl("path", { d, class: `line ${cls}` }));
  }
  svg.append(svgEl("text", { x: PAD.l + 4, y: PAD.t + 8, class: "legend p50" }, "p50"));
  svg.append(svgEl("text", { x: PAD.l + 34, y: PAD.t + 8, class: "legend p99" }, "p99"));
}

if (adminToken.get()) login(adminToken.get()).catch(() => {});
