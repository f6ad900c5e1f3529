//! The one place a WASI guest can touch files: a preopened directory, served by a host's
//! [`WasiFiles`] service (never by ambient file-system access), to tenants granted
//! [`FILES_READ`] — and, on a runtime that offers it, written by tenants also granted
//! [`FILES_WRITE`]. A runtime without a service has no such capability, and a tenant without
//! the grant sees no preopened directory at all (`fd_prestat_get` says `EBADF` for fd 3, as
//! for a program run with no `--dir`).
//!
//! The guest sees the directory as [`PREOPEN_NAME`] on fd [`PREOPEN_FD`]. `path_open` checks
//! the path (relative to the directory, no `..`, no empty or absolute components) before the
//! service sees it and reads the whole file (at most [`MAX_FILE_BYTES`], charged in fuel) into
//! the call; `fd_read`, `fd_write`, `fd_seek`, `fd_tell` and `fd_filestat_get` then work on
//! that copy, and a file opened for writing is handed back to the service whole when it is
//! closed (or when the call succeeds with it still open). At most [`MAX_OPEN_FILES`] are open,
//! and a call writes at most [`MAX_WRITE_BYTES`] to files.

use alloc::string::String;
use alloc::vec::Vec;

/// The capability that shows a tenant the preopened directory: `files.read`.
pub const FILES_READ: &str = "files.read";
/// The capability that lets a tenant granted [`FILES_READ`] also create, write, rename and
/// remove in the preopened directory: `files.write`. Only a runtime built with
/// [`RuntimeBuilder::wasi_files_writable`](crate::RuntimeBuilder::wasi_files_writable) has it.
pub const FILES_WRITE: &str = "files.write";
/// The fd of the preopened directory.
pub const PREOPEN_FD: u32 = 3;
/// The name the guest sees for the preopened directory (wasi-libc resolves `/data/...` to it).
pub const PREOPEN_NAME: &str = "/data";
/// Largest file a guest can open, in bytes.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// Most files a call can hold open at once.
pub const MAX_OPEN_FILES: usize = 16;
/// Most bytes one call may write to files with `fd_write` (the sum over all its files; more
/// is `EDQUOT`). With [`MAX_FILE_BYTES`] and [`MAX_OPEN_FILES`] it bounds what one call can
/// leave on the host's disk.
pub const MAX_WRITE_BYTES: usize = 4 << 20;

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
    /// The host failed to read or write it (WASI `EIO`).
    Io,
    /// It exists already: `mkdir` of an existing path (WASI `EEXIST`).
    Exists,
    /// The directory to remove is not empty (WASI `ENOTEMPTY`).
    NotEmpty,
    /// The service does not write (WASI `EROFS`): what every write method returns by default.
    ReadOnly,
}

impl FileError {
    /// The WASI errno a guest receives for it.
    pub fn errno(self) -> i32 {
        use crate::errno;
        match self {
            Self::NotFound => errno::NOENT,
            Self::IsDirectory => errno::ISDIR,
            Self::TooLarge => errno::FBIG,
            Self::Denied => errno::NOTCAPABLE,
            Self::Io => errno::IO,
            Self::Exists => errno::EXIST,
            Self::NotEmpty => errno::NOTEMPTY,
            Self::ReadOnly => errno::ROFS,
        }
    }
}

/// A host's directory for WASI guests ([`RuntimeBuilder::wasi_files`](crate::RuntimeBuilder::wasi_files),
/// read-only, or [`RuntimeBuilder::wasi_files_writable`](crate::RuntimeBuilder::wasi_files_writable)).
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

    /// Replaces the whole contents of file `path` for `tenant` with `contents` (at most
    /// [`MAX_FILE_BYTES`]), creating it if it does not exist; its directory must exist.
    /// Called only for tenants granted [`FILES_WRITE`] on a runtime built with
    /// [`RuntimeBuilder::wasi_files_writable`](crate::RuntimeBuilder::wasi_files_writable).
    ///
    /// # Errors
    ///
    /// A [`FileError`]; [`FileError::ReadOnly`] unless the service implements writing.
    fn write(&self, tenant: &str, path: &str, contents: &[u8]) -> Result<(), FileError> {
        let _ = (tenant, path, contents);
        Err(FileError::ReadOnly)
    }

    /// Creates directory `path` (its parent must exist).
    ///
    /// # Errors
    ///
    /// As [`WasiFiles::write`]; [`FileError::Exists`] if `path` exists.
    fn create_dir(&self, tenant: &str, path: &str) -> Result<(), FileError> {
        let _ = (tenant, path);
        Err(FileError::ReadOnly)
    }

    /// Removes file `path` (a symbolic link itself, never what it points to).
    ///
    /// # Errors
    ///
    /// As [`WasiFiles::write`]; [`FileError::IsDirectory`] for a directory.
    fn remove_file(&self, tenant: &str, path: &str) -> Result<(), FileError> {
        let _ = (tenant, path);
        Err(FileError::ReadOnly)
    }

    /// Removes the empty directory `path`.
    ///
    /// # Errors
    ///
    /// As [`WasiFiles::write`]; [`FileError::NotEmpty`] if it holds anything.
    fn remove_dir(&self, tenant: &str, path: &str) -> Result<(), FileError> {
        let _ = (tenant, path);
        Err(FileError::ReadOnly)
    }

    /// Renames `from` to `to`, both in the directory (replacing a file at `to`).
    ///
    /// # Errors
    ///
    /// As [`WasiFiles::write`].
    fn rename(&self, tenant: &str, from: &str, to: &str) -> Result<(), FileError> {
        let _ = (tenant, from, to);
        Err(FileError::ReadOnly)
    }
}

/// A file a call has open: its path, its contents, the position and what the guest may do.
pub(crate) struct OpenFile {
    /// The checked path relative to the directory: where a written copy goes back.
    pub(crate) path: String,
    pub(crate) data: Vec<u8>,
    pub(crate) pos: u64,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// `O_APPEND`: every write goes to the end.
    pub(crate) append: bool,
    /// Written since it was opened: handed back to the service when closed.
    pub(crate) dirty: bool,
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
