//! The data directory's local protections: one server per directory, and files only the
//! server's user can read.
//!
//! - `DIR` is created `0700`; an existing directory is left as the operator made it.
//! - `DIR/LOCK` is locked exclusively (`flock`) for the life of the server, the same way the
//!   desktop host's file KV locks its directory: a second server on the same directory is
//!   refused at open instead of overwriting the first one's rollout state. The lock is
//!   released by the OS when the process ends, also on SIGKILL.
//! - `DIR/palisade.db` and its `-wal` and `-shm` files are `0600` (they hold every tenant's
//!   KV and the token hashes); SQLite creates the `-wal`/`-shm` files with the mode of the
//!   database, and the server re-applies `0600` to all three at every open.
//! - `DIR/admin-token` is created `0600` from its first byte.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

use crate::store::StoreError;

/// Mode of the data directory when the server creates it.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the database files and the admin token.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) with [`DIR_MODE`] if it does not exist.
///
/// # Errors
///
/// A message naming the directory if it cannot be created.
pub fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder
        .create(dir)
        .map_err(|e| StoreError::io("cannot create the data directory", dir, e))
}

/// Takes the exclusive lock on `DIR/LOCK`; the returned file holds it until dropped.
///
/// # Errors
///
/// If another process (another `palisade-server`) holds it: a message naming the directory
/// and the lock file, and what to do.
pub fn lock(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::io("cannot open the lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            dir: dir.to_owned(),
            lock: path,
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::io("cannot lock", &path, e)),
    }
}

/// Creates (exclusively, unless it exists) a file with `mode` on Unix, for writing.
///
/// # Errors
///
/// The I/O error.
pub fn create_file(path: &Path, mode: u32) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// Creates the database file empty with [`PRIVATE_FILE_MODE`] if it does not exist yet, so
/// SQLite never creates it (or its `-wal`/`-shm`) with the umask's wider mode.
///
/// # Errors
///
/// A message naming the file.
pub fn precreate_private(db: &Path) -> Result<(), StoreError> {
    match create_file(db, PRIVATE_FILE_MODE) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::io("cannot create", db, e)),
    }
}

/// Sets [`PRIVATE_FILE_MODE`] on the database and its `-wal`/`-shm` files that exist (a
/// database created by an older server may be world-readable).
///
/// # Errors
///
/// A message naming the file that could not be changed.
pub fn restrict_database(db: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let name = db.as_os_str().to_owned();
        for suffix in ["", "-wal", "-shm"] {
            let mut p = name.clone();
            p.push(suffix);
            let p = Path::new(&p);
            if p.exists() {
                fs::set_permissions(p, fs::Permissions::from_mode(PRIVATE_FILE_MODE))
                    .map_err(|e| StoreError::io("cannot chmod 600", p, e))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = db;
    Ok(())
}
