//! # palisade-web: Palisade in the page
//!
//! The no_std core compiled to `wasm32-unknown-unknown`, behind a plain `extern "C"` API that a
//! small hand-written JavaScript wrapper drives (`hosts/server/web/worker.js`, in a Web Worker so
//! that a guest that loops never blocks the page). No `wasm-bindgen`: the API is a handful of
//! integer functions over linear memory, so glue code generation would add a build tool and
//! bytes without removing any JavaScript.
//!
//! The page's host services, imported from the module `env`:
//!
//! | import | JS side | core trait |
//! |---|---|---|
//! | `pw_now_ms() -> f64` | `performance.now()` | [`palisade::Clock`] (deadlines, `clock`) |
//! | `pw_random(ptr, len)` | `crypto.getRandomValues` | [`palisade::RandomSource`] (`random`) |
//! | `pw_log(level, ptr, len)` | appends one line to the log panel (as text) | [`palisade::LogSink`] (`log`) |
//!
//! `kv.*` is a [`palisade::MemoryKv`], one namespace per tenant, living as long as the worker.
//!
//! A run: the page writes the module, entry name, input, tenant id and grants into buffers from
//! [`pw_alloc`], calls [`pw_run`] with the tenant's limits, then reads the output
//! ([`pw_output_ptr`]/[`pw_output_len`]) and a JSON report ([`pw_report_ptr`]/[`pw_report_len`]):
//! `{"outcome", "fuel", "time_us", "memory", "log_bytes", "log_dropped", "digest", "error"}`.
//! Exports never panic: every failure is a report with an outcome and an error message.
#![deny(missing_docs)]
// The exports take raw pointers from JavaScript; every one is checked against the buffers this
// crate handed out before it is read.
#![expect(unsafe_code, reason = "an extern \"C\" API over linear memory")]

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use palisade::{
    Clock, Instant, Limits, LogLevel, LogRecord, LogSink, MemoryKv, RandomError, RandomSource,
    Runtime,
};

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn pw_now_ms() -> f64;
    fn pw_random(ptr: *mut u8, len: usize);
    fn pw_log(level: i32, ptr: *const u8, len: usize);
}

// Off the web (clippy and docs on the build machine) the imports are stand-ins: the crate is
// only ever linked for wasm32.
#[cfg(not(target_arch = "wasm32"))]
unsafe fn pw_now_ms() -> f64 {
    0.0
}
#[cfg(not(target_arch = "wasm32"))]
unsafe fn pw_random(_ptr: *mut u8, _len: usize) {}
#[cfg(not(target_arch = "wasm32"))]
unsafe fn pw_log(_level: i32, _ptr: *const u8, _len: usize) {}

/// The page's monotonic clock: `performance.now()` in nanoseconds.
struct PageClock;

impl Clock for PageClock {
    fn now(&self) -> Instant {
        // SAFETY: an import without arguments.
        let ms = unsafe { pw_now_ms() };
        // `as` saturates: NaN and negative values become 0, never a panic.
        Instant((ms * 1_000_000.0) as u64)
    }
}

/// `crypto.getRandomValues`, which the wrapper calls in 64 KiB pieces (its per-call limit).
struct PageRandom;

impl RandomSource for PageRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        // SAFETY: `buf` is valid for writes of its length for the whole import call.
        unsafe { pw_random(buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }
}

/// Guest log lines to the page: `[tenant digest] level: message`, the message escaped by the
/// core (one line, no control characters); the page adds it as text, never as markup.
struct PageLog;

impl LogSink for PageLog {
    fn log(&self, record: &LogRecord<'_>) {
        let mut line = String::new();
        if write!(line, "{record}").is_err() {
            return;
        }
        let level = match record.level {
            LogLevel::Error => 0,
            LogLevel::Warn => 1,
            LogLevel::Info => 2,
            LogLevel::Debug => 3,
            LogLevel::Trace => 4,
        };
        // SAFETY: `line` outlives the import call.
        unsafe { pw_log(level, line.as_ptr(), line.len()) };
    }
}

/// What the worker keeps between calls: the runtime (with its per-tenant memory KV) and the
/// last call's output and report.
struct State {
    runtime: Result<Runtime, String>,
    output: Vec<u8>,
    report: String,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn new_runtime() -> Result<Runtime, String> {
    Runtime::builder(Arc::new(PageClock))
        .log_sink(Arc::new(PageLog))
        .random(Arc::new(PageRandom))
        .kv_store(Arc::new(MemoryKv::new()))
        .build()
        .map_err(|e| e.to_string())
}

/// Returns a buffer of `len` bytes for the page to write into (null if `len` is 0 or the
/// allocation fails). Give it back with [`pw_free`].
#[unsafe(no_mangle)]
pub extern "C" fn pw_alloc(len: usize) -> *mut u8 {
    if len == 0 {
        return std::ptr::null_mut();
    }
    let mut buf = Vec::<u8>::new();
    if buf.try_reserve_exact(len).is_err() {
        return std::ptr::null_mut();
    }
    buf.resize(len, 0);
    let ptr = buf.as_mut_ptr();
    std::mem::forget(buf);
    ptr
}

/// Frees a buffer from [`pw_alloc`] of `len` bytes. Null is ignored.
///
/// # Safety
///
/// `ptr` and `len` must be exactly what [`pw_alloc`] returned and was given, freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pw_free(ptr: *mut u8, len: usize) {
    if ptr.is_null() || len == 0 {
        return;
    }
    // SAFETY: by the contract above this is the Vec `pw_alloc` forgot, with capacity `len`.
    drop(unsafe { Vec::from_raw_parts(ptr, len, len) });
}

