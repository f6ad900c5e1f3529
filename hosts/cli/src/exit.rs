//! Exit codes and the CLI's one error type.

use std::fmt;
use std::path::Path;

use palisade::{BundleError, ErrorKind, RegistryError};

/// The process exit code of each outcome class. Documented in `--help` and docs/CLI.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Ok = 0,
    /// 1: a file could not be read or written.
    Io = 1,
    /// 2: bad command-line arguments.
    Usage = 2,
    /// 3: not a Wasm module or bundle, truncated, or breaks the guest contract.
    InvalidModule = 3,
    /// 4: a bundle's signature or digest does not verify, or its key is not trusted.
    Signature = 4,
    /// 5: the call was refused: input over its cap, no such entry point, rate limited.
    Rejected = 5,
    /// 6: the module needs a capability that was not granted.
    CapabilityDenied = 6,
    /// 7: the guest returned an error.
    GuestError = 7,
    /// 8: the guest trapped.
    Trap = 8,
    /// 9: the guest ran out of fuel.
    OutOfFuel = 9,
    /// 10: the guest ran past its deadline.
    Deadline = 10,
    /// 11: the guest hit its memory cap.
    MemoryCap = 11,
    /// 12: the guest's output was too large or outside its memory.
    BadOutput = 12,
    /// 13: an internal or host error (a bug in palisade, or a failing backend).
    Internal = 13,
    /// 14: `remote`: the server could not be reached.
    Unreachable = 14,
    /// 15: `remote`: the server refused the token (401, 403).
    Unauthorized = 15,
    /// 16: `remote`: no such plugin or version on the server (404).
    NotFound = 16,
}

/// The table shown in `--help`; docs/CLI.md has the same.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
   0  success
   1  a file could not be read or written
   2  bad command-line arguments
   3  not a WebAssembly module or bundle, truncated, or breaks the guest contract (docs/ABI.md)
   4  a bundle's signature or digest does not verify, or its key is not trusted
   5  the call was refused: input over its cap, unknown entry point, rate limited
   6  the module imports a capability that was not granted (--allow)
   7  the guest returned an error
   8  the guest trapped
   9  the guest ran out of fuel (--fuel)
  10  the guest ran past its deadline (--deadline)
  11  the guest hit its memory cap (--memory)
  12  the guest's output was too large or outside its memory
  13  internal or host error (please report it)
  14  remote: the server could not be reached (--server)
  15  remote: the server refused the token (--token-file)
  16  remote: no such plugin or version on the server";

impl Exit {
    /// The exit code of a sandbox error.
    pub fn of(e: &palisade::Error) -> Exit {
        match e.kind() {
            ErrorKind::InvalidModule { .. }
            | ErrorKind::ContractViolation(_)
            | ErrorKind::Bundle(
                BundleError::Truncated { .. }
                | BundleError::Malformed(_)
                | BundleError::Manifest(_),
            ) => Exit::InvalidModule,
            ErrorKind::Bundle(_) => Exit::Signature,
            ErrorKind::Registry(RegistryError::SmokeFailed { .. }) => Exit::Rejected,
            ErrorKind::InputTooLarge { .. }
            | ErrorKind::NoSuchEntry { .. }
            | ErrorKind::RateLimited { .. } => Exit::Rejected,
            ErrorKind::CapabilityDenied { .. } => Exit::CapabilityDenied,
            ErrorKind::GuestError { .. } => Exit::GuestError,
            ErrorKind::Trap(_) | ErrorKind::GuestMemoryOutOfBounds { .. } => Exit::Trap,
            ErrorKind::OutOfFuel { .. } => Exit::OutOfFuel,
            ErrorKind::DeadlineExceeded { .. } => Exit::Deadline,
            ErrorKind::MemoryCap { .. } => Exit::MemoryCap,
            ErrorKind::OutputTooLarge { .. } | ErrorKind::OutputOutOfBounds { .. } => {
                Exit::BadOutput
            }
            _ => Exit::Internal,
        }
    }
}

/// An error the CLI reports: a message that says what happened and what to do, and its exit code.
#[derive(Debug)]
pub struct CliError {
    /// The exit code.
    pub exit: Exit,
    /// What happened and what to do.
    pub message: String,
}

impl CliError {
    /// An error with an exit code and a message.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }

    /// A file could not be read.
    pub fn read(path: &Path, e: &std::io::Error) -> Self {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => "check the path",
            std::io::ErrorKind::PermissionDenied => "check the file's permissions",
            std::io::ErrorKind::IsADirectory => "pass a file, not a directory",
            _ => "check that the file is readable",
        };
        Self::new(
            Exit::Io,
            format!("cannot read {}: {e}; {hint}", path.display()),
        )
    }

    /// A file could not be written.
    pub fn write(path: &Path, e: &std::io::Error) -> Self {
        Self::new(
            Exit::Io,
            format!(
                "cannot write {}: {e}; check that its directory exists and is writable",
                path.display()
            ),
        )
    }
}

impl From<palisade::Error> for CliError {
    fn from(e: palisade::Error) -> Self {
        Self::new(Exit::of(&e), e.to_string())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
