//! The registry: modules compiled once per digest, plugins with versions, gated promotion,
//! canaries, rollback, per-(plugin, tenant) metrics, and engine generations that keep memory
//! bounded.
//!
//! ```
//! use std::sync::Arc;
//! use palisade::{ManualClock, ModuleMeta, Registry, Runtime};
//!
//! # fn main() -> Result<(), palisade::Error> {
//! let runtime = Runtime::builder(Arc::new(ManualClock::new())).build()?;
//! let tenant = runtime.tenant("acme").build()?;
//! let registry = Registry::new(runtime);
//! let wasm = wat::parse_str(r#"
//!   (module
//!     (import "palisade" "output" (func $output (param i32 i32)))
//!     (memory (export "memory") 1)
//!     (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
//!     (func (export "echo") (param i32 i32) (result i32)
//!       (call $output (local.get 0) (local.get 1)) (i32.const 0))
//!     (@custom "palisade.abi" "\01\00\00\00"))
//! "#).expect("valid WAT");
//!
//! let registered = registry.register(&wasm, ModuleMeta::named("echo", "1.0.0"))?;
//! registry.promote("echo", registered.digest, &tenant)?;
//! let call = registry.call("echo", &tenant, "echo", b"hi", b"request-key");
//! assert_eq!(call.result?, b"hi");
//! assert_eq!(call.report.digest, registered.digest);
//! assert_eq!(registry.metrics("echo", "acme").map(|m| m.total_calls()), Some(1));
//! # Ok(()) }
//! ```
//!
//! ## Life of a module
//!
//! [`Registry::register`] hashes the bytes and compiles them once per (digest, engine
//! configuration); a module nobody uses yet is *staged* (at most
//! [`RegistryBuilder::max_staged`], oldest dropped first). [`Registry::promote`] makes it a
//! plugin's active version after the gate: the tenant's grants cover its imports, and its smoke
//! call (if it has one) returns the expected output within the tenant's limits. A failed gate
//! changes nothing. The replaced version goes to the plugin's history (at most
//! [`RegistryBuilder::keep_previous`]), from where [`Registry::rollback`] brings it back in
//! O(1). A module that leaves every plugin's slots is evicted.
//!
//! ## Memory
//!
//! wasmi never frees compiled code while its engine lives. The registry counts what it evicts;
//! past [`RegistryBuilder::rotate_after_evicted_modules`] modules or
//! [`RegistryBuilder::rotate_after_evicted_bytes`] bytes it starts a new engine generation
//! ([`Runtime::new_generation`]), recompiles the live modules into it, and drops the old one.
//! Calls in flight hold an `Arc` of their generation, so the old engine is freed when the last
//! of them returns. To recompile, the registry keeps each live module's bytes (a copy, or a
//! `&'static` slice with [`Registry::register_static`], for modules in flash).
//!
//! ## Locking
//!
//! One spin lock guards the registry's tables. Calls hold it only to look a version up and to
//! record metrics, never while the guest runs. Registration compiles outside the lock;
//! a generation rotation recompiles the live set under it.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::time::Duration;

use crate::bundle::{Bundle, SmokeView, TrustStore, VerifiedBundle};
use crate::digest::Digest;
use crate::error::{Error, Outcome};
use crate::host::Instant;
use crate::interrupt::Interrupt;
use crate::metrics::Metrics;
use crate::{Call, CallReport, CompiledModule, Runtime, Step, Tenant};

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

/// Why the registry refused a rollout step; converts into [`Error`] as
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
    /// own to [`Registry::promote_with_smoke`].
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

/// The outcome of [`Registry::register`].
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

/// One engine and everything compiled into it.
struct Generation {
    runtime: Runtime,
    number: u64,
}

/// The bytes of a live module, kept to recompile it into a new generation.
enum Source {
    Static(&'static [u8]),
    Owned(Arc<[u8]>),
}

impl Source {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Static(b) => b,
            Self::Owned(b) => b,
        }
    }
}

/// The compile-cache key: compiled code is only valid for one engine configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct CacheKey {
    digest: Digest,
    fingerprint: u64,
}

struct Entry {
    module: CompiledModule,
    source: Source,
    info: ModuleInfo,
    /// Plugin slots (active, previous, canary) naming this module.
    refs: u32,
    /// Position in the staged queue while `refs == 0`.
    staged_seq: Option<u64>,
}

