//! The compile cache: modules compiled once per (digest, engine configuration), staged
//! until a plugin uses them, counted by the plugin slots naming them, evicted when none does;
//! and the registration paths (raw modules and bundles) that fill it.

use alloc::string::String;
use alloc::sync::Arc;

use crate::bundle::{Bundle, TrustStore, VerifiedBundle};
use crate::digest::Digest;
use crate::error::Error;
use crate::{CompiledModule, Runtime, Tenant};

use super::generation::Resolved;
use super::{ModuleInfo, ModuleMeta, Registered, Registry, RegistryError, Smoke, State};

/// The bytes of a live module, kept to recompile it into a new generation.
pub(super) enum Source {
    Static(&'static [u8]),
    Owned(Arc<[u8]>),
}

impl Source {
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Self::Static(b) => b,
            Self::Owned(b) => b,
        }
    }
}

/// The compile-cache key: compiled code is only valid for one engine configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct CacheKey {
    pub(super) digest: Digest,
    pub(super) fingerprint: u64,
}

/// A compiled module, the bytes to recompile it from, and the plugin slots holding it.
pub(super) struct Entry {
    pub(super) module: CompiledModule,
    pub(super) source: Source,
    pub(super) info: ModuleInfo,
    /// Plugin slots (active, previous, canary) naming this module.
    pub(super) refs: u32,
    /// Position in the staged queue while `refs == 0`.
    pub(super) staged_seq: Option<u64>,
}

impl State {
    pub(super) fn retain(&mut self, key: CacheKey) {
        if let Some(e) = self.modules.get_mut(&key) {
            e.refs = e.refs.saturating_add(1);
            if let Some(seq) = e.staged_seq.take() {
                self.staged.remove(&seq);
            }
        }
    }

    /// Drops one plugin slot's hold on a module; evicts the module when none is left.
    pub(super) fn release(&mut self, key: CacheKey) {
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

    pub(super) fn evict(&mut self, key: CacheKey) {
        if let Some(e) = self.modules.remove(&key) {
            if let Some(seq) = e.staged_seq {
                self.staged.remove(&seq);
            }
            self.evicted_modules += 1;
            self.evicted_bytes = self.evicted_bytes.saturating_add(e.info.size);
            self.stats.evictions += 1;
        }
    }

    pub(super) fn stage(&mut self, key: CacheKey, max_staged: usize) {
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
}

impl Registry {
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
}
