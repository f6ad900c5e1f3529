//! WASI `errno` values Palisade returns (public as `wasi::errno`). Below `files` and `wasi`
//! in the module graph: the files service's errors map to them.

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
/// File too large (over [`MAX_FILE_BYTES`](crate::wasi::MAX_FILE_BYTES)).
pub const FBIG: i32 = 22;
/// Too many open files (over [`MAX_OPEN_FILES`](crate::wasi::MAX_OPEN_FILES)).
pub const MFILE: i32 = 33;
/// Read-only file system: a write, create or truncate flag on `path_open`, or a write
/// function, without `files.write`.
pub const ROFS: i32 = 69;
/// File exists: `path_open` with `CREAT|EXCL`, `path_create_directory` of an existing path.
pub const EXIST: i32 = 20;
/// Directory not empty: `path_remove_directory`.
pub const NOTEMPTY: i32 = 55;
/// Quota exceeded: over [`MAX_WRITE_BYTES`](crate::wasi::MAX_WRITE_BYTES) written to files in one call.
pub const DQUOT: i32 = 19;
/// Illegal seek: stdio cannot seek.
pub const SPIPE: i32 = 70;
/// Not a directory: `path_open` relative to an fd that is not the preopened directory.
pub const NOTDIR: i32 = 54;
/// Capability insufficient: the function is outside the profile, or its capability is not granted.
pub const NOTCAPABLE: i32 = 76;