#[derive(Default)]
struct Plugin {
    active: Option<Digest>,
    previous: VecDeque<Digest>,
    canary: Option<Canary>,
    metrics: BTreeMap<Box<str>, Box<Metrics>>,
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

/// Modules by digest, plugins by name, versions, canaries and metrics; see the
/// [module docs](self).
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

/// FNV-1a over the key, then a SplitMix64 finaliser so that every output bit depends on
/// every input bit (FNV's low bits alone route similar keys unevenly).
fn route_bucket(key: &[u8]) -> u16 {
    let mut h = key.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^= h >> 31;
    u16::try_from(h % u64::from(BASIS_POINTS)).unwrap_or(0)
}

impl Plugin {
    fn route(&self, key: &[u8]) -> Option<Digest> {
        match self.canary {
            Some(c) if route_bucket(key) < c.basis_points => Some(c.digest),
            _ => self.active,
        }
    }
}

impl State {
    fn retain(&mut self, key: CacheKey) {
        if let Some(e) = self.modules.get_mut(&key) {
            e.refs = e.refs.saturating_add(1);
            if let Some(seq) = e.staged_seq.take() {
                self.staged.remove(&seq);
            }
        }
    }

    /// Drops one plugin slot's hold on a module; evicts the module when none is left.
    fn release(&mut self, key: CacheKey) {
        let evict = match self.modules.get_mut(&key) {
            Some(e) => {
                e.refs = e.refs.saturating_sub(1);
                e.refs == 0
            }
            None => false,
        };
        if evict {
            self.evict(key);
        }
    }

    fn evict(&mut self, key: CacheKey) {
        if let Some(e) = self.modules.remove(&key) {
            if let Some(seq) = e.staged_seq {
                self.staged.remove(&seq);
            }
            self.evicted_modules += 1;
            self.evicted_bytes = self.evicted_bytes.saturating_add(e.info.size);
            self.stats.evictions += 1;
        }
    }

    fn stage(&mut self, key: CacheKey, max_staged: usize) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(e) = self.modules.get_mut(&key) {
            e.staged_seq = Some(seq);
            self.staged.insert(seq, key.digest);
        }
        while self.staged.len() > max_staged {
            let Some((_, digest)) = self.staged.pop_first() else {
                break;
            };
            let old = CacheKey {
                digest,
                fingerprint: key.fingerprint,
            };
            if let Some(e) = self.modules.get_mut(&old) {
                e.staged_seq = None;
            }
            self.evict(old);
        }
    }

    /// Starts a new engine generation holding the live modules, if enough code was evicted.
    fn maybe_rotate(&mut self, config: &RegistryBuilder) {
        if self.evicted_modules >= config.rotate_after_evicted_modules
            || self.evicted_bytes >= config.rotate_after_evicted_bytes
        {
            // On failure (it needs a host function that no longer registers, which build
            // ruled out) the current generation simply stays.
            let _ = self.rotate();
        }
    }

    fn rotate(&mut self) -> Result<(), Error> {
        let runtime = self.generation.runtime.new_generation()?;
        let mut fresh = Vec::with_capacity(self.modules.len());
        for (key, e) in &self.modules {
            let name = Some(e.info.meta.name.as_str()).filter(|n| !n.is_empty());
            fresh.push((
                *key,
                runtime.compile_digested(e.source.bytes(), name, Some(key.digest))?,
            ));
        }
        self.stats.recompiles += fresh.len() as u64;
        for (key, module) in fresh {
            if let Some(e) = self.modules.get_mut(&key) {
                e.module = module;
            }
        }
        let number = self.generation.number + 1;
        let old = core::mem::replace(
            &mut self.generation,
            Arc::new(Generation { runtime, number }),
        );
        self.retired.retain(|w| w.strong_count() > 0);
        self.retired.push(Arc::downgrade(&old));
        self.evicted_modules = 0;
        self.evicted_bytes = 0;
        Ok(())
    }
}

/// What a call needs, taken under the lock and used outside it.
struct Resolved {
    generation: Arc<Generation>,
    module: CompiledModule,
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

    /// Registers a module: hashes it, and compiles and contract-checks it unless a module
    /// with the same digest is already registered (then `meta` is ignored). The module is
    /// staged until [`Registry::promote`] or [`Registry::set_canary`] uses it.
    ///
    /// # Errors
    ///
    /// Those of [`Runtime::compile`]; nothing is registered then.
    pub fn register(&self, bytes: &[u8], meta: ModuleMeta) -> Result<Registered, Error> {
        self.register_with(
            bytes,
            meta,
            || Source::Owned(Arc::from(bytes)),
            |runtime, name, digest| runtime.compile_digested(bytes, name, Some(digest)),
        )
    }

