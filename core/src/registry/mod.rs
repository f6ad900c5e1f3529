//! The registry: [`Registry`] (its docs describe the life of a module, memory and locking),
//! split by concern: `types` (its public data and error), `cache` (compile cache and
//! registration), `generation` (engine generations), `rollout` (gate, versions, canaries),
//! `call` (calls and metrics).

mod cache;
mod call;
mod generation;
mod rollout;
#[cfg(test)]
mod tests;
mod types;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use crate::digest::Digest;
use crate::error::{Error, RegistryError};
use crate::{CompiledModule, Runtime};

use self::cache::{CacheKey, Entry};
use self::generation::Generation;
use self::rollout::Plugin;
pub use self::types::{
    BASIS_POINTS, Canary, ModuleInfo, ModuleMeta, PluginStatus, Registered, RegistryStats, Smoke,
};

/// Builds a [`Registry`].
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct RegistryBuilder {
    keep_previous: usize,
    max_staged: usize,
    rotate_after_evicted_modules: usize,
    rotate_after_evicted_bytes: usize,
}

impl RegistryBuilder {
    /// Versions kept per plugin besides the active one (default
    /// [`Registry::DEFAULT_KEEP_PREVIOUS`]).
    pub fn keep_previous(mut self, n: usize) -> Self {
        self.keep_previous = n;
        self
    }

    /// Registered modules kept while no plugin uses them (default
    /// [`Registry::DEFAULT_MAX_STAGED`]); beyond it the oldest is evicted.
    pub fn max_staged(mut self, n: usize) -> Self {
        self.max_staged = n;
        self
    }

    /// Evicted modules after which a new engine generation starts (default
    /// [`Registry::DEFAULT_ROTATE_AFTER_EVICTED_MODULES`]).
    pub fn rotate_after_evicted_modules(mut self, n: usize) -> Self {
        self.rotate_after_evicted_modules = n.max(1);
        self
    }

    /// Evicted module bytes after which a new engine generation starts (default
    /// [`Registry::DEFAULT_ROTATE_AFTER_EVICTED_BYTES`]).
    pub fn rotate_after_evicted_bytes(mut self, n: usize) -> Self {
        self.rotate_after_evicted_bytes = n.max(1);
        self
    }

    /// The registry, owning `runtime` as its first engine generation.
    pub fn build(self, runtime: Runtime) -> Registry {
        let fingerprint = runtime.config_fingerprint();
        Registry {
            config: self,
            fingerprint,
            state: spin::Mutex::new(State {
                generation: Arc::new(Generation { runtime, number: 0 }),
                retired: Vec::new(),
                modules: BTreeMap::new(),
                plugins: BTreeMap::new(),
                staged: BTreeMap::new(),
                next_seq: 0,
                evicted_modules: 0,
                evicted_bytes: 0,
                stats: RegistryStats::default(),
            }),
        }
    }
}

struct State {
    generation: Arc<Generation>,
    retired: Vec<Weak<Generation>>,
    modules: BTreeMap<CacheKey, Entry>,
    plugins: BTreeMap<Box<str>, Plugin>,
    staged: BTreeMap<u64, Digest>,
    next_seq: u64,
    evicted_modules: usize,
    evicted_bytes: usize,
    stats: RegistryStats,
}

/// The registry: modules compiled once per digest, plugins with versions, gated promotion,
/// canaries, rollback, per-(plugin, tenant) metrics, and engine generations that keep memory
/// bounded.
///
/// ```
/// use std::sync::Arc;
/// use palisade::{ManualClock, ModuleMeta, Registry, Runtime};
///
/// # fn main() -> Result<(), palisade::Error> {
/// let runtime = Runtime::builder(Arc::new(ManualClock::new())).build()?;
/// let tenant = runtime.tenant("acme").build()?;
/// let registry = Registry::new(runtime);
/// let wasm = wat::parse_str(r#"
///   (module
///     (import "palisade" "output" (func $output (param i32 i32)))
///     (memory (export "memory") 1)
///     (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
///     (func (export "echo") (param i32 i32) (result i32)
///       (call $output (local.get 0) (local.get 1)) (i32.const 0))
///     (@custom "palisade.abi" "\01\00\00\00"))
/// "#).expect("valid WAT");
///
/// let registered = registry.register(&wasm, ModuleMeta::named("echo", "1.0.0"))?;
/// registry.promote("echo", registered.digest, &tenant)?;
/// let call = registry.call("echo", &tenant, "echo", b"hi", b"request-key");
/// assert_eq!(call.result?, b"hi");
/// assert_eq!(call.report.digest, registered.digest);
/// assert_eq!(registry.metrics("echo", "acme").map(|m| m.total_calls()), Some(1));
/// # Ok(()) }
/// ```
///
/// ## Life of a module
///
/// [`Registry::register`] hashes the bytes and compiles them once per (digest, engine
/// configuration); a module nobody uses yet is *staged* (at most
/// [`RegistryBuilder::max_staged`], oldest dropped first). [`Registry::promote`] makes it a
/// plugin's active version after the gate: the tenant's grants cover its imports, and its smoke
/// call (if it has one) returns the expected output within the tenant's limits. A failed gate
/// changes nothing. The replaced version goes to the plugin's history (at most
/// [`RegistryBuilder::keep_previous`]), from where [`Registry::rollback`] brings it back in
/// O(1). A module that leaves every plugin's slots is evicted.
///
/// ## Memory
///
/// wasmi never frees compiled code while its engine lives. The registry counts what it evicts;
/// past [`RegistryBuilder::rotate_after_evicted_modules`] modules or
/// [`RegistryBuilder::rotate_after_evicted_bytes`] bytes it starts a new engine generation
/// ([`Runtime::new_generation`]), recompiles the live modules into it, and drops the old one.
/// Calls in flight hold an `Arc` of their generation, so the old engine is freed when the last
/// of them returns. To recompile, the registry keeps each live module's bytes (a copy, or a
/// `&'static` slice with [`Registry::register_static`], for modules in flash).
///
/// ## Locking
///
/// One spin lock guards the registry's tables. Calls hold it only to look a version up and to
/// record metrics, never while the guest runs. Registration compiles outside the lock;
/// a generation rotation recompiles the live set under it.
pub struct Registry {
    config: RegistryBuilder,
    fingerprint: u64,
    state: spin::Mutex<State>,
}

