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

use alloc::vec::Vec;

use wasmi::{FuncType, ValType};

use crate::capability::{CLOCK, RANDOM};
use files::{FILES_READ as FILES_READ_CAP, FILES_WRITE as FILES_WRITE_CAP};

mod ctx;
mod fd;
mod files;
mod funcs;
mod path;
mod poll;

pub use ctx::StdoutSink;
pub(crate) use ctx::{begin, call_functions, end, run};
pub(crate) use files::OpenFile;
pub use files::{
    FILES_READ, FILES_WRITE, FileError, MAX_FILE_BYTES, MAX_OPEN_FILES, MAX_WRITE_BYTES,
    PREOPEN_FD, PREOPEN_NAME, WasiFiles,
};
pub(crate) use funcs::install;

/// The import module namespace of WASI preview1.
pub const NAMESPACE: &str = "wasi_snapshot_preview1";
/// The export that makes a WASI guest a command; the entry point of its calls.
pub const START: &str = "_start";
/// The export a reactor's calls run first (in the same fresh instance).
pub const INITIALIZE: &str = "_initialize";

/// WASI `errno` values Palisade returns.
pub mod errno {
    /// No error.
    pub const SUCCESS: i32 = 0;
    /// Bad file descriptor: an fd that is not open, or the wrong direction.
    pub const BADF: i32 = 8;
    /// Invalid argument (no subscriptions, an unknown clock, too many iovecs).
    pub const INVAL: i32 = 28;
    /// I/O error: the host random source failed.
    pub const IO: i32 = 29;
    /// No such file or directory.
    pub const NOENT: i32 = 44;
    /// Is a directory.
    pub const ISDIR: i32 = 31;
    /// File too large (over [`MAX_FILE_BYTES`](super::MAX_FILE_BYTES)).
    pub const FBIG: i32 = 22;
    /// Too many open files (over [`MAX_OPEN_FILES`](super::MAX_OPEN_FILES)).
    pub const MFILE: i32 = 33;
    /// Read-only file system: a write, create or truncate flag on `path_open`, or a write
    /// function, without `files.write`.
    pub const ROFS: i32 = 69;
    /// File exists: `path_open` with `CREAT|EXCL`, `path_create_directory` of an existing path.
    pub const EXIST: i32 = 20;
    /// Directory not empty: `path_remove_directory`.
    pub const NOTEMPTY: i32 = 55;
    /// Quota exceeded: over [`MAX_WRITE_BYTES`](super::MAX_WRITE_BYTES) written to files in one call.
    pub const DQUOT: i32 = 19;
    /// Illegal seek: stdio cannot seek.
    pub const SPIPE: i32 = 70;
    /// Not a directory: `path_open` relative to an fd that is not the preopened directory.
    pub const NOTDIR: i32 = 54;
    /// Capability insufficient: the function is outside the profile, or its capability is not granted.
    pub const NOTCAPABLE: i32 = 76;
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

/// What a WASI preview1 function gives a guest under Palisade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Always available: stdio as the call's input, output and log, the tenant's args and
    /// environment, `proc_exit`, `sched_yield`, `poll_oneoff` (bounded by the deadline).
    /// `fd_write` to fd 2 reaches the host log only with capability `log`.
    Always,
    /// Works only if the tenant was granted this capability; `ENOTCAPABLE` otherwise.
    Capability(&'static str),
    /// Always returns `ENOTCAPABLE`: outside the profile.
    Denied,
}

/// One preview1 function: name, parameter types (`i` = i32, `I` = i64), whether it returns an
/// errno, and what Palisade does with it.
struct Def {
    name: &'static str,
    params: &'static str,
    errno: bool,
    access: Access,
}

const fn def(name: &'static str, params: &'static str, access: Access) -> Def {
    Def {
        name,
        params,
        errno: true,
        access,
    }
}

use Access::{Always, Capability, Denied};

/// Every function of `wasi_snapshot_preview1` (the 45 of the 2020 snapshot plus `sock_accept`,
/// added in 2022), in the order of the specification.
const FUNCTIONS: [Def; 46] = [
    def("args_get", "ii", Always),
    def("args_sizes_get", "ii", Always),
    def("environ_get", "ii", Always),
    def("environ_sizes_get", "ii", Always),
    def("clock_res_get", "ii", Capability(CLOCK)),
    def("clock_time_get", "iIi", Capability(CLOCK)),
    def("fd_advise", "iIIi", Denied),
    def("fd_allocate", "iII", Denied),
    def("fd_close", "i", Capability(FILES_READ_CAP)),
    def("fd_datasync", "i", Denied),
    def("fd_fdstat_get", "ii", Always),
    def("fd_fdstat_set_flags", "ii", Denied),
    def("fd_fdstat_set_rights", "iII", Denied),
    def("fd_filestat_get", "ii", Capability(FILES_READ_CAP)),
    def("fd_filestat_set_size", "iI", Denied),
    def("fd_filestat_set_times", "iIIi", Denied),
    def("fd_pread", "iiiIi", Denied),
    def("fd_prestat_get", "ii", Always),
    def("fd_prestat_dir_name", "iii", Always),
    def("fd_pwrite", "iiiIi", Denied),
    def("fd_read", "iiii", Always),
    def("fd_readdir", "iiiIi", Denied),
    def("fd_renumber", "ii", Denied),
    def("fd_seek", "iIii", Capability(FILES_READ_CAP)),
    def("fd_sync", "i", Denied),
    def("fd_tell", "ii", Capability(FILES_READ_CAP)),
    def("fd_write", "iiii", Always),
    def("path_create_directory", "iii", Capability(FILES_WRITE_CAP)),
    def("path_filestat_get", "iiiii", Denied),
    def("path_filestat_set_times", "iiiiIIi", Denied),
    def("path_link", "iiiiiii", Denied),
    def("path_open", "iiiiiIIii", Capability(FILES_READ_CAP)),
    def("path_readlink", "iiiiii", Denied),
    def("path_remove_directory", "iii", Capability(FILES_WRITE_CAP)),
    def("path_rename", "iiiiii", Capability(FILES_WRITE_CAP)),
    def("path_symlink", "iiiii", Denied),
    def("path_unlink_file", "iii", Capability(FILES_WRITE_CAP)),
    def("poll_oneoff", "iiii", Always),
    Def {
        name: "proc_exit",
        params: "i",
        errno: false,
        access: Always,
    },
    def("proc_raise", "i", Denied),
    def("sched_yield", "", Always),
    def("random_get", "ii", Capability(RANDOM)),
    def("sock_accept", "iii", Denied),
    def("sock_recv", "iiiiii", Denied),
    def("sock_send", "iiiii", Denied),
    def("sock_shutdown", "ii", Denied),
];

impl Def {
    fn ty(&self) -> FuncType {
        let params: Vec<ValType> = self
            .params
            .bytes()
            .map(|c| {
                if c == b'I' {
                    ValType::I64
                } else {
                    ValType::I32
                }
            })
            .collect();
        let results: &[ValType] = if self.errno { &[ValType::I32] } else { &[] };
        FuncType::new(params, results.iter().copied())
    }
}

fn find(name: &str) -> Option<&'static Def> {
    FUNCTIONS.iter().find(|d| d.name == name)
}

/// What Palisade does with WASI function `name`; `None` if preview1 has no such function.
pub fn access(name: &str) -> Option<Access> {
    find(name).map(|d| d.access)
}

/// The type preview1 gives function `name` (what an import of it must have).
pub fn func_type(name: &str) -> Option<FuncType> {
    find(name).map(Def::ty)
}

/// Every preview1 function name with what Palisade does with it, in specification order.
pub fn functions() -> impl Iterator<Item = (&'static str, Access)> {
    FUNCTIONS.iter().map(|d| (d.name, d.access))
}

#[cfg(test)]
mod tests;