    /// [`Registry::register`] for bytes that live forever (a module in flash, an
    /// `include_bytes!`): the registry keeps the slice instead of a copy.
    ///
    /// # Errors
    ///
    /// As [`Registry::register`].
    pub fn register_static(
        &self,
        bytes: &'static [u8],
        meta: ModuleMeta,
    ) -> Result<Registered, Error> {
        self.register_with(
            bytes,
            meta,
            || Source::Static(bytes),
            |runtime, name, digest| runtime.compile_digested(bytes, name, Some(digest)),
        )
    }

    fn register_with(
        &self,
        bytes: &[u8],
        meta: ModuleMeta,
        source: impl FnOnce() -> Source,
        compile: impl Fn(&Runtime, Option<&str>, Digest) -> Result<CompiledModule, Error>,
    ) -> Result<Registered, Error> {
        let digest = Digest::of(bytes);
        let key = self.key(digest);
        let generation = {
            let state = self.state.lock();
            if state.modules.contains_key(&key) {
                return Ok(Registered {
                    digest,
                    compiled: false,
                });
            }
            state.generation.clone()
        };
        let name = Some(meta.name.as_str()).filter(|n| !n.is_empty());
        let mut module = compile(&generation.runtime, name, digest)?;
        let mut state = self.state.lock();
        if state.modules.contains_key(&key) {
            return Ok(Registered {
                digest,
                compiled: false,
            });
        }
        if state.generation.number != generation.number {
            // A rotation happened while compiling: compile into the current engine.
            module = state
                .generation
                .runtime
                .compile_digested(bytes, name, Some(digest))?;
        }
        let info = ModuleInfo {
            digest,
            abi_version: module.info().abi_version,
            size: bytes.len(),
            registered_at: state.generation.runtime.now(),
            meta,
        };
        state.modules.insert(
            key,
            Entry {
                module,
                source: source(),
                info,
                refs: 0,
                staged_seq: None,
            },
        );
        state.stats.compiles += 1;
        state.stage(key, self.config.max_staged.max(1));
        state.maybe_rotate(&self.config);
        Ok(Registered {
            digest,
            compiled: true,
        })
    }

    /// Verifies a bundle against `trust` and registers its module with the manifest as
    /// metadata, through the install pipeline ([`Runtime::compile_bundle`]): the manifest must
    /// state the module's ABI version, list every capability its imports need, and name only
    /// capabilities this runtime knows.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Bundle`](crate::ErrorKind::Bundle) (truncated, malformed, digest mismatch,
    /// bad signature, untrusted key, missing signature, manifest mismatch), or those of
    /// [`Registry::register`]. Nothing is registered on error.
    pub fn register_bundle(&self, bytes: &[u8], trust: &TrustStore) -> Result<Registered, Error> {
        let verified = Bundle::new_checked(bytes)?.verify(trust)?;
        self.register_verified(&verified)
    }

    /// [`Registry::register_bundle`] for a bundle that lives forever (a flash partition):
    /// the module bytes are not copied. Bytes after the bundle (erased flash) are ignored.
    ///
    /// # Errors
    ///
    /// As [`Registry::register_bundle`].
    pub fn register_bundle_static(
        &self,
        bytes: &'static [u8],
        trust: &TrustStore,
    ) -> Result<Registered, Error> {
        let verified = Bundle::new_checked_prefix(bytes)?.verify(trust)?;
        let module = verified.module();
        self.register_verified_with(&verified, || Source::Static(module))
    }

    /// Registers the module of a bundle the host has already verified (a server that checks
    /// the signer before registering), with the manifest as metadata: no second verification.
    ///
    /// # Errors
    ///
    /// As [`Registry::register_bundle`], except the verification's.
    pub fn register_verified(&self, bundle: &VerifiedBundle<'_>) -> Result<Registered, Error> {
        let module = bundle.module();
        self.register_verified_with(bundle, || Source::Owned(Arc::from(module)))
    }