impl core::fmt::Debug for Registry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Registry")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Registry {
    /// Default number of previous versions kept per plugin: 3.
    pub const DEFAULT_KEEP_PREVIOUS: usize = 3;
    /// Default number of staged (registered, unused) modules kept: 8.
    pub const DEFAULT_MAX_STAGED: usize = 8;
    /// Default evicted-module count that starts a new engine generation: 64.
    pub const DEFAULT_ROTATE_AFTER_EVICTED_MODULES: usize = 64;
    /// Default evicted-byte count that starts a new engine generation: 4 MiB.
    pub const DEFAULT_ROTATE_AFTER_EVICTED_BYTES: usize = 4 << 20;

    /// A registry with default settings around `runtime`.
    pub fn new(runtime: Runtime) -> Self {
        Self::builder().build(runtime)
    }

    /// Starts configuring a registry.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder {
            keep_previous: Self::DEFAULT_KEEP_PREVIOUS,
            max_staged: Self::DEFAULT_MAX_STAGED,
            rotate_after_evicted_modules: Self::DEFAULT_ROTATE_AFTER_EVICTED_MODULES,
            rotate_after_evicted_bytes: Self::DEFAULT_ROTATE_AFTER_EVICTED_BYTES,
        }
    }

    fn key(&self, digest: Digest) -> CacheKey {
        CacheKey {
            digest,
            fingerprint: self.fingerprint,
        }
    }

    /// The versions of `plugin`, if it has an active one.
    pub fn plugin(&self, name: &str) -> Option<PluginStatus> {
        let state = self.state.lock();
        let p = state.plugins.get(name)?;
        Some(PluginStatus {
            active: p.active?,
            previous: p.previous.iter().copied().collect(),
            canary: p.canary,
        })
    }

    /// The names of every plugin, in order.
    pub fn plugins(&self) -> Vec<String> {
        let state = self.state.lock();
        state.plugins.keys().map(|k| String::from(&**k)).collect()
    }

    /// What the registry knows about the module `digest`, if it is registered.
    pub fn module(&self, digest: Digest) -> Option<ModuleInfo> {
        let state = self.state.lock();
        state.modules.get(&self.key(digest)).map(|e| e.info.clone())
    }

    /// Every registered module, by digest.
    pub fn modules(&self) -> Vec<ModuleInfo> {
        let state = self.state.lock();
        state.modules.values().map(|e| e.info.clone()).collect()
    }

    /// The compiled module `digest` in the current generation, for direct
    /// [`Runtime::call`]s through [`Registry::with_runtime`].
    pub fn compiled(&self, digest: Digest) -> Option<CompiledModule> {
        let state = self.state.lock();
        state
            .modules
            .get(&self.key(digest))
            .map(|e| e.module.clone())
    }

    /// Counters: compiles, evictions, generations, live modules.
    pub fn stats(&self) -> RegistryStats {
        let mut state = self.state.lock();
        state.retired.retain(|w| w.strong_count() > 0);
        let mut stats = state.stats;
        stats.generation = state.generation.number;
        stats.generations_alive = 1 + state.retired.len();
        stats.live_modules = state.modules.len();
        stats.live_bytes = state.modules.values().map(|e| e.info.size).sum();
        stats.evicted_in_generation = state.evicted_modules;
        stats
    }
}

fn unknown_plugin(plugin: &str) -> Error {
    Error::from(RegistryError::UnknownPlugin {
        name: plugin.into(),
    })
    .with_plugin(plugin)
}
