//! Rollout: the promotion gate, active and previous versions, canaries and their request
//! routing, rollback, and restoring acknowledged state without the gate.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use crate::Tenant;
use crate::digest::Digest;
use crate::error::Error;
use crate::metrics::Metrics;

use super::generation::Resolved;
use super::{BASIS_POINTS, Canary, Registry, RegistryError, Smoke, unknown_plugin};

/// A plugin's versions and its per-tenant metrics.
#[derive(Default)]
pub(super) struct Plugin {
    pub(super) active: Option<Digest>,
    pub(super) previous: VecDeque<Digest>,
    pub(super) canary: Option<Canary>,
    pub(super) metrics: BTreeMap<Box<str>, Box<Metrics>>,
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
    pub(super) fn route(&self, key: &[u8]) -> Option<Digest> {
        match self.canary {
            Some(c) if route_bucket(key) < c.basis_points => Some(c.digest),
            _ => self.active,
        }
    }
}

impl Registry {
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
    /// is kept for [`Registry::rollback`]; past [`RegistryBuilder::keep_previous`](super::RegistryBuilder::keep_previous) the oldest
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
    /// versions past [`RegistryBuilder::keep_previous`](super::RegistryBuilder::keep_previous) are not kept.
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
}
