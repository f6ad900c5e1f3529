//! # Palisade
//!
//! An interpreter-first, embedded-friendly WebAssembly sandbox, built on [`wasmi`]. Every guest
//! call gets a fuel budget, a memory cap, a wall-clock deadline that needs no threads, and only
//! the host functions its tenant was granted. Modules are compiled once and shared; every call
//! gets a fresh, isolated instance.
//!
//! This crate is `#![no_std]` + `alloc`: the same core runs on a Cortex-M4, in a desktop app and
//! in a multi-tenant server. Hosts supply a [`Clock`], and optionally a [`LogSink`], a
//! [`KvStore`] and a [`RandomSource`].
//!
//! ```
//! use std::sync::Arc;
//! use palisade::{Limits, ManualClock, Runtime};
//!
//! # fn main() -> Result<(), palisade::Error> {
//! let runtime = Runtime::builder(Arc::new(ManualClock::new())).build()?;
//! // A guest that echoes its input (docs/ABI.md describes the contract).
//! let wasm = wat::parse_str(r#"
//!   (module
//!     (import "palisade" "output" (func $output (param i32 i32)))
//!     (memory (export "memory") 1)
//!     (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
//!     (func (export "echo") (param $ptr i32) (param $len i32) (result i32)
//!       (call $output (local.get $ptr) (local.get $len))
//!       (i32.const 0))
//!     (@custom "palisade.abi" "\01\00\00\00"))
//! "#).expect("valid WAT");
//! let module = runtime.compile(&wasm)?;
//! let tenant = runtime.tenant("acme").limits(Limits::builder().fuel(10_000).build()).build()?;
//!
//! let call = runtime.call(&module, &tenant, "echo", b"hello");
//! assert_eq!(call.result?, b"hello");
//! assert_eq!(call.report.digest, module.digest());
//! assert!(call.report.fuel_used > 0);
//! # Ok(()) }
//! ```
//!
//! ## Layers
//!
//! | layer | module | what it does |
//! |---|---|---|
//! | contract | [`abi`] | the ABI v1 checks: exports, imports, version (`docs/ABI.md`) |
//! | execution | [`Runtime::call`] | fresh store + instance per call; fuel slices; deadline; interrupt; caps |
//! | capabilities | [`capability`] | host functions by capability, deny by default, per-tenant KV |
//! | limits | [`Limits`] | fuel, memory, deadline, sizes, call rate — each with a `DEFAULT_*` |
//! | metrics | [`Metrics`] | fixed-size counters and histograms per (plugin, tenant) |
//! | registry | [`Registry`] | compile once per digest, gated promotion, canary, rollback, engine generations |
//! | trust | [`bundle`] | signed bundles (`docs/BUNDLE.md`): allocation-free parse and verify, packing |
//! | raw | [`RawStore`] | run modules without the contract (spec conformance tests, tools): [`Runtime::compile_raw`] |
//!
//! ## Features
//!
//! | feature | default | effect |
//! |---|---|---|
//! | `validate` | yes | wasmi's validator: every module is validated ([`VALIDATE`]). Without it (the pre-validated board profile, `docs/EMBEDDED.md`) the validator is not linked, [`Runtime::compile`] refuses every module, and [`Runtime::compile_bundle`] compiles, unvalidated, only bundles signed by a trusted key whose manifest carries a [`ValidationRecord`] for this build (written by [`BundleBuilder::validate`]): the signing key then guards memory safety |
//! | `std` | no | forwards `std` to wasmi; the crate itself stays `no_std` |
//! | `simd` | no | wasmi's `simd`: modules using the fixed-width SIMD (`simd128`) and relaxed-SIMD proposals are accepted ([`SIMD`]); the std hosts enable it, the board does not (flash) |
//! | `wasi` | no | the WASI preview1 profile (module `wasi`, `docs/WASI.md`): modules importing `wasi_snapshot_preview1` run as guests, stdin = input, stdout = output |
//! | `messages` | no | [`ErrorKind::InvalidModule`] (and wasmi failures reported as `Host`/`Config`) carry wasmi's own message; without it a short fixed reason, and none of wasmi's `Display` code is linked (flash on a board) |
//! | `defmt` | no | `defmt::Format` for the allocation-free types a board logs: [`BundleError`], [`ManifestMismatch`], [`PublicKey`], [`Digest`], [`Outcome`], [`TrapKind`], [`ContractViolation`] |
//!
//! ## Limitations with malicious guests
//!
//! Every piece of guest code a call runs — the start function, `palisade_alloc`, the entry
//! point — runs in fuel slices under the call's fuel budget, its deadline and, with
//! [`Runtime::call_interruptible`], an [`Interrupt`] the host can raise from another thread
//! (start functions are hoisted into an ordinary call at compile time: [`abi::START_EXPORT`]).
//!
//! See [`Limits`] and `docs/THREATS.md`: fuel does not meter time blocked in the host (the
//! deadline does), translation is not metered (the module size cap bounds it), and the deadline
//! and the interrupt can be overrun by at most one fuel slice.
#![no_std]
#![deny(missing_docs)]

