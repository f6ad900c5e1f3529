//! The WASI preview1 contract: the signature of every `wasi_snapshot_preview1` function and
//! what Palisade gives a guest with it, and the exports that make a command or a reactor.
//! Public as part of `wasi`; here, below it, because the contract check ([`super::check`])
//! reads it.

use alloc::vec::Vec;

use wasmi::{FuncType, ValType};

use crate::capability::{CLOCK, RANDOM};
use crate::files::{FILES_READ as FILES_READ_CAP, FILES_WRITE as FILES_WRITE_CAP};

/// The export that makes a WASI guest a command; the entry point of its calls.
pub const START: &str = "_start";
/// The export a reactor's calls run first (in the same fresh instance).
pub const INITIALIZE: &str = "_initialize";

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
pub(crate) struct Def {
    pub(crate) name: &'static str,
    params: &'static str,
    errno: bool,
    pub(crate) access: Access,
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
pub(crate) const FUNCTIONS: [Def; 46] = [
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
    pub(crate) fn ty(&self) -> FuncType {
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
