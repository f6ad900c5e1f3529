//! Integration tests of the core runtime: one binary, one file per concern.
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly on purpose"
)]

mod bundle;
mod contract;
mod execution;
mod extensions;
mod fuel;
mod interrupt;
mod kv;
mod kv_scope;
mod layers;
mod limits;
mod memory;
mod prevalidated;
mod registry;
mod start;
mod step;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade::{Call, Clock, CompiledModule, Instant, Limits, ManualClock, Runtime, Tenant};

/// A guest module: `imports` go first, then the standard prelude (output import, memory of
/// `pages` 64 KiB pages, a bump allocator, the ABI section), then `body`.
pub(crate) fn guest_with(imports: &str, memory: &str, body: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
          {imports}
          (import "palisade" "output" (func $output (param i32 i32)))
          (import "palisade" "fail" (func $fail (param i32 i32 i32)))
          (memory (export "memory") {memory})
          (global $bump (mut i32) (i32.const 1024))
          (func (export "palisade_alloc") (param $n i32) (result i32)
            (local $p i32)
            (local.set $p (global.get $bump))
            (global.set $bump (i32.add (global.get $bump) (local.get $n)))
            (local.get $p))
          {body}
          (@custom "palisade.abi" "\01\00\00\00"))"#
    );
    wat::parse_str(&text).unwrap_or_else(|e| panic!("bad test WAT: {e}\n{text}"))
}

/// A versioned guest for registry and bundle tests: `echo` returns its input, `version`
/// returns `tag`, `boom` traps, and `imports_log` makes it import `palisade.log` when true.
pub(crate) fn versioned_guest(tag: &str, imports_log: bool) -> Vec<u8> {
    let log_import = if imports_log {
        r#"(import "palisade" "log" (func $log (param i32 i32 i32) (result i32)))"#
    } else {
        ""
    };
    wat::parse_str(format!(
        r#"(module
          (import "palisade" "output" (func $output (param i32 i32)))
          {log_import}
          (memory (export "memory") 1)
          (data (i32.const 16) "{tag}")
          (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
          (func (export "echo") (param i32 i32) (result i32)
            (call $output (local.get 0) (local.get 1)) (i32.const 0))
          (func (export "version") (param i32 i32) (result i32)
            (call $output (i32.const 16) (i32.const {len})) (i32.const 0))
          (func (export "boom") (param i32 i32) (result i32) unreachable)
          (@custom "palisade.abi" "\01\00\00\00"))"#,
        len = tag.len()
    ))
    .unwrap_or_else(|e| panic!("bad test WAT: {e}"))
}

/// [`guest_with`] with one page of memory and no extra imports.
pub(crate) fn guest(body: &str) -> Vec<u8> {
    guest_with("", "1", body)
}

/// A clock that moves forward by `step` every time it is read: time passes while a guest runs.
pub(crate) struct StepClock {
    now: Mutex<u64>,
    step: Duration,
}

impl StepClock {
    pub(crate) fn new(step: Duration) -> Self {
        Self {
            now: Mutex::new(0),
            step,
        }
    }
}

impl Clock for StepClock {
    fn now(&self) -> Instant {
        let mut now = self.now.lock().unwrap();
        *now += u64::try_from(self.step.as_nanos()).unwrap();
        Instant(*now)
    }
}

pub(crate) struct Host {
    pub(crate) runtime: Runtime,
    pub(crate) clock: Arc<ManualClock>,
}

/// A runtime on a manual clock with the in-memory KV store.
pub(crate) fn host() -> Host {
    let clock = Arc::new(ManualClock::new());
    let runtime = Runtime::builder(clock.clone()).build().unwrap();
    Host { runtime, clock }
}

pub(crate) fn tenant(runtime: &Runtime, id: &str, grants: &[&str], limits: Limits) -> Tenant {
    runtime
        .tenant(id)
        .grant_all(grants.iter().copied())
        .limits(limits)
        .build()
        .unwrap()
}

pub(crate) fn compile(runtime: &Runtime, wasm: &[u8]) -> CompiledModule {
    runtime.compile(wasm).unwrap()
}

/// The kind of a failed call, panicking with the output if it succeeded.
pub(crate) fn kind_of(call: &Call) -> palisade::ErrorKind {
    match &call.result {
        Ok(out) => panic!("expected an error, got output {out:?}"),
        Err(e) => e.kind().clone(),
    }
}

/// An echo guest: the "good guest" every hostile test checks the host still serves.
pub(crate) const ECHO: &str = r#"
  (func (export "echo") (param $p i32) (param $n i32) (result i32)
    (call $output (local.get $p) (local.get $n))
    (i32.const 0))"#;

/// Asserts that `runtime` still serves a good guest for `tenant`.
pub(crate) fn assert_serves_good_guest(runtime: &Runtime, tenant: &Tenant) {
    let module = compile(runtime, &guest(ECHO));
    let call = runtime.call(&module, tenant, "echo", b"still here");
    assert_eq!(call.result.unwrap(), b"still here");
}