extern crate alloc;

pub mod abi;
mod binary;
pub mod bundle;
mod call;
pub mod capability;
mod digest;
mod drive;
mod engine;
#[cfg(feature = "wasi")]
mod errno;
mod error;
mod escape;
mod extensions;
#[cfg(feature = "wasi")]
mod files;
mod host;
mod host_funcs;
mod install;
mod interrupt;
mod key;
mod kv;
mod limits;
mod limits_patch;
mod map;
mod metrics;
mod module;
mod raw;
mod registry;
mod runtime;
mod start;
mod step;
mod store;
mod tenant;
mod trap;
#[cfg(feature = "wasi")]
pub mod wasi;

pub use bundle::pack::BundleBuilder;
pub use bundle::trust::{SignaturePolicy, TrustStore};
pub use bundle::wire::{Bundle, Manifest, ValidationRecord, VerifiedBundle};
pub use call::{Call, CallReport};
pub use capability::set::{CapSet, CapabilityId};
pub use digest::{Digest, ShortDigest};
pub use error::{
    BundleError, ContractViolation, Error, ErrorKind, ManifestMismatch, Outcome,
    PrevalidationRefusal, RegistryError, ShortName, TrapKind,
};
pub use escape::{Escaped, MAX_LOG_LINE_BYTES};
pub use extensions::Extensions;
pub use host::{
    Clock, DiscardLog, Instant, LogLevel, LogRecord, LogSink, ManualClock, NoRandom, RandomError,
    RandomSource, SeededRandom,
};
pub use host_funcs::{charge, guest_bytes, guest_bytes_mut};
pub use interrupt::Interrupt;
pub use key::{InvalidKey, PublicKey};
pub use kv::{
    DEFAULT_QUOTA_BYTES, KvBackend, KvEntries, KvError, KvStore, KvWrites, MemoryBackend,
    MemoryEntries, MemoryKv, Quota,
};
pub use limits::{Limits, LimitsBuilder, StackLimits, TokenBucket};
pub use limits_patch::LimitsPatch;
pub use metrics::{Histogram, Metrics};
pub use module::CompiledModule;
pub use raw::{RAW_STORE_MAX_INSTANCES, RawInstance, RawModule, RawStore};
pub use registry::{
    BASIS_POINTS, Canary, ModuleInfo, ModuleMeta, PluginStatus, Registered, Registry,
    RegistryBuilder, RegistryStats, Smoke,
};
pub use runtime::{Runtime, RuntimeBuilder};
pub use step::{PendingCall, Step};
pub use store::CallState;
pub use tenant::{Tenant, TenantBuilder};
pub use wasmi;

/// Whether this build validates modules: the `validate` feature (default). Without it (the
/// pre-validated profile) [`Runtime::compile`] refuses every module and
/// [`Runtime::compile_bundle`] compiles only bundles signed by a trusted key whose manifest
/// records the packer's validation ([`ValidationRecord`]).
pub const VALIDATE: bool = cfg!(feature = "validate");

/// Whether this build accepts modules that use SIMD (`simd128`, relaxed SIMD): the `simd`
/// feature. Without it such modules are refused at compile time as `InvalidModule`.
pub const SIMD: bool = cfg!(feature = "simd");

#[cfg(test)]
mod tests;
