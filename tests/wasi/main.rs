//! The WASI preview1 profile (`docs/WASI.md`), function by function with small WAT programs,
//! and an ordinary Rust `wasm32-wasip1` program (`guests/examples/wasi-tour`, built from source)
//! run as a command: exact outputs, args, environment, clocks, randomness and exit codes.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failed expectation fails the test"
)]

mod c_program;
mod files;
mod profile;
mod rust_program;
mod stepped;

use std::sync::Arc;

use palisade::{CompiledModule, ManualClock, Runtime, SeededRandom, Tenant};
use palisade_tests::RecordingLog;

/// A runtime on a manual clock (sleeps jump it forward), seeded randomness and a recording log.
pub(crate) struct Host {
    pub(crate) runtime: Runtime,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) log: Arc<RecordingLog>,
}

pub(crate) fn host_seeded(seed: u64) -> Host {
    let clock = Arc::new(ManualClock::new());
    let log = Arc::new(RecordingLog::default());
    let runtime = Runtime::builder(clock.clone())
        .random(Arc::new(SeededRandom::new(seed)))
        .log_sink(log.clone())
        .build()
        .unwrap();
    Host {
        runtime,
        clock,
        log,
    }
}

pub(crate) fn host() -> Host {
    host_seeded(7)
}

impl Host {
    pub(crate) fn tenant(&self, grants: &[&str]) -> Tenant {
        self.runtime
            .tenant("t")
            .grant_all(grants.iter().copied())
            .build()
            .unwrap()
    }

    pub(crate) fn compile(&self, wasm: &[u8]) -> CompiledModule {
        self.runtime
            .compile(wasm)
            .unwrap_or_else(|e| panic!("should compile: {e}"))
    }
}

/// A WASI command: `imports`, one page of memory, and `body` as `_start`'s body.
pub(crate) fn command(imports: &str, body: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
          {imports}
          (memory (export "memory") 1)
          (func (export "_start") {body}))"#
    );
    wat::parse_str(&text).unwrap_or_else(|e| panic!("bad test WAT: {e}\n{text}"))
}

/// Import lines for WASI functions.
pub(crate) const FD_WRITE: &str = r#"(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))"#;
pub(crate) const FD_READ: &str = r#"(import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))"#;
pub(crate) const PROC_EXIT: &str =
    r#"(import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))"#;
