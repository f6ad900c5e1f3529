//! The registry's public data: metadata, rollout state, statistics and its error.

use alloc::string::String;
use alloc::vec::Vec;

use crate::bundle::SmokeView;
use crate::digest::Digest;
use crate::host::Instant;

/// The number of basis points in a whole: canary fractions are out of this.
pub const BASIS_POINTS: u16 = 10_000;

/// A smoke test: `entry(input)` must return exactly `expected` before a version is promoted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Smoke {
    /// The entry point to call.
    pub entry: String,
    /// The input.
    pub input: Vec<u8>,
    /// The exact output expected.
    pub expected: Vec<u8>,
}

impl From<SmokeView<'_>> for Smoke {
    fn from(smoke: SmokeView<'_>) -> Self {
        Self {
            entry: smoke.entry.into(),
            input: smoke.input.into(),
            expected: smoke.expected.into(),
        }
    }
}

/// What the registering party says about a module. Bundles fill it from their manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleMeta {
    /// The plugin name (labels errors; may be empty).
    pub name: String,
    /// The version, free-form.
    pub version: String,
    /// Where the module came from, free-form.
    pub provenance: String,
    /// The capabilities the manifest asked for (empty when registered without a bundle).
    pub capabilities: Vec<String>,
    /// The smoke test run by every promotion of this module, if any. Only the first
    /// registration of a digest counts; a host that keeps smoke tests per version passes its
    /// own to [`Registry::promote_with_smoke`](super::Registry::promote_with_smoke).
    pub smoke: Option<Smoke>,
}

impl ModuleMeta {
    /// Metadata with a name and a version, nothing else.
    pub fn named(name: &str, version: &str) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            ..Self::default()
        }
    }

    /// Adds a smoke test.
    #[must_use]
    pub fn with_smoke(mut self, entry: &str, input: &[u8], expected: &[u8]) -> Self {
        self.smoke = Some(Smoke {
            entry: entry.into(),
            input: input.into(),
            expected: expected.into(),
        });
        self
    }
}

/// What the registry knows about a registered module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    /// SHA-256 of the module bytes.
    pub digest: Digest,
    /// What the registering party said.
    pub meta: ModuleMeta,
    /// The ABI version the module declares.
    pub abi_version: u32,
    /// Size of the module bytes.
    pub size: usize,
    /// When it was registered, on the runtime's clock.
    pub registered_at: Instant,
}

/// The outcome of [`Registry::register`](super::Registry::register).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    /// The module's digest: its identity from now on.
    pub digest: Digest,
    /// Whether this registration compiled it (false: it was already registered).
    pub compiled: bool,
}

/// A canary: a share of a plugin's requests routed to another version.
///
/// A request goes to the canary when `hash(request key) mod 10 000 < basis_points`, so the
/// same key always reaches the same version while the canary stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Canary {
    /// The canary version.
    pub digest: Digest,
    /// Its share, in basis points (1/100 of a percent): 1000 is 10 %.
    pub basis_points: u16,
}

/// A plugin's versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginStatus {
    /// The active version.
    pub active: Digest,
    /// Older versions kept for rollback, most recent first.
    pub previous: Vec<Digest>,
    /// The canary, if one stands.
    pub canary: Option<Canary>,
}

/// Counters that show what the registry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RegistryStats {
    /// Compilations by registration (a duplicate registration does not compile).
    pub compiles: u64,
    /// Compilations into new engine generations.
    pub recompiles: u64,
    /// Modules evicted.
    pub evictions: u64,
    /// The current engine generation, from 0.
    pub generation: u64,
    /// Engine generations still alive: the current one plus retired ones that calls in
    /// flight still use.
    pub generations_alive: usize,
    /// Modules registered now (staged or in use).
    pub live_modules: usize,
    /// Their total size in bytes.
    pub live_bytes: usize,
    /// Modules evicted since the current generation began (their code is still held).
    pub evicted_in_generation: usize,
}
