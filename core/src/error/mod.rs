//! The one error type of Palisade, its kinds, and the outcome classes used by reports and
//! metrics: [`Error`] here, [`ErrorKind`] with its messages and advice in `kind`, the contract
//! violations in `contract`, [`TrapKind`] and [`Outcome`] in `outcome`.

mod bundle;
mod contract;
mod kind;
mod outcome;
mod registry;

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

pub use self::bundle::{BundleError, ManifestMismatch, PrevalidationRefusal, ShortName};
pub use self::contract::ContractViolation;
pub use self::kind::ErrorKind;
pub use self::outcome::{Outcome, TrapKind};
pub use self::registry::RegistryError;

/// An error from Palisade: what happened, to which plugin and tenant, and what to do about it.
///
/// Guest outcomes (a trap, running out of fuel, a deadline, the memory cap, a guest error) are
/// data, distinguished by [`Error::kind`] and classified by [`Error::outcome`]; host and
/// configuration errors are kinds of their own. The error is one pointer wide so that
/// `Result<T, Error>` stays cheap on the per-call path.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    plugin: Option<Box<str>>,
    tenant: Option<Box<str>>,
}

impl Error {
    /// Creates an error of the given kind, with no plugin or tenant attached yet.
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                plugin: None,
                tenant: None,
            }),
        }
    }

    /// Shorthand for a [`ErrorKind::Config`] error.
    pub fn config(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config {
            reason: reason.into(),
        })
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// The outcome class of this error.
    pub fn outcome(&self) -> Outcome {
        self.kind().outcome()
    }

    /// The plugin the error concerns, if known.
    pub fn plugin(&self) -> Option<&str> {
        self.inner.plugin.as_deref()
    }

    /// The tenant the error concerns, if known.
    pub fn tenant(&self) -> Option<&str> {
        self.inner.tenant.as_deref()
    }

    /// Attaches the plugin name (kept if one is already attached).
    #[must_use]
    pub fn with_plugin(mut self, plugin: &str) -> Self {
        if self.inner.plugin.is_none() {
            self.inner.plugin = Some(plugin.into());
        }
        self
    }

    /// Attaches the tenant id (kept if one is already attached).
    #[must_use]
    pub fn with_tenant(mut self, tenant: &str) -> Self {
        if self.inner.tenant.is_none() {
            self.inner.tenant = Some(tenant.into());
        }
        self
    }

    /// What the person reading the error should do next.
    pub fn advice(&self) -> &'static str {
        self.kind().advice()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner.kind, f)?;
        match (&self.inner.plugin, &self.inner.tenant) {
            (Some(p), Some(t)) => write!(f, " (plugin `{p}`, tenant `{t}`)")?,
            (Some(p), None) => write!(f, " (plugin `{p}`)")?,
            (None, Some(t)) => write!(f, " (tenant `{t}`)")?,
            (None, None) => {}
        }
        write!(f, "; {}", self.advice())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("plugin", &self.inner.plugin)
            .field("tenant", &self.inner.tenant)
            .finish()
    }
}

impl core::error::Error for Error {}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind)
    }
}

impl From<RegistryError> for Error {
    fn from(e: RegistryError) -> Self {
        Self::new(ErrorKind::Registry(e))
    }
}

impl From<ContractViolation> for Error {
    fn from(v: ContractViolation) -> Self {
        Self::new(ErrorKind::ContractViolation(v))
    }
}

/// The reason of [`ErrorKind::InvalidModule`] without feature `messages`.
pub(crate) const INVALID_MODULE: &str = "the bytes are not a valid WebAssembly module or exceed a compile limit (the validator's reason needs palisade feature `messages`)";

/// Joins `parts` into one string without `core::fmt` (which costs flash on a board).
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

/// The reason to store for an error of wasmi: its message with feature `messages`, else `short`.
///
/// wasmi's and wasmparser's `Display` impls (and the formatting machinery behind them) are
/// tens of KiB of flash that a board without a console never shows.
#[cfg(feature = "messages")]
pub(crate) fn wasm_reason(e: &impl fmt::Display, _short: &'static str) -> String {
    alloc::string::ToString::to_string(e)
}

/// The reason to store for an error of wasmi: its message with feature `messages`, else `short`.
///
/// wasmi's and wasmparser's `Display` impls (and the formatting machinery behind them) are
/// tens of KiB of flash that a board without a console never shows.
#[cfg(not(feature = "messages"))]
pub(crate) fn wasm_reason<E>(_e: &E, short: &'static str) -> String {
    String::from(short)
}

impl From<crate::key::InvalidKey> for Error {
    fn from(e: crate::key::InvalidKey) -> Self {
        Self::config(alloc::format!("{e}"))
    }
}