    fn register_verified_with(
        &self,
        bundle: &VerifiedBundle<'_>,
        source: impl FnOnce() -> Source,
    ) -> Result<Registered, Error> {
        let manifest = bundle.manifest();
        let meta = ModuleMeta {
            name: manifest.name().into(),
            version: manifest.version().into(),
            provenance: manifest.provenance().into(),
            capabilities: manifest.capabilities().map(String::from).collect(),
            smoke: manifest.smoke().map(Smoke::from),
        };
        let registered = self.register_with(bundle.module(), meta, source, |runtime, _, _| {
            runtime.compile_bundle(bundle)
        })?;
        if !registered.compiled {
            // Already registered (perhaps from other bytes' manifest): the manifest must
            // still describe the module.
            let resolved = self.resolve(registered.digest)?;
            manifest
                .check(&resolved.generation.runtime, &resolved.module)
                .map_err(|e| Error::from(e).with_plugin(manifest.name()))?;
        }
        Ok(registered)
    }

    /// Verifies, registers and promotes a bundle as the active version of the plugin its
    /// manifest names, for `tenant`. If the gate fails, a module this call registered is
    /// removed again and the previous active version stays.
    ///
    /// # Errors
    ///
    /// Those of [`Registry::register_bundle`] and [`Registry::promote`].
    pub fn install(
        &self,
        bytes: &[u8],
        trust: &TrustStore,
        tenant: &Tenant,
    ) -> Result<Digest, Error> {
        let verified = Bundle::new_checked(bytes)?.verify(trust)?;
        let registered = self.register_verified(&verified)?;
        let name = verified.manifest().name();
        if let Err(e) = self.promote(name, registered.digest, tenant) {
            if registered.compiled {
                self.remove_if_unused(registered.digest);
            }
            return Err(e);
        }
        Ok(registered.digest)
    }

    /// Evicts a module that no plugin uses. Returns whether it was removed.
    pub fn remove_if_unused(&self, digest: Digest) -> bool {
        let key = self.key(digest);
        let mut state = self.state.lock();
        match state.modules.get(&key) {
            Some(e) if e.refs == 0 => {
                state.evict(key);
                state.maybe_rotate(&self.config);
                true
            }
            _ => false,
        }
    }

    fn resolve(&self, digest: Digest) -> Result<Resolved, Error> {
        let state = self.state.lock();
        let e = state
            .modules
            .get(&self.key(digest))
            .ok_or_else(|| Error::from(RegistryError::UnknownModule { digest }))?;
        Ok(Resolved {
            generation: state.generation.clone(),
            module: e.module.clone(),
        })
    }

    /// The gate: grants cover the imports, and the smoke call (if any) returns its output.
    /// `smoke` is the caller's smoke test, or `None` for the one of the module's first
    /// registration.
    fn gate(
        &self,
        digest: Digest,
        tenant: &Tenant,
        smoke: Option<Option<&Smoke>>,
    ) -> Result<(), Error> {
        let (resolved, registered_smoke) = {
            let state = self.state.lock();
            let e = state
                .modules
                .get(&self.key(digest))
                .ok_or_else(|| Error::from(RegistryError::UnknownModule { digest }))?;
            (
                Resolved {
                    generation: state.generation.clone(),
                    module: e.module.clone(),
                },
                e.info.meta.smoke.clone(),
            )
        };
        let runtime = &resolved.generation.runtime;
        runtime.check_grants(&resolved.module, tenant)?;
        let smoke = match smoke {
            Some(given) => given,
            None => registered_smoke.as_ref(),
        };
        if let Some(smoke) = smoke {
            let call = runtime.call(&resolved.module, tenant, &smoke.entry, &smoke.input);
            let reason = match call.result {
                Ok(out) if out == smoke.expected => return Ok(()),
                Ok(out) => alloc::format!(
                    "`{}` returned {} bytes that differ from the {} bytes expected",
                    smoke.entry,
                    out.len(),
                    smoke.expected.len()
                ),
                Err(e) => alloc::format!("`{}` failed: {}", smoke.entry, e.kind()),
            };
            return Err(RegistryError::SmokeFailed { reason }.into());
        }
        Ok(())
    }

    /// Makes `digest` the active version of `plugin` (created if new) after the gate: the
    /// module is registered, `tenant`'s grants cover its imports, and its smoke test (if it
    /// has one) returns the expected output within `tenant`'s limits. The replaced version
    /// is kept for [`Registry::rollback`]; past [`RegistryBuilder::keep_previous`] the oldest
    /// is evicted. A canary of the same digest is cleared. Promoting the active version is a
    /// no-op.
    ///
    /// The smoke call runs as `tenant` (it counts against its call rate, and uses its KV
    /// namespace if granted).
    ///
    /// # Errors
    ///
    /// [`RegistryError::UnknownModule`], [`ErrorKind::CapabilityDenied`](crate::ErrorKind::CapabilityDenied) or
    /// [`RegistryError::SmokeFailed`]; the plugin is unchanged then.
    pub fn promote(&self, plugin: &str, digest: Digest, tenant: &Tenant) -> Result<(), Error> {
        self.gate(digest, tenant, None)
            .map_err(|e| e.with_plugin(plugin).with_tenant(tenant.id()))?;
        self.commit_promote(plugin, digest)
    }

