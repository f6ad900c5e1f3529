// The Palisade runtime's JavaScript side (docs/WEB.md): a dedicated worker, so that a guest
// that loops never blocks the page; the call ends at its fuel or deadline like on the server.
// It imports the page's host services into the runtime (clock, randomness, log lines) and
// moves bytes in and out of its memory through the plain `extern "C"` API of hosts/web.
"use strict";

let exports = null;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

function memory() {
  // Re-read on every use: a memory growth detaches the previous buffer.
  return new Uint8Array(exports.memory.buffer);
}

const imports = {
  env: {
    pw_now_ms: () => performance.now(),
    pw_random(ptr, len) {
      ptr >>>= 0;
      len >>>= 0;
      // getRandomValues fills at most 65,536 bytes per call.
      for (let off = 0; off < len; off += 65536) {
        const n = Math.min(65536, len - off);
        crypto.getRandomValues(new Uint8Array(exports.memory.buffer, ptr + off, n));
      }
    },
    pw_log(level, ptr, len) {
      const line = decoder.decode(memory().subarray(ptr >>> 0, (ptr >>> 0) + (len >>> 0)));
      postMessage({ type: "log", level, line });
    },
  },
};

// guests/hostile/wat/infinite_loop.wat (123 bytes), run to its fuel budget during init.
const WARM_UP = "AGFzbQEAAAABDAJgAX8Bf2ACf38BfwMDAgABBQMBAAEHIQMGbWVtb3J5AgAOcGFsaXNhZGVfYWxsb2MAAANydW4AAQoRAgUAQYAICwkAA0AMAAtBAAsAEQxwYWxpc2FkZS5hYmkBAAAAABAEbmFtZQMJAQEBAARzcGlu";

async function init(url) {
  const started = performance.now();
  const response = await fetch(url);
  if (!response.ok) throw new Error(`runtime download failed: HTTP ${response.status}`);
  const { instance } = await WebAssembly.instantiateStreaming(response, imports);
  exports = instance.exports;
  // The engine compiles the runtime's functions lazily, on their first call: the first guest
  // call would pay for it against its own deadline (over 100 ms here, the server's default
  // deadline). Run a small loop through compile, call and the fuel check first.
  const module = Uint8Array.from(atob(WARM_UP), (c) => c.charCodeAt(0));
  const limits = { fuel: 200000, memory_bytes: 65536, deadline_ms: 1000, output_bytes: 0, log_bytes: 0, kv_value_bytes: 0, kv_write_bytes: 0 };
  for (let i = 0; i < 3; i++) run({ module, entry: "run", input: new Uint8Array(), tenant: "palisade.warm-up", grants: [], limits });
  return performance.now() - started;
}

function put(bytes) {
  if (bytes.length === 0) return [0, 0];
  const ptr = exports.pw_alloc(bytes.length) >>> 0;
  if (ptr === 0) throw new Error(`the runtime could not allocate ${bytes.length} bytes`);
  memory().set(bytes, ptr);
  return [ptr, bytes.length];
}

function run(m) {
  const buffers = [
    put(m.module),
    put(encoder.encode(m.entry)),
    put(m.input),
    put(encoder.encode(m.tenant)),
    put(encoder.encode(m.grants.join(" "))),
  ];
  const l = m.limits;
  const started = performance.now();
  try {
    exports.pw_run(
      ...buffers.flat(),
      BigInt(l.fuel),
      l.memory_bytes >>> 0,
      l.deadline_ms >>> 0,
      l.output_bytes >>> 0,
      l.log_bytes >>> 0,
      l.kv_value_bytes >>> 0,
      l.kv_write_bytes >>> 0,
    );
  } finally {
    for (const [ptr, len] of buffers) if (ptr) exports.pw_free(ptr, len);
  }
  const wallMs = performance.now() - started;
  const mem = memory();
  const outPtr = exports.pw_output_ptr() >>> 0;
  const output = mem.slice(outPtr, outPtr + (exports.pw_output_len() >>> 0));
  const repPtr = exports.pw_report_ptr() >>> 0;
  const report = JSON.parse(decoder.decode(mem.subarray(repPtr, repPtr + (exports.pw_report_len() >>> 0))));
  return { output, report, wallMs };
}

self.onmessage = async (event) => {
  const m = event.data;
  try {
    if (m.type === "init") {
      const ms = await init(m.url);
      postMessage({ type: "ready", ms });
    } else if (m.type === "run") {
      const result = run(m);
      postMessage({ type: "result", id: m.id, ...result }, [result.output.buffer]);
    }
  } catch (err) {
    postMessage({ type: "error", id: m.id, error: String(err && err.message ? err.message : err) });
  }
};
