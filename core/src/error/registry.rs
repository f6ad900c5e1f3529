//! The registry domain's error: why a rollout step was refused ([`RegistryError`]).

use alloc::string::String;

use crate::digest::Digest;

/// Why the registry refused a rollout step; converts into [`Error`](crate::Error) as
/// [`ErrorKind::Registry`](crate::ErrorKind::Registry).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// No plugin of this name has an active version in the registry.
    UnknownPlugin {
        /// The name asked for.
        name: String,
    },
    /// No module with this digest is registered (never registered, or evicted).
    UnknownModule {
        /// The digest asked for.
        digest: Digest,
    },
    /// A rollback was asked for, but the plugin keeps no previous version.
    NoPreviousVersion {
        /// The plugin.
        name: String,
    },
    /// The smoke call of a version being promoted failed or returned an unexpected output.
    SmokeFailed {
        /// What the smoke call did.
        reason: String,
    },
}

impl RegistryError {
    /// What the person reading the error should do next.
    pub fn advice(&self) -> &'static str {
        match self {
            Self::UnknownPlugin { .. } => {
                "install a version of the plugin first, or check the plugin name"
            }
            Self::UnknownModule { .. } => {
                "register the module (or install its bundle) before promoting it"
            }
            Self::NoPreviousVersion { .. } => {
                "promote a known-good version instead; the registry keeps no older one"
            }
            Self::SmokeFailed { .. } => {
                "fix the new version (the previous one stays active), or correct the manifest's smoke input/output"
            }
        }
    }
}

impl core::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnknownPlugin { name } => {
                write!(f, "no plugin `{name}` has an active version")
            }
            Self::UnknownModule { digest } => {
                write!(f, "no module with digest {digest} is registered")
            }
            Self::NoPreviousVersion { name } => {
                write!(f, "plugin `{name}` has no previous version to roll back to")
            }
            Self::SmokeFailed { reason } => write!(f, "the smoke call failed: {reason}"),
        }
    }
}