    /// [`Registry::promote`] with the smoke test given by the caller (`None`: no smoke call)
    /// instead of the one from the module's first registration.
    ///
    /// One module (one digest) can be registered as several versions, of several plugins,
    /// each with its own smoke test; the registry keeps the metadata of the first
    /// registration only. A host that stores smoke tests per (plugin, version) passes the
    /// version's own here, so another version's smoke test never gates this one.
    ///
    /// # Errors
    ///
    /// As [`Registry::promote`].
    pub fn promote_with_smoke(
        &self,
        plugin: &str,
        digest: Digest,
        tenant: &Tenant,
        smoke: Option<&Smoke>,
    ) -> Result<(), Error> {
        self.gate(digest, tenant, Some(smoke))
            .map_err(|e| e.with_plugin(plugin).with_tenant(tenant.id()))?;
        self.commit_promote(plugin, digest)
    }

    /// Makes `digest` the active version of `plugin` WITHOUT the gate: for a host restoring
    /// rollout state that passed the gate before and was acknowledged (a restart). Re-running
    /// the gate there would let a smoke test that depends on time, randomness or state take a
    /// version down that the operator was told is active. Otherwise as [`Registry::promote`].
    ///
    /// # Errors
    ///
    /// [`RegistryError::UnknownModule`] if `digest` is not registered.
    pub fn restore_active(&self, plugin: &str, digest: Digest) -> Result<(), Error> {
        self.commit_promote(plugin, digest)
    }

    fn commit_promote(&self, plugin: &str, digest: Digest) -> Result<(), Error> {
        let key = self.key(digest);
        let mut state = self.state.lock();
        if !state.modules.contains_key(&key) {
            return Err(Error::from(RegistryError::UnknownModule { digest }).with_plugin(plugin));
        }
        if !state.plugins.contains_key(plugin) {
            state.plugins.insert(plugin.into(), Plugin::default());
        }
        let Some(p) = state.plugins.get_mut(plugin) else {
            return Err(Error::config("plugin table changed under the lock"));
        };
        if p.active == Some(digest) {
            return Ok(());
        }
        let mut released = Vec::new();
        if let Some(old) = p.active.replace(digest) {
            p.previous.push_front(old);
        }
        if let Some(i) = p.previous.iter().position(|d| *d == digest) {
            p.previous.remove(i);
            released.push(digest);
        }
        if p.canary.is_some_and(|c| c.digest == digest) {
            p.canary = None;
            released.push(digest);
        }
        while p.previous.len() > self.config.keep_previous {
            if let Some(d) = p.previous.pop_back() {
                released.push(d);
            }
        }
        state.retain(key);
        for d in released {
            let k = self.key(d);
            state.release(k);
        }
        state.maybe_rotate(&self.config);
        Ok(())
    }

