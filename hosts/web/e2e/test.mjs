// Drives Debian's Chromium (playwright-core, executablePath /usr/bin/chromium) against a
// palisade-server on loopback started by run.sh. Every check throws on failure.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const BASE = process.env.PALISADE_URL;
const ADMIN = process.env.PALISADE_ADMIN_TOKEN;
const FIXTURES = process.env.PALISADE_FIXTURES;
const SHOTS = process.env.PALISADE_E2E_SHOTS; // a directory: save the pages' screenshots there
const EXECUTABLE = process.env.CHROMIUM || "/usr/bin/chromium";
assert.ok(BASE && ADMIN && FIXTURES, "run through run.sh (PALISADE_URL, PALISADE_ADMIN_TOKEN, PALISADE_FIXTURES)");
if (!existsSync(EXECUTABLE)) throw new Error(`no browser at ${EXECUTABLE}: install Debian's chromium (scripts/setup.sh need_browser)`);

const started = Date.now();
const step = (name) => console.log(`  · ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);

async function adminApi(path, method = "GET", body) {
  const r = await fetch(BASE + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
const plugin = async (name) => { const r = await adminApi(`/v1/admin/plugins/${name}`); return r.plugins ? r.plugins[0] : r; };

const browser = await chromium.launch({
  executablePath: EXECUTABLE,
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(e.message));
const figures = {};

try {
  // ---- console: log in, upload, promote, canary, roll back -------------------------------
  const requested = [];
  page.on("request", (r) => requested.push(r.url()));
  await page.goto(`${BASE}/console`);
  step("console loaded");
  await page.fill("#admin-token", "pa_wrong");
  await page.click("#login-form button");
  await page.waitForSelector("#login-error:not(:empty)");
  await page.fill("#admin-token", ADMIN);
  await page.click("#login-form button");
  await page.waitForSelector("#app:not([hidden])");
  step("logged in");

  async function upload(name, version) {
    await page.fill("#upload-plugin", name);
    await page.setInputFiles("#upload-file", join(FIXTURES, `${name}-${version}.bundle`));
    await page.click("#upload-form button");
    await page.waitForFunction(
      (v) => document.querySelector("#upload-result").textContent.includes(`uploaded`) &&
        document.querySelector("#upload-result").textContent.includes(v),
      version,
    );
  }
  const card = (name) => `article[data-plugin="${name}"]`;
  const field = (name, f) => page.textContent(`${card(name)} dd[data-field="${f}"]`);

  await upload("thermostat", "1.0.0");
  await page.click(`${card("thermostat")} tr[data-version="1.0.0"] button.promote`);
  await page.waitForFunction(() => document.querySelector('article[data-plugin="thermostat"] dd[data-field="active"]')?.textContent.startsWith("1.0.0"));
  assert.equal((await plugin("thermostat")).active.version, "1.0.0");
  await upload("thermostat", "1.1.0");
  step("uploaded and promoted thermostat 1.0.0, uploaded 1.1.0");

  await page.selectOption(`${card("thermostat")} select.canary-version`, "1.1.0");
  await page.fill(`${card("thermostat")} input.canary-fraction`, "25");
  await page.click(`${card("thermostat")} button.set-canary`);
  await page.waitForFunction(() => /1\.1\.0.*25 %/.test(document.querySelector('article[data-plugin="thermostat"] dd[data-field="canary"]')?.textContent || ""));
  let state = await plugin("thermostat");
  assert.equal(state.canary.version, "1.1.0");
  assert.equal(state.canary.fraction, 0.25);
  step("canary 1.1.0 at 25 %");

  await page.click(`${card("thermostat")} button.clear-canary`);
  await page.waitForFunction(() => document.querySelector('article[data-plugin="thermostat"] dd[data-field="canary"]')?.textContent === "–");
  await page.click(`${card("thermostat")} tr[data-version="1.1.0"] button.promote`);
  await page.waitForFunction(() => document.querySelector('article[data-plugin="thermostat"] dd[data-field="active"]')?.textContent.startsWith("1.1.0"));
  assert.match(await field("thermostat", "previous"), /^1\.0\.0/);
  await page.click(`${card("thermostat")} button.rollback`);
  await page.waitForFunction(() => document.querySelector('article[data-plugin="thermostat"] dd[data-field="active"]')?.textContent.startsWith("1.0.0"));
  state = await plugin("thermostat");
  assert.equal(state.active.version, "1.0.0");
  assert.equal(state.canary, null);
  step("cleared the canary, promoted 1.1.0, rolled back to 1.0.0");

  await upload("loop", "1.0.0");
  await page.click(`${card("loop")} tr[data-version="1.0.0"] button.promote`);
  await page.waitForFunction(() => document.querySelector('article[data-plugin="loop"] dd[data-field="active"]')?.textContent.startsWith("1.0.0"));

  // The console leads to /play: it prefetched the runtime while idle.
  const runtimePath = await page.getAttribute('meta[name="palisade-runtime"]', "content");
  assert.match(runtimePath, /^\/web\/palisade-web\.[0-9a-f]{16}\.wasm$/);
  await page.waitForFunction(() => !!document.querySelector('link[rel="prefetch"]'));
  await page.waitForTimeout(300);
  assert.ok(requested.some((u) => u.endsWith(runtimePath)), "the console prefetches the runtime when idle");

  // Two tenants that may call both: `traffic` for the charts, `web` for /play (its KV state
  // starts empty on the server as in the page, so the thermostat decides the same in both).
  const tenant = async (id) => (await adminApi(`/v1/admin/tenants/${id}`, "PUT", {
    grants: ["log", "kv.read", "kv.write"],
    plugins: ["thermostat", "loop"],
    limits: { fuel: 2000000, deadline_ms: 5000 },
  })).token;
  const token = await tenant("web");
  const trafficToken = await tenant("traffic");
  const invoke = (name, entry, bytes) =>
    fetch(`${BASE}/v1/plugins/${name}/${entry}`, { method: "POST", headers: { authorization: `Bearer ${trafficToken}` }, body: bytes });
  const i32 = (n) => { const b = Buffer.alloc(4); b.writeInt32LE(n); return b; };
  for (let round = 0; round < 3; round++) {
    for (const t of [18000, 21000, 25000, 40000]) await (await invoke("thermostat", "decide", i32(t))).arrayBuffer();
    await (await invoke("thermostat", "decide", Buffer.from("x"))).arrayBuffer();
    await page.waitForTimeout(2100);
  }
  await page.waitForSelector(`${card("thermostat")} svg.outcomes text[data-outcome="ok"]`);
  await page.waitForSelector(`${card("thermostat")} svg.latency path.line.p99`);
  assert.match(await page.textContent(`${card("thermostat")} svg.outcomes text[data-outcome="ok"]`), /^ok 12$/);
  assert.match(await page.textContent(`${card("thermostat")} svg.outcomes text[data-outcome="guest_error"]`), /^guest_error 3$/);
  step("charts show calls by outcome and latency");
  if (SHOTS) await page.screenshot({ path: join(SHOTS, "console.png"), fullPage: true });

  // ---- play: the thermostat ----------------------------------------------------------------
  // Cold: a new browser context (empty HTTP cache) opens /play directly.
  const cold = await (await browser.newContext()).newPage();
  cold.on("pageerror", (e) => pageErrors.push(e.message));
  const loadTimings = async (p) => {
    await p.waitForSelector("body[data-runtime=ready]", { timeout: 30000 });
    return p.evaluate(() => {
      const t = { ...window.palisadeTimings };
      for (const e of performance.getEntriesByType("paint")) t[e.name] = e.startTime;
      return t;
    });
  };
  await cold.goto(`${BASE}/play`);
  const coldT = await loadTimings(cold);
  await cold.context().close();
  figures.cold = { firstPaintMs: Math.round(coldT["first-paint"]), firstContentfulPaintMs: Math.round(coldT["first-contentful-paint"]), runtimeReadyMs: Math.round(coldT.runtimeReady) };
  assert.ok(coldT["first-paint"] < coldT.runtimeReady, "the shell paints before the runtime is ready");
  step(`play, cold cache: first paint ${figures.cold.firstPaintMs} ms, runtime ready ${figures.cold.runtimeReadyMs} ms`);

  // Warm: the console's tab goes on to /play (the admin token is in this tab's sessionStorage,
  // the runtime in the HTTP cache from the console's prefetch).
  const play = page;
  await play.goto(`${BASE}/play?plugin=thermostat`);
  const warmT = await loadTimings(play);
  figures.afterConsole = { firstPaintMs: Math.round(warmT["first-paint"]), firstContentfulPaintMs: Math.round(warmT["first-contentful-paint"]), runtimeReadyMs: Math.round(warmT.runtimeReady) };
  step(`play, after the console's prefetch: first paint ${figures.afterConsole.firstPaintMs} ms, runtime ready ${figures.afterConsole.runtimeReadyMs} ms`);

  await play.waitForFunction(() => document.querySelector("#plugin").value === "thermostat" && /^[0-9a-f]{64}$/.test(document.querySelector("#digest").value));
  await play.fill("#tenant-token", token);
  await play.dispatchEvent("#tenant-token", "change");
  assert.equal(await play.inputValue("#fuel"), "2000000");
  assert.equal(await play.inputValue("#deadline"), "5000");

  async function runPlay(expectState = "done") {
    await play.evaluate(() => { document.body.dataset.state = ""; });
    await play.click("#run");
    await play.waitForFunction((s) => document.body.dataset.state === s, expectState, { timeout: 30000 });
    const cell = (row, side) => play.textContent(`#results tr[data-row="${row}"] td.${side}`);
    const r = {};
    for (const row of ["outcome", "output", "error", "fuel", "digest"]) r[row] = [await cell(row, "local"), await cell(row, "server")];
    return r;
  }

  await play.selectOption("#input-kind", "i32");
  // 18 °C from idle: heat (01); then the state kept in each side's KV decides alike.
  for (const [t, flags] of [[18000, "01"], [20000, null], [23000, null], [40000, null]]) {
    await play.fill("#input", String(t));
    const r = await runPlay();
    assert.deepEqual(r.outcome, ["ok", "ok"], `thermostat ${t}`);
    assert.equal(r.output[0], r.output[1], `thermostat ${t}: same output`);
    if (flags) assert.ok(r.output[0].startsWith(flags), `thermostat ${t}: flags ${flags}, got ${r.output[0]}`);
    assert.equal(r.digest[0], r.digest[1]);
    assert.equal(await play.getAttribute("body", "data-match"), "yes");
  }
  await play.selectOption("#input-kind", "text");
  await play.fill("#input", "<img src=x onerror=alert(1)>");
  let r = await runPlay();
  assert.deepEqual(r.outcome, ["guest_error", "guest_error"]);
  assert.equal(await play.locator("#results img").count(), 0, "guest and server text is shown as text");
  step("thermostat: same outcomes and outputs in the page and on the server");
  const logLines = await play.locator("#log li").count();
  assert.ok(logLines > 0, "guest log lines reach the page's log panel");

  // Digest check: a module whose bytes do not match the digest asked for is never run.
  await play.fill("#digest", "0".repeat(64));
  await runPlay("error");
  assert.match(await play.textContent("#run-error"), /module download failed|digest check failed/);

  // ---- play: the hostile loop ----------------------------------------------------------------
  await play.selectOption("#plugin", "loop");
  await play.fill("#entry", "run");
  await play.fill("#input", "");
  r = await runPlay();
  assert.deepEqual(r.outcome, ["out_of_fuel", "out_of_fuel"], "the loop ends at its fuel budget in both");
  assert.equal(r.fuel[0], r.fuel[1], "the same fuel in the page and on the server");
  step("loop: out_of_fuel in both, same fuel");

  // With fuel to spare the deadline stops it; the page stays responsive meanwhile.
  await adminApi("/v1/admin/tenants/web", "PUT", { limits: { fuel: 1000000000000, deadline_ms: 1500 } });
  await play.reload();
  await play.waitForSelector("body[data-runtime=ready]");
  await play.waitForFunction(() => document.querySelector("#plugin").value !== "");
  await play.selectOption("#plugin", "loop");
  await play.fill("#entry", "run");
  await play.selectOption("#input-kind", "text");
  await play.fill("#input", "");
  await play.fill("#tenant-token", token);
  await play.dispatchEvent("#tenant-token", "change");
  assert.equal(await play.inputValue("#deadline"), "1500");
  await play.evaluate(() => { document.body.dataset.state = ""; });
  const t0 = Date.now();
  await play.click("#run");
  await play.waitForFunction(() => document.body.dataset.state === "running");
  for (let i = 0; i < 5; i++) await play.click("#ping", { timeout: 500 });
  const pingsWhileRunning = Number(await play.textContent("#pings"));
  const stillRunning = await play.evaluate(() => document.body.dataset.state === "running");
  const frameGap = await play.evaluate(() => new Promise((res) => { const a = performance.now(); requestAnimationFrame(() => res(performance.now() - a)); }));
  assert.equal(pingsWhileRunning, 5, "the page answers clicks while the guest loops");
  assert.ok(stillRunning, "the clicks landed while the guest was running");
  assert.ok(frameGap < 250, `the page keeps painting (a frame after ${frameGap.toFixed(0)} ms)`);
  await play.waitForFunction(() => document.body.dataset.state === "done", null, { timeout: 30000 });
  const cell = (row, side) => play.textContent(`#results tr[data-row="${row}"] td.${side}`);
  assert.equal(await cell("outcome", "local"), "deadline_exceeded");
  assert.equal(await cell("outcome", "server"), "deadline_exceeded");
  step(`loop: deadline_exceeded in both after ${Date.now() - t0} ms, page responsive`);

  // Put the thermostat back for the screenshot. The reload gave the page a new worker with an
  // empty KV: empty the server's too (the thermostat keeps its state under `thermostat`).
  await adminApi("/v1/admin/tenants/web", "PUT", { limits: { fuel: 2000000, deadline_ms: 5000 } });
  const del = await fetch(`${BASE}/v1/kv/thermostat`, { method: "DELETE", headers: { authorization: `Bearer ${token}` } });
  assert.equal(del.status, 204);
  await play.reload();
  await play.waitForSelector("body[data-runtime=ready]");
  await play.waitForFunction(() => document.querySelector("#plugin").value === "thermostat");
  await play.fill("#tenant-token", token);
  await play.dispatchEvent("#tenant-token", "change");
  await play.selectOption("#input-kind", "i32");
  await play.fill("#input", "18000");
  r = await runPlay();
  assert.deepEqual(r.outcome, ["ok", "ok"]);
  assert.equal(r.output[0], r.output[1]);
  if (SHOTS) await play.screenshot({ path: join(SHOTS, "play.png"), fullPage: true });

  // ---- delivery headers ------------------------------------------------------------------------
  const get = (path, encoding) => fetch(BASE + path, { headers: { "accept-encoding": encoding } });
  const sizes = {};
  for (const [encoding, expected] of [["br, gzip", "br"], ["gzip", "gzip"], ["identity", null]]) {
    const res = await get(runtimePath, encoding);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.equal(res.headers.get("vary"), "Accept-Encoding");
    assert.equal(res.headers.get("content-type"), "application/wasm");
    assert.equal(res.headers.get("content-encoding"), expected);
    sizes[expected || "raw"] = Number(res.headers.get("content-length"));
  }
  const again = await fetch(BASE + runtimePath, { headers: { "if-none-match": (await get(runtimePath, "br")).headers.get("etag") } });
  assert.equal(again.status, 304);
  for (const path of ["/play", "/console"]) {
    const res = await fetch(BASE + path);
    assert.equal(res.headers.get("cache-control"), "no-cache");
    assert.match(res.headers.get("content-type"), /^text\/html/);
  }
  // The browser's own request, as the page made it.
  const seen = await play.evaluate((p) => performance.getEntriesByName(location.origin + p).map((e) => e.encodedBodySize), runtimePath);
  figures.runtimeBytes = sizes;
  step(`runtime: raw ${sizes.raw} B, gzip ${sizes.gzip} B, brotli ${sizes.br} B (the page transferred ${seen.join(", ") || "from cache"})`);

  assert.deepEqual(pageErrors, [], "no uncaught errors in the pages");
  console.log(`browser tests passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`figures ${JSON.stringify(figures)}`);
} finally {
  await browser.close();
}
