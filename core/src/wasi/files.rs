//! The one place a WASI guest can touch files: a read-only preopened directory, served by a
//! host's [`WasiFiles`] service (never by ambient file-system access), to tenants granted
//! [`FILES_READ`]. A runtime without a service has no such capability, and a tenant without
//! the grant sees no preopened directory at all (`fd_prestat_get` says `EBADF` for fd 3, as
//! for a program run with no `--dir`).
//!
//! The guest sees the directory as [`PREOPEN_NAME`] on fd [`PREOPEN_FD`]. `path_open` checks
//! the path (relative to the directory, no `..`, no empty or absolute components) before the
//! service sees it, refuses every write, create or truncate flag, and reads the whole file (at
//! most [`MAX_FILE_BYTES`], charged in fuel) into the call; `fd_read`, `fd_seek`, `fd_tell`,
//! `fd_filestat_get` and `fd_close` then work on that copy. At most [`MAX_OPEN_FILES`] are open.

use alloc::string::String;
use alloc::vec::Vec;

/// The capability that shows a tenant the preopened directory: `files.read`.
pub const FILES_READ: &str = "files.read";
/// The fd of the preopened directory.
pub const PREOPEN_FD: u32 = 3;
/// The name the guest sees for the preopened directory (wasi-libc resolves `/data/...` to it).
pub const PREOPEN_NAME: &str = "/data";
/// Largest file a guest can open, in bytes.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// Most files a call can hold open at once.
pub const MAX_OPEN_FILES: usize = 16;

/// Why a [`WasiFiles`] service could not give a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileError {
    /// No such file (WASI `ENOENT`).
    NotFound,
    /// The path names a directory (WASI `EISDIR`).
    IsDirectory,
    /// The file is larger than the limit the service was given (WASI `EFBIG`).
    TooLarge,
    /// The path leaves the directory (a symbolic link out of it, say) or the tenant may not
    /// read it (WASI `ENOTCAPABLE`).
    Denied,
    /// The host failed to read it (WASI `EIO`).
    Io,
}

/// A host's read-only directory for WASI guests ([`RuntimeBuilder::wasi_files`](crate::RuntimeBuilder::wasi_files)).
///
/// `path` is already checked: relative, `/`-separated, every component a plain name (no
/// `.`, `..` or empty components). The service must still keep the guest inside its
/// directory (a symbolic link can point anywhere), and must not block for long: the call's
/// deadline is not checked while it runs.
pub trait WasiFiles: Send + Sync {
    /// The whole contents of `path` for `tenant`, at most `max_bytes` long.
    ///
    /// # Errors
    ///
    /// A [`FileError`], which the guest receives as a WASI errno.
    fn read(&self, tenant: &str, path: &str, max_bytes: usize) -> Result<Vec<u8>, FileError>;
}

/// A file a call has open: its contents and the read position.
pub(crate) struct OpenFile {
    pub(crate) data: Vec<u8>,
    pub(crate) pos: u64,
}

/// The path relative to the preopened directory, if it is one a guest may name: relative,
/// non-empty, `/`-separated plain names (repeated and trailing `/` and `.` components are
/// dropped, `..` and NUL refused).
pub(crate) fn checked_path(raw: &[u8]) -> Option<String> {
    let text = core::str::from_utf8(raw).ok()?;
    if text.starts_with('/') || text.contains('\0') {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            name => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(name);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::checked_path;

    #[test]
    fn only_plain_relative_paths_pass() {
        assert_eq!(checked_path(b"a.txt").as_deref(), Some("a.txt"));
        assert_eq!(checked_path(b"./dir//b.txt/").as_deref(), Some("dir/b.txt"));
        for bad in [
            &b"/etc/passwd"[..],
            b"../x",
            b"dir/../../x",
            b"a/..",
            b"",
            b".",
            b"a\0b",
            b"\xff",
        ] {
            assert_eq!(checked_path(bad), None, "{bad:?}");
        }
    }
}
