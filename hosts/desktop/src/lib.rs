//! # palisade-desktop
//!
//! [Palisade](palisade) on desktop operating systems: the host services the `no_std` core
//! leaves to its host, a [`ScriptHost`] for applications that run user scripts, and the
//! `palisade` command-line tool (`cargo run -p palisade-desktop --bin palisade -- --help`).
//!
//! | item | what it is |
//! |---|---|
//! | [`StdClock`] | [`palisade::Clock`] over `std::time::Instant` |
//! | [`TracingLog`] | [`palisade::LogSink`] emitting guest lines as `tracing` events |
//! | [`FileKv`] | [`palisade::KvStore`] persisted per tenant in crash-safe append-only logs |
//! | [`OsRandom`] | [`palisade::RandomSource`] over the OS generator (`getrandom`) |
//! | [`ScriptHost`] | a folder of scripts + `palisade.toml`: grants, limits, hot reload, rollback, typed calls |
//!
//! ```no_run
//! use palisade_desktop::ScriptHost;
//!
//! # fn main() -> Result<(), palisade_desktop::ScriptError> {
//! // `scripts/palisade.toml` names each script, its file, grants and limits.
//! let host = ScriptHost::open("scripts")?;
//! let out: String = host.call("shout", "hello")?; // postcard-encoded in and out
//! host.reload(); // picks up edited files; the previous version is kept for rollback
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod clock;
mod kv;
mod log;
pub mod manifest;
mod random;
mod script;

pub use clock::StdClock;
pub use kv::FileKv;
pub use log::TracingLog;
pub use manifest::{LimitsSpec, MANIFEST_FILE, Manifest, ScriptSpec};
pub use random::OsRandom;
pub use script::{
    MAX_VERSIONS, ReloadReport, ScriptError, ScriptHost, ScriptHostBuilder, Watcher,
};

#[cfg(test)]
mod tests;