/// A byte slice from the page, empty for a null pointer.
///
/// # Safety
///
/// `ptr` must be null or valid for reads of `len` bytes for the returned lifetime.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: by the contract above.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// Runs `entry` of the module for `tenant` with `input`, under the tenant's limits and with
/// the capabilities in `grants` (names separated by spaces), as the server would. Returns the
/// outcome's code: 0 for `ok`, 1 for any other outcome (the report says which).
///
/// # Safety
///
/// Each `(ptr, len)` pair must be null or a live buffer from [`pw_alloc`] of at least `len`
/// bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pw_run(
    module_ptr: *const u8,
    module_len: usize,
    entry_ptr: *const u8,
    entry_len: usize,
    input_ptr: *const u8,
    input_len: usize,
    tenant_ptr: *const u8,
    tenant_len: usize,
    grants_ptr: *const u8,
    grants_len: usize,
    fuel: u64,
    memory_bytes: u32,
    deadline_ms: u32,
    output_bytes: u32,
    log_bytes: u32,
    kv_value_bytes: u32,
    kv_write_bytes: u32,
) -> i32 {
    // SAFETY: by this function's contract.
    let (module, entry, input, tenant, grants) = unsafe {
        (
            bytes(module_ptr, module_len),
            bytes(entry_ptr, entry_len),
            bytes(input_ptr, input_len),
            bytes(tenant_ptr, tenant_len),
            bytes(grants_ptr, grants_len),
        )
    };
    let limits = Limits::builder()
        .fuel(fuel.max(1))
        .memory_bytes(memory_bytes as usize)
        .deadline(Duration::from_millis(u64::from(deadline_ms.max(1))))
        .output_bytes(output_bytes as usize)
        .log_bytes(log_bytes as usize)
        .kv_value_bytes(kv_value_bytes as usize)
        .kv_write_bytes(kv_write_bytes as usize)
        // The page is one user: no rate limit (the server's bucket guards a shared service).
        .calls_per_second(0)
        .build();
    STATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let state = slot.get_or_insert_with(|| State {
            runtime: new_runtime(),
            output: Vec::new(),
            report: String::new(),
        });
        let (output, report, ok) = match &state.runtime {
            Ok(runtime) => run(runtime, module, entry, input, tenant, grants, limits),
            Err(e) => (Vec::new(), failure("host_error", e), false),
        };
        state.output = output;
        state.report = report;
        i32::from(!ok)
    })
}

fn run(
    runtime: &Runtime,
    module: &[u8],
    entry: &[u8],
    input: &[u8],
    tenant: &[u8],
    grants: &[u8],
    limits: Limits,
) -> (Vec<u8>, String, bool) {
    let (Ok(entry), Ok(tenant), Ok(grants)) = (
        std::str::from_utf8(entry),
        std::str::from_utf8(tenant),
        std::str::from_utf8(grants),
    ) else {
        return (
            Vec::new(),
            failure("rejected", &"entry, tenant and grants must be UTF-8"),
            false,
        );
    };
    let tenant = match runtime
        .tenant(tenant)
        .grant_all(grants.split_ascii_whitespace())
        .limits(limits)
        .build()
    {
        Ok(t) => t,
        Err(e) => return (Vec::new(), failure(e.outcome().as_str(), &e), false),
    };
    let compiled = match runtime.compile(module) {
        Ok(m) => m,
        Err(e) => return (Vec::new(), failure(e.outcome().as_str(), &e), false),
    };
    let call = runtime.call(&compiled, &tenant, entry, input);
    let r = call.report;
    let (output, error) = match call.result {
        Ok(out) => (out, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let mut report = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        report,
        r#"{{"outcome":"{}","fuel":{},"time_us":{},"memory":{},"log_bytes":{},"log_dropped":{},"digest":"{}","error":"#,
        r.outcome.as_str(),
        r.fuel_used,
        r.wall_time.as_micros(),
        r.memory_high_water,
        r.log_bytes,
        r.log_dropped,
        r.digest,
    );
    match &error {
        Some(e) => json_string(&mut report, e),
        None => report.push_str("null"),
    }
    report.push('}');
    (output, report, error.is_none())
}

/// A report for a run that never started (bad tenant, invalid module).
fn failure(outcome: &str, error: &dyn std::fmt::Display) -> String {
    let mut report = format!(
        r#"{{"outcome":"{outcome}","fuel":0,"time_us":0,"memory":0,"log_bytes":0,"log_dropped":0,"digest":null,"error":"#
    );
    json_string(&mut report, &error.to_string());
    report.push('}');
    report
}

/// Appends `s` as a JSON string literal.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn with_state<T>(f: impl FnOnce(&State) -> T, none: T) -> T {
    STATE.with(|cell| cell.borrow().as_ref().map_or(none, f))
}

/// The last run's output bytes (valid until the next [`pw_run`]).
#[unsafe(no_mangle)]
pub extern "C" fn pw_output_ptr() -> *const u8 {
    with_state(|s| s.output.as_ptr(), std::ptr::null())
}

/// The length of the last run's output.
#[unsafe(no_mangle)]
pub extern "C" fn pw_output_len() -> usize {
    with_state(|s| s.output.len(), 0)
}

/// The last run's report, UTF-8 JSON (valid until the next [`pw_run`]).
#[unsafe(no_mangle)]
pub extern "C" fn pw_report_ptr() -> *const u8 {
    with_state(|s| s.report.as_ptr(), std::ptr::null())
}

/// The length of the last run's report.
#[unsafe(no_mangle)]
pub extern "C" fn pw_report_len() -> usize {
    with_state(|s| s.report.len(), 0)
}
