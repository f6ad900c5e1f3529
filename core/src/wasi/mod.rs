//! The WASI preview1 profile: ordinary `wasm32-wasip1` programs as guests, with every function
//! deny-by-default (`docs/WASI.md`).
//!
//! A module that imports anything from [`NAMESPACE`] is a WASI guest: a *command* (it exports
//! `_start`) or a *reactor* (it exports `_initialize` and/or entry points of type `() -> ()`).
//! It runs exactly like an ABI-v1 guest: a fresh instance per call, the tenant's fuel budget,
//! memory cap, deadline, output and log caps, `_initialize`/`_start` in fuel slices like every
//! entry point. What differs is how bytes move:
//!
//! | WASI | under Palisade |
//! |---|---|
//! | `fd_read` fd 0 | the call's input, then end of file |
//! | `fd_write` fd 1 | the call's output (the output cap applies: over it the call ends with `OutputTooLarge`); streamed to a [`StdoutSink`] if the embedder seeds one |
//! | `fd_write` fd 2 | the guest log, line by line at level `warn`, with capability `log`, under the log cap; the last bytes are kept as the message of a failing exit |
//! | `args_*`, `environ_*` | the tenant's lists ([`TenantBuilder::wasi_args`], [`TenantBuilder::wasi_env`]); empty by default |
//! | `clock_*` | the host [`Clock`] (capability `clock`) |
//! | `random_get` | the host [`RandomSource`] (capability `random`) |
//! | `poll_oneoff` | clock subscriptions only; a sleep counts against the deadline, never blocks past it ([`Clock::sleep_until`]) |
//! | `sched_yield` | returns at once and ends the current fuel slice |
//! | `proc_exit(n)` | ends the call: `0` = success with the output so far, other = guest error `n` with stderr's tail as message |
//! | `fd_fdstat_get`, `fd_prestat_*` | describe fds 0-2, and the preopened directory only to tenants granted `files.read` |
//! | `path_open`, `fd_*` on files | the host's [`WasiFiles`] directory: reading with `files.read`, writing also with `files.write` |
//! | every other function | present, returns `ENOTCAPABLE` (76), so binaries that import functions they never call still load |
//!
//! A WASI function whose capability the tenant was not granted returns `ENOTCAPABLE` when
//! called, rather than refusing the module at registration as an ABI-v1 import does:
//! `wasm32-wasip1` binaries import clocks and randomness from their standard library whether or
//! not they use them.
//!
//! [`TenantBuilder::wasi_args`]: crate::TenantBuilder::wasi_args
//! [`TenantBuilder::wasi_env`]: crate::TenantBuilder::wasi_env
//! [`Clock`]: crate::Clock
//! [`Clock::sleep_until`]: crate::Clock::sleep_until
//! [`RandomSource`]: crate::RandomSource

mod ctx;
mod fd;
mod funcs;
mod path;
mod poll;

pub use crate::abi::preview1::{Access, INITIALIZE, START, access, func_type, functions};
pub(crate) use crate::files::OpenFile;
pub use crate::files::{
    FILES_READ, FILES_WRITE, FileError, MAX_FILE_BYTES, MAX_OPEN_FILES, MAX_WRITE_BYTES,
    PREOPEN_FD, PREOPEN_NAME, WasiFiles,
};
pub use ctx::StdoutSink;
pub(crate) use ctx::{begin, call_functions, end, run};
pub(crate) use funcs::install;

/// The import module namespace of WASI preview1.
pub const NAMESPACE: &str = crate::abi::WASI_NAMESPACE;
/// WASI `errno` values Palisade returns.
pub mod errno {
    pub use crate::errno::*;
}

/// Fuel price of every WASI call, plus one unit per [`BYTES_PER_FUEL`](crate::capability::price::BYTES_PER_FUEL)
/// bytes moved (`docs/WASI.md`).
pub const PRICE: u64 = 10;

/// Most iovecs one `fd_read`/`fd_write` may name (as Linux's `IOV_MAX`); more is `EINVAL`.
pub const MAX_IOVS: u32 = 1024;
/// Most subscriptions one `poll_oneoff` may name; more is `EINVAL`.
pub const MAX_SUBSCRIPTIONS: u32 = 64;
/// Bytes of stderr kept as the message of a failing `proc_exit`.
pub const STDERR_TAIL_BYTES: usize = 512;

#[cfg(test)]
mod tests;
