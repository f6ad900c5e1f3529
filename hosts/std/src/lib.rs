//! # palisade-std
//!
//! The host services the `no_std` [Palisade](palisade) core leaves to its host, written once
//! for every host with `std` (the desktop, the server, the benches and the tests):
//!
//! | item | what it is |
//! |---|---|
//! | [`StdClock`] | [`palisade::Clock`] over `std::time::Instant` |
//! | [`TracingLog`] | [`palisade::LogSink`] emitting guest lines as `tracing` events |
//! | [`FileKv`] | [`palisade::KvStore`] persisted per tenant in crash-safe append-only logs |
//! | [`DirFiles`] | [`palisade::wasi::WasiFiles`]: a host directory, read-only, as WASI guests' preopened `/data` |
//! | [`OsRandom`] | [`palisade::RandomSource`] over the OS generator (`getrandom`) |
//! | [`runtime_builder`] | a [`palisade::RuntimeBuilder`] preset with the clock, log sink and randomness |
//!
//! ```
//! let runtime = palisade_std::runtime_builder().build()?;
//! # let _ = runtime;
//! # Ok::<(), palisade::Error>(())
//! ```
#![deny(missing_docs)]

mod clock;
mod files;
mod kv;
mod log;
mod random;

use std::sync::Arc;

pub use clock::StdClock;
pub use files::DirFiles;
pub use kv::{FileEntries, FileKv, FileLog};
pub use log::TracingLog;
pub use random::OsRandom;

/// A [`palisade::RuntimeBuilder`] preset for a std host: a [`StdClock`], guest log lines to
/// [`TracingLog`] and the `random` capability from [`OsRandom`].
///
/// Storage is left to the caller (`.kv_store(...)`) because where it lives — a directory, a
/// database, memory — is the one choice every host makes differently.
pub fn runtime_builder() -> palisade::RuntimeBuilder {
    palisade::Runtime::builder(Arc::new(StdClock::new()))
        .log_sink(Arc::new(TracingLog))
        .random(Arc::new(OsRandom))
}

#[cfg(test)]
mod tests;
