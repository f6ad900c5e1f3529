//! Engine-comparison benchmarks for Palisade.
//!
//! Palisade's premise is that for short-lived guests an interpreter beats a compiler, because
//! the compile cost never pays off. This crate measures that claim against raw wasmi, wasmtime
//! (Cranelift, Winch, Pulley, and a precompiled + pooled warm start), wasm3, tinywasm and stitch,
//! with identical inputs and identical host imports for every engine, and finds for each guest
//! the number of calls after which a compiler wins.
//!
//! - [`Engine`] is the one interface every engine implements: compile, instantiate, call, and a
//!   whole invocation on a fresh instance, all following the guest ABI (`docs/ABI.md`).
//! - [`workloads`] returns the guests, each with its input and the output every engine must
//!   produce.
//! - [`report`] turns criterion's results into `docs/BENCHMARKS.md` (the PNG plot lives in the
//!   `bench-report` binary, behind the `report` feature).
//!
//! The benches live in `benches/engines.rs`; `benches/regenerate.sh` runs them with every engine
//! and writes the report.
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `wasmtime` | wasmtime 48 with Cranelift, Winch, Pulley and the pooled warm start (slow to build) |
//! | `wasm3` | wasm3 through `wasm3x` (needs libclang for bindgen) |
//! | `tinywasm` | tinywasm 0.10 |
//! | `stitch` | makepad-stitch 0.1 |
//! | `all-engines` | all of the above |
//! | `report` | the `bench-report` binary (plotters) |

mod engine;
mod error;
pub mod report;
mod workload;

pub use engine::{Engine, EngineId, HostState, Palisade, StdClock, Wasmi, WasmiMode};
pub use error::BenchError;
pub use workload::{Workload, workloads};

#[cfg(feature = "wasmtime")]
pub use engine::wasmtime::{Wasmtime, WasmtimeStrategy, WasmtimeWarm};

#[cfg(feature = "wasm3")]
pub use engine::wasm3::Wasm3;

#[cfg(feature = "tinywasm")]
pub use engine::tinywasm::TinyWasm;

#[cfg(feature = "stitch")]
pub use engine::stitch::Stitch;