    /// Routes `basis_points` (out of [`BASIS_POINTS`]) of `plugin`'s requests to `digest`,
    /// after the same gate as [`Registry::promote`]. Replaces a standing canary.
    ///
    /// # Errors
    ///
    /// [`RegistryError::UnknownPlugin`] if the plugin has no active version, a
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) error for a share over 10 000 or a canary of the active version,
    /// and the gate's errors.
    pub fn set_canary(
        &self,
        plugin: &str,
        digest: Digest,
        basis_points: u16,
        tenant: &Tenant,
    ) -> Result<(), Error> {
        self.canary_with(plugin, digest, basis_points, Some((tenant, None)))
    }

    /// [`Registry::set_canary`] with the caller's smoke test (`None`: no smoke call), as
    /// [`Registry::promote_with_smoke`].
    ///
    /// # Errors
    ///
    /// As [`Registry::set_canary`].
    pub fn set_canary_with_smoke(
        &self,
        plugin: &str,
        digest: Digest,
        basis_points: u16,
        tenant: &Tenant,
        smoke: Option<&Smoke>,
    ) -> Result<(), Error> {
        self.canary_with(plugin, digest, basis_points, Some((tenant, Some(smoke))))
    }

    /// [`Registry::set_canary`] WITHOUT the gate, for restoring acknowledged state (see
    /// [`Registry::restore_active`]).
    ///
    /// # Errors
    ///
    /// As [`Registry::set_canary`], except the gate's.
    pub fn restore_canary(
        &self,
        plugin: &str,
        digest: Digest,
        basis_points: u16,
    ) -> Result<(), Error> {
        self.canary_with(plugin, digest, basis_points, None)
    }

    fn canary_with(
        &self,
        plugin: &str,
        digest: Digest,
        basis_points: u16,
        gate: Option<(&Tenant, Option<Option<&Smoke>>)>,
    ) -> Result<(), Error> {
        if basis_points > BASIS_POINTS {
            return Err(Error::config(alloc::format!(
                "a canary share is at most {BASIS_POINTS} basis points, not {basis_points}"
            ))
            .with_plugin(plugin));
        }
        {
            let state = self.state.lock();
            let active = state.plugins.get(plugin).and_then(|p| p.active);
            match active {
                None => return Err(unknown_plugin(plugin)),
                Some(a) if a == digest => {
                    return Err(Error::config(
                        "the canary is the active version; promote another version or clear the canary",
                    )
                    .with_plugin(plugin));
                }
                Some(_) => {}
            }
        }
        if let Some((tenant, smoke)) = gate {
            self.gate(digest, tenant, smoke)
                .map_err(|e| e.with_plugin(plugin).with_tenant(tenant.id()))?;
        }
        let key = self.key(digest);
        let mut state = self.state.lock();
        if !state.modules.contains_key(&key) {
            return Err(Error::from(RegistryError::UnknownModule { digest }).with_plugin(plugin));
        }
        let Some(p) = state.plugins.get_mut(plugin) else {
            return Err(unknown_plugin(plugin));
        };
        let old = p.canary.replace(Canary {
            digest,
            basis_points,
        });
        state.retain(key);
        if let Some(old) = old {
            let k = self.key(old.digest);
            state.release(k);
        }
        state.maybe_rotate(&self.config);
        Ok(())
    }

    /// Sets `plugin`'s whole rollout state (active, previous versions most recent first,
    /// canary) WITHOUT the gate: for a host that restores or replicates state that passed the
    /// gate elsewhere and was acknowledged (another replica promoted it). Versions the plugin
    /// held before and no longer holds are released (and evicted if no plugin uses them). A
    /// canary equal to `active` is dropped: a canary is never the active version. Previous
    /// versions past [`RegistryBuilder::keep_previous`] are not kept.
    ///
    /// # Errors
    ///
    /// [`RegistryError::UnknownModule`] if a digest is not registered, a
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) error for a canary share over 10 000;
    /// the plugin is unchanged then.
    pub fn restore_plugin(
        &self,
        plugin: &str,
        active: Digest,
        previous: &[Digest],
        canary: Option<Canary>,
    ) -> Result<(), Error> {
        if canary.is_some_and(|c| c.basis_points > BASIS_POINTS) {
            return Err(Error::config(alloc::format!(
                "a canary share is at most {BASIS_POINTS} basis points"
            ))
            .with_plugin(plugin));
        }
        let canary = canary.filter(|c| c.digest != active);
        let previous: VecDeque<Digest> = previous
            .iter()
            .copied()
            .take(self.config.keep_previous)
            .collect();
        let mut state = self.state.lock();
        let wanted: Vec<Digest> = core::iter::once(active)
            .chain(previous.iter().copied())
            .chain(canary.map(|c| c.digest))
            .collect();
        if let Some(&digest) = wanted
            .iter()
            .find(|d| !state.modules.contains_key(&self.key(**d)))
        {
            return Err(Error::from(RegistryError::UnknownModule { digest }).with_plugin(plugin));
        }
        let p = state.plugins.entry(plugin.into()).or_default();
        let old: Vec<Digest> = p
            .active
            .into_iter()
            .chain(p.previous.iter().copied())
            .chain(p.canary.map(|c| c.digest))
            .collect();
        p.active = Some(active);
        p.previous = previous;
        p.canary = canary;
        // Hold the new slots before releasing the old ones, so a module in both stays.
        for d in wanted {
            let k = self.key(d);
            state.retain(k);
        }
        for d in old {
            let k = self.key(d);
            state.release(k);
        }
        state.maybe_rotate(&self.config);
        Ok(())
    }

    /// Removes `plugin`'s canary, if any; returns it.
    ///
    /// # Errors
    ///
    /// [`RegistryError::UnknownPlugin`].
    pub fn clear_canary(&self, plugin: &str) -> Result<Option<Canary>, Error> {
        let mut state = self.state.lock();
        let p = state
            .plugins
            .get_mut(plugin)
            .ok_or_else(|| unknown_plugin(plugin))?;
        let old = p.canary.take();
        if let Some(c) = old {
            let k = self.key(c.digest);
            state.release(k);
            state.maybe_rotate(&self.config);
        }
        Ok(old)
    }

    /// Makes `plugin`'s most recent previous version active again, in O(1), and returns its
    /// digest. The version rolled back from is dropped from the plugin (and evicted if no
    /// other plugin uses it); the canary, if any, stays, unless it is the version rolled back
    /// to: a canary is never the active version, so that one is cleared.
    ///
    /// # Errors
    ///
    /// [`RegistryError::UnknownPlugin`] or [`RegistryError::NoPreviousVersion`].
    pub fn rollback(&self, plugin: &str) -> Result<Digest, Error> {
        let mut state = self.state.lock();
        let p = state
            .plugins
            .get_mut(plugin)
            .ok_or_else(|| unknown_plugin(plugin))?;
        let previous = p.previous.pop_front().ok_or_else(|| {
            Error::from(RegistryError::NoPreviousVersion {
                name: plugin.into(),
            })
            .with_plugin(plugin)
        })?;
        let old = p.active.replace(previous);
        let canary = p.canary.take_if(|c| c.digest == previous);
        for d in old.into_iter().chain(canary.map(|c| c.digest)) {
            let k = self.key(d);
            state.release(k);
        }
        state.maybe_rotate(&self.config);
        Ok(previous)
    }

    /// The version a request with `request_key` would run.
    ///
    /// # Errors
    ///
    /// [`RegistryError::UnknownPlugin`].
    pub fn route(&self, plugin: &str, request_key: &[u8]) -> Result<Digest, Error> {
        let state = self.state.lock();
        state
            .plugins
            .get(plugin)
            .and_then(|p| p.route(request_key))
            .ok_or_else(|| unknown_plugin(plugin))
    }

    /// Calls `entry` of the version of `plugin` that `request_key` routes to, for `tenant`,
    /// and records the report in the (plugin, tenant) metrics. `report.digest` names the
    /// version that ran. Use a stable key per user or session so a canary sees the same users.
    pub fn call(
        &self,
        plugin: &str,
        tenant: &Tenant,
        entry: &str,
        input: &[u8],
        request_key: &[u8],
    ) -> Call<Vec<u8>> {
        self.call_with(plugin, tenant, entry, input, request_key, <[u8]>::to_vec)
    }

    /// [`Registry::call`] that the host can stop from another thread through `interrupt`
    /// (see [`Runtime::call_interruptible`]); an interrupted call is recorded in the metrics
    /// as [`Outcome::Interrupted`].
    pub fn call_interruptible(
        &self,
        plugin: &str,
        tenant: &Tenant,
        entry: &str,
        input: &[u8],
        request_key: &[u8],
        interrupt: &Interrupt,
    ) -> Call<Vec<u8>> {
        self.call_inner(
            plugin,
            tenant,
            entry,
            input,
            request_key,
            Some(interrupt),
            <[u8]>::to_vec,
        )
    }

    /// [`Registry::call`], handing the output to `read` in place.
    pub fn call_with<R>(
        &self,
        plugin: &str,
        tenant: &Tenant,
        entry: &str,
        input: &[u8],
        request_key: &[u8],
        read: impl FnOnce(&[u8]) -> R,
    ) -> Call<R> {
        self.call_inner(plugin, tenant, entry, input, request_key, None, read)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one private step of the public call methods, which own all of these"
    )]
    fn call_inner<R>(
        &self,
        plugin: &str,
        tenant: &Tenant,
        entry: &str,
        input: &[u8],
        request_key: &[u8],
        interrupt: Option<&Interrupt>,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Call<R> {
        let Some(resolved) = self.route_module(plugin, request_key) else {
            return unknown_plugin_call(plugin, tenant);
        };
        let mut call = resolved.generation.runtime.call_inner(
            &resolved.module,
            tenant,
            entry,
            input,
            crate::call::CallHooks {
                interrupt,
                extensions: None,
            },
            read,
        );
        call.result = call.result.map_err(|e| e.with_plugin(plugin));
        self.record(plugin, tenant.id(), &call.report);
        // The generation (and with a retired one, its engine) is dropped here, unlocked.
        drop(resolved);
        call
    }

    /// [`Registry::call_interruptible`] run one fuel slice at a time: routes `request_key` to
    /// a version of `plugin` and starts the call ([`Runtime::start_call`]); step it with
    /// [`PendingCall::step`](crate::PendingCall::step). The registry does not see the call
    /// end: hand its report to [`Registry::record`] to count it in the (plugin, tenant)
    /// metrics as [`Registry::call`] does.
    pub fn start_call(
        &self,
        plugin: &str,
        tenant: &Tenant,
        entry: &str,
        input: Vec<u8>,
        request_key: &[u8],
        interrupt: Option<Interrupt>,
    ) -> Step {
        let Some(resolved) = self.route_module(plugin, request_key) else {
            return Step::Done(unknown_plugin_call(plugin, tenant));
        };
        let step = resolved.generation.runtime.start_call(
            &resolved.module,
            tenant,
            entry,
            input,
            interrupt,
        );
        // The generation (and with a retired one, its engine) is dropped here, unlocked: the
        // pending call holds the engine it needs.
        drop(resolved);
        match step {
            Step::Pending(call) => Step::Pending(call.with_plugin(plugin)),
            Step::Done(mut call) => {
                call.result = call.result.map_err(|e| e.with_plugin(plugin));
                Step::Done(call)
            }
        }
    }

    /// Counts a call's report in the metrics of (`plugin`, `tenant`), as [`Registry::call`]
    /// does for its own calls; for calls run with [`Registry::start_call`]. Nothing is
    /// recorded for a plugin the registry does not know.
    pub fn record(&self, plugin: &str, tenant: &str, report: &CallReport) {
        let mut state = self.state.lock();
        if let Some(p) = state.plugins.get_mut(plugin) {
            match p.metrics.get_mut(tenant) {
                Some(m) => m.record(report),
                None => {
                    let mut m = Box::new(Metrics::new());
                    m.record(report);
                    p.metrics.insert(tenant.into(), m);
                }
            }
        }
    }

    /// The module `request_key` routes to for `plugin`, with its engine generation.
    fn route_module(&self, plugin: &str, request_key: &[u8]) -> Option<Resolved> {
        let state = self.state.lock();
        state
            .plugins
            .get(plugin)
            .and_then(|p| p.route(request_key))
            .and_then(|d| state.modules.get(&self.key(d)))
            .map(|e| Resolved {
                generation: state.generation.clone(),
                module: e.module.clone(),
            })
    }

    /// A copy of the metrics of (`plugin`, `tenant`), if that pair has made a call.
    pub fn metrics(&self, plugin: &str, tenant: &str) -> Option<Metrics> {
        let state = self.state.lock();
        state
            .plugins
            .get(plugin)
            .and_then(|p| p.metrics.get(tenant))
            .map(|m| (**m).clone())
    }

    /// Visits the metrics of every (plugin, tenant) pair, in name order: for exporters.
    /// `visit` runs under the registry lock: it must not call the registry.
    pub fn for_each_metrics(&self, mut visit: impl FnMut(&str, &str, &Metrics)) {
        let state = self.state.lock();
        for (plugin, p) in &state.plugins {
            for (tenant, m) in &p.metrics {
                visit(plugin, tenant, m);
            }
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

    /// Runs `f` with the current generation's runtime (to build tenants, or inspect
    /// capabilities). The registry is not locked while `f` runs.
    pub fn with_runtime<R>(&self, f: impl FnOnce(&Runtime) -> R) -> R {
        let generation = self.state.lock().generation.clone();
        f(&generation.runtime)
    }

    /// Starts a new engine generation now, recompiling the live modules (normally automatic).
    ///
    /// # Errors
    ///
    /// Only if a live module fails to recompile; the current generation then stays.
    pub fn rotate_generation(&self) -> Result<(), Error> {
        self.state.lock().rotate()
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

/// The call a request for an unknown plugin (or one with no active version) ends as.
fn unknown_plugin_call<R>(plugin: &str, tenant: &Tenant) -> Call<R> {
    Call {
        report: CallReport {
            outcome: Outcome::Rejected,
            fuel_used: 0,
            wall_time: Duration::ZERO,
            memory_high_water: 0,
            memory_cap_hits: 0,
            digest: Digest::default(),
            log_bytes: 0,
            log_dropped: 0,
        },
        result: Err(unknown_plugin(plugin).with_tenant(tenant.id())),
    }
}

fn unknown_plugin(plugin: &str) -> Error {
    Error::from(RegistryError::UnknownPlugin {
        name: plugin.into(),
    })
    .with_plugin(plugin)
}
