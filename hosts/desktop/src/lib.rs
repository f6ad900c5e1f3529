//! # palisade-desktop
//!
//! [Palisade](palisade) on desktop operating systems: a [`ScriptHost`] for applications that
//! run user scripts, and the host services the `no_std` core leaves to its host (from
//! `palisade-std`, re-exported). The `palisade` command-line tool is the `palisade-cli` crate
//! (`cargo run -p palisade-cli -- --help`).
//!
//! | item | what it is |
//! |---|---|
//! | [`StdClock`] | [`palisade::Clock`] over `std::time::Instant` |
//! | [`TracingLog`] | [`palisade::LogSink`] emitting guest lines as `tracing` events |
//! | [`FileKv`] | [`palisade::KvStore`] persisted per tenant in crash-safe append-only logs |
//! | [`OsRandom`] | [`palisade::RandomSource`] over the OS generator (`getrandom`) |
//! | [`ScriptHost`] | a folder of scripts + `palisade.toml`: grants, limits, hot reload, rollback, typed calls |
//!
//! ```
//! use palisade_desktop::ScriptHost;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A script folder: `palisade.toml` names each script, its file, grants and limits.
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("palisade.toml"), r#"
//!     [limits]
//!     deadline_ms = 50
//!     [scripts.echo]
//!     file = "echo.wat"
//! "#)?;
//! std::fs::write(dir.path().join("echo.wat"), r#"
//!   (module
//!     (import "palisade" "output" (func $output (param i32 i32)))
//!     (memory (export "memory") 1)
//!     (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
//!     (func (export "echo") (param i32 i32) (result i32)
//!       (call $output (local.get 0) (local.get 1)) (i32.const 0))
//!     (@custom "palisade.abi" "\01\00\00\00"))
//! "#)?;
//!
//! let host = ScriptHost::open(dir.path())?;
//! let out: String = host.call("echo", "hello")?; // postcard-encoded in and out
//! assert_eq!(out, "hello");
//! assert!(host.reload().is_empty()); // nothing changed on disk
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod manifest;
mod script;

pub use manifest::{LimitsPatch, MANIFEST_FILE, Manifest, ScriptSpec};
// The host services live in `palisade-std`, shared with the server, the benches and the tests;
// they are re-exported so a desktop application needs one dependency.
pub use palisade_std::{FileKv, OsRandom, StdClock, TracingLog};
pub use script::{MAX_VERSIONS, ReloadReport, ScriptError, ScriptHost, ScriptHostBuilder, Watcher};
