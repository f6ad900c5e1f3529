//! The one error type of the bench harness.

use core::fmt;

/// What went wrong while preparing or running a benchmark: the engine, the step and the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchError(String);

impl BenchError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// Wraps an engine's error, saying which step failed.
    pub fn from_engine(step: &str, error: impl fmt::Display) -> Self {
        Self(format!("{step}: {error}"))
    }

    /// Prefixes the message with more context (an engine or workload name).
    #[must_use]
    pub fn context(self, what: &str) -> Self {
        Self(format!("{what}: {}", self.0))
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BenchError {}
