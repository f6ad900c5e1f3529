//! [`DirFiles`]: a host directory served read-only to WASI guests granted `files.read`.

use std::fs::File;
use std::io::{ErrorKind, Read as _};
use std::path::{Path, PathBuf};

use palisade::wasi::{FileError, WasiFiles};

/// One host directory, read-only, as the WASI preopened directory (`/data` in the guest) of
/// every tenant granted `files.read` (`docs/WASI.md`).
///
/// The core hands it only plain relative paths; it also refuses any file whose real path (after
/// symbolic links) is outside the directory, so a link cannot lead a guest elsewhere.
#[derive(Debug, Clone)]
pub struct DirFiles {
    root: PathBuf,
}

impl DirFiles {
    /// Serves the directory `root`.
    ///
    /// # Errors
    ///
    /// The I/O error if `root` does not exist or is not a directory.
    pub fn new(root: impl AsRef<Path>) -> std::io::Result<Self> {
        let root = root.as_ref().canonicalize()?;
        if !root.is_dir() {
            return Err(std::io::Error::new(
                ErrorKind::NotADirectory,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(Self { root })
    }

    /// The directory served (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn file_error(e: &std::io::Error) -> FileError {
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory => FileError::NotFound,
        ErrorKind::IsADirectory => FileError::IsDirectory,
        ErrorKind::PermissionDenied => FileError::Denied,
        _ => FileError::Io,
    }
}

impl WasiFiles for DirFiles {
    fn read(&self, _tenant: &str, path: &str, max_bytes: usize) -> Result<Vec<u8>, FileError> {
        let real = self
            .root
            .join(path)
            .canonicalize()
            .map_err(|e| file_error(&e))?;
        if !real.starts_with(&self.root) {
            return Err(FileError::Denied);
        }
        if real.is_dir() {
            return Err(FileError::IsDirectory);
        }
        let file = File::open(&real).map_err(|e| file_error(&e))?;
        let mut bytes = Vec::new();
        let limit = u64::try_from(max_bytes)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        file.take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| file_error(&e))?;
        if bytes.len() > max_bytes {
            return Err(FileError::TooLarge);
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inside_and_refuses_what_leads_outside() -> std::io::Result<()> {
        let outside = tempfile::tempdir()?;
        std::fs::write(outside.path().join("secret"), b"no")?;
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("a.txt"), b"hello")?;
        std::fs::create_dir(dir.path().join("sub"))?;
        std::fs::write(dir.path().join("big"), vec![0u8; 11])?;
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link"))?;
        let files = DirFiles::new(dir.path())?;
        assert_eq!(files.read("t", "a.txt", 10), Ok(b"hello".to_vec()));
        assert_eq!(files.read("t", "nope", 10), Err(FileError::NotFound));
        assert_eq!(files.read("t", "sub", 10), Err(FileError::IsDirectory));
        assert_eq!(files.read("t", "big", 10), Err(FileError::TooLarge));
        assert_eq!(files.read("t", "link", 10), Err(FileError::Denied));
        Ok(())
    }
}
