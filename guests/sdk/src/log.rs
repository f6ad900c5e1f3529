//! Capability `log`: write a line to the host's log sink, tagged with tenant and module.
//!
//! Each call has a log budget (`log_bytes`); lines over it are dropped and [`CapError::Quota`]
//! is returned.

use crate::error::CapError;
use crate::sys;

/// A log level (the ABI's `level` argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `0`
    Error = 0,
    /// `1`
    Warn = 1,
    /// `2`
    Info = 2,
    /// `3`
    Debug = 3,
    /// `4`
    Trace = 4,
}

/// Writes one line at `level`.
///
/// # Errors
///
/// [`CapError::Quota`] when the call's log budget is spent (the line is dropped).
pub fn write(level: Level, message: &str) -> Result<(), CapError> {
    let (ptr, len) = sys::raw(message.as_bytes());
    // SAFETY: the region is a live borrow.
    CapError::check(unsafe { sys::log(level as i32, ptr, len) }).map(drop)
}

/// Writes an error line.
///
/// # Errors
///
/// As [`write()`].
pub fn error(message: &str) -> Result<(), CapError> {
    write(Level::Error, message)
}

/// Writes a warning line.
///
/// # Errors
///
/// As [`write()`].
pub fn warn(message: &str) -> Result<(), CapError> {
    write(Level::Warn, message)
}

/// Writes an info line.
///
/// # Errors
///
/// As [`write()`].
pub fn info(message: &str) -> Result<(), CapError> {
    write(Level::Info, message)
}

/// Writes a debug line.
///
/// # Errors
///
/// As [`write()`].
pub fn debug(message: &str) -> Result<(), CapError> {
    write(Level::Debug, message)
}
