//! [`DirFiles`]: a host directory served to WASI guests granted `files.read` (and, on a
//! runtime built with `wasi_files_writable`, written by those also granted `files.write`).

use std::fs::File;
use std::io::{ErrorKind, Read as _};
use std::path::{Path, PathBuf};

use palisade::wasi::{FileError, WasiFiles};

/// One host directory as the WASI preopened directory (`/data` in the guest) of every tenant
/// granted `files.read` (`docs/WASI.md`). Given to `RuntimeBuilder::wasi_files` it is only
/// read; given to `RuntimeBuilder::wasi_files_writable`, tenants also granted `files.write`
/// create, write, rename and remove in it.
///
/// The core hands it only plain relative paths; it also refuses any file whose real path (after
/// symbolic links) is outside the directory, so a link cannot lead a guest elsewhere: a read
/// follows links only to inside the directory, a write or a directory removal never goes
/// through a link (`Denied`), and unlinking or renaming a link acts on the link itself.
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
        ErrorKind::AlreadyExists => FileError::Exists,
        ErrorKind::DirectoryNotEmpty => FileError::NotEmpty,
        ErrorKind::ReadOnlyFilesystem => FileError::ReadOnly,
        _ => FileError::Io,
    }
}

impl DirFiles {
    /// Where `path` lives on the host: its parent directory's real path (which must be inside
    /// the root) joined with its last component, which is not resolved.
    fn entry(&self, path: &str) -> Result<PathBuf, FileError> {
        let rel = Path::new(path);
        let name = rel.file_name().ok_or(FileError::Denied)?;
        let parent = match rel.parent() {
            Some(p) if !p.as_os_str().is_empty() => self
                .root
                .join(p)
                .canonicalize()
                .map_err(|e| file_error(&e))?,
            _ => self.root.clone(),
        };
        if !parent.starts_with(&self.root) {
            return Err(FileError::Denied);
        }
        Ok(parent.join(name))
    }

    /// [`DirFiles::entry`], refused if it is a symbolic link (which could point anywhere).
    fn entry_not_link(&self, path: &str) -> Result<PathBuf, FileError> {
        let entry = self.entry(path)?;
        match std::fs::symlink_metadata(&entry) {
            Ok(m) if m.file_type().is_symlink() => Err(FileError::Denied),
            _ => Ok(entry),
        }
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

    fn write(&self, _tenant: &str, path: &str, contents: &[u8]) -> Result<(), FileError> {
        let entry = self.entry_not_link(path)?;
        if entry.is_dir() {
            return Err(FileError::IsDirectory);
        }
        std::fs::write(&entry, contents).map_err(|e| file_error(&e))
    }

    fn create_dir(&self, _tenant: &str, path: &str) -> Result<(), FileError> {
        std::fs::create_dir(self.entry(path)?).map_err(|e| file_error(&e))
    }

    fn remove_file(&self, _tenant: &str, path: &str) -> Result<(), FileError> {
        let entry = self.entry(path)?;
        let meta = std::fs::symlink_metadata(&entry).map_err(|e| file_error(&e))?;
        if meta.is_dir() {
            return Err(FileError::IsDirectory);
        }
        std::fs::remove_file(&entry).map_err(|e| file_error(&e))
    }

    fn remove_dir(&self, _tenant: &str, path: &str) -> Result<(), FileError> {
        std::fs::remove_dir(self.entry_not_link(path)?).map_err(|e| file_error(&e))
    }

    fn rename(&self, _tenant: &str, from: &str, to: &str) -> Result<(), FileError> {
        std::fs::rename(self.entry(from)?, self.entry(to)?).map_err(|e| file_error(&e))
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

    #[test]
    fn writes_inside_and_never_through_a_link_out() -> std::io::Result<()> {
        let outside = tempfile::tempdir()?;
        std::fs::write(outside.path().join("secret"), b"keep")?;
        let dir = tempfile::tempdir()?;
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link"))?;
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out"))?;
        let files = DirFiles::new(dir.path())?;
        assert_eq!(files.create_dir("t", "d"), Ok(()));
        assert_eq!(files.create_dir("t", "d"), Err(FileError::Exists));
        assert_eq!(files.write("t", "d/a.txt", b"new"), Ok(()));
        assert_eq!(std::fs::read(dir.path().join("d/a.txt"))?, b"new");
        assert_eq!(files.rename("t", "d/a.txt", "b.txt"), Ok(()));
        assert_eq!(files.read("t", "b.txt", 10), Ok(b"new".to_vec()));
        assert_eq!(files.remove_dir("t", "d"), Ok(()));
        // A link to a file outside, and a directory link out: never written through.
        assert_eq!(files.write("t", "link", b"owned"), Err(FileError::Denied));
        assert_eq!(
            files.write("t", "out/secret", b"owned"),
            Err(FileError::Denied)
        );
        assert_eq!(
            files.write("t", "out/new", b"owned"),
            Err(FileError::Denied)
        );
        assert_eq!(files.create_dir("t", "out/d"), Err(FileError::Denied));
        assert_eq!(
            files.rename("t", "b.txt", "out/b.txt"),
            Err(FileError::Denied)
        );
        assert_eq!(std::fs::read(outside.path().join("secret"))?, b"keep");
        assert_eq!(std::fs::read_dir(outside.path())?.count(), 1);
        // Unlinking a link removes the link, not what it points to.
        assert_eq!(files.remove_file("t", "link"), Ok(()));
        assert_eq!(std::fs::read(outside.path().join("secret"))?, b"keep");
        Ok(())
    }
}
