//! Tenant key-value storage: the [`KvStore`] the sandbox calls, the one quota layer
//! ([`Quota`]) every store sits behind, the in-memory backend ([`MemoryKv`]) and the buffer
//! that makes a call's writes take effect only if the call succeeds ([`KvWrites`]).
//!
//! A store is split in two: a [`KvBackend`] keeps entries and nothing else (memory, files,
//! SQLite, ...), and [`Quota`] wraps any backend to do the per-tenant byte accounting. So a new
//! backend is one small trait implementation, and the quota rule lives in one place.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::map::SortedMap;

/// Per-tenant quota (keys + values) a store uses when none is set for the tenant: 1 MiB.
///
/// The same default in every host (memory, desktop files, the server's SQLite); the server
/// sets each tenant's own quota from its configuration with [`Quota::set_quota`].
pub const DEFAULT_QUOTA_BYTES: usize = 1 << 20;

/// Why a KV operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvError {
    /// The tenant's namespace is full.
    Quota,
    /// The key or value is over a size limit.
    TooLarge,
    /// The backend failed.
    Backend,
}

impl core::fmt::Display for KvError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Quota => "the tenant's KV namespace is full: delete keys or raise its quota",
            Self::TooLarge => "the key or value is over a size limit: store less",
            Self::Backend => "the KV backend failed: check the host's storage and logs",
        })
    }
}

/// A key-value store namespaced by tenant. The sandbox passes the calling tenant's id; a
/// guest can never name another tenant.
///
/// The contract every implementation keeps (checked by `palisade-testkit`'s conformance
/// suite): keys and values are arbitrary bytes (empty ones included); tenants never see each
/// other's keys; a tenant's usage is the sum of its keys' and values' lengths, and a write that
/// would take it over its quota fails with [`KvError::Quota`] and changes nothing.
pub trait KvStore: Send + Sync {
    /// Looks `key` up in `tenant`'s namespace and hands the value to `read` without copying.
    /// Returns `Ok(false)` if the key is absent.
    ///
    /// # Errors
    ///
    /// [`KvError::Backend`] if the store failed.
    fn get(&self, tenant: &str, key: &[u8], read: &mut dyn FnMut(&[u8])) -> Result<bool, KvError>;

    /// Stores `value` under `key` in `tenant`'s namespace.
    ///
    /// # Errors
    ///
    /// [`KvError::Quota`] when the namespace is full; [`KvError::Backend`] if the store failed.
    fn set(&self, tenant: &str, key: &[u8], value: &[u8]) -> Result<(), KvError>;

    /// Removes `key`; returns whether it existed.
    ///
    /// # Errors
    ///
    /// [`KvError::Backend`] if the store failed.
    fn delete(&self, tenant: &str, key: &[u8]) -> Result<bool, KvError>;

    /// Bytes (keys + values) stored for `tenant`. The default, for a store without a quota,
    /// is `0`.
    ///
    /// A store with a quota must report both this and [`KvStore::quota_bytes`]: a call's
    /// buffered writes are checked against them, so that the guest learns `QUOTA` at the write
    /// that does not fit rather than the whole call failing at commit.
    ///
    /// # Errors
    ///
    /// [`KvError::Backend`] if the store failed.
    fn used_bytes(&self, _tenant: &str) -> Result<usize, KvError> {
        Ok(0)
    }

    /// `tenant`'s quota in bytes (keys + values). The default, for a store without a quota,
    /// is `usize::MAX`.
    fn quota_bytes(&self, _tenant: &str) -> usize {
        usize::MAX
    }

    /// Applies a call's buffered writes to `tenant`'s namespace: all of them, or — if the
    /// final state would be over the quota — none.
    ///
    /// The default applies deletes first, then sets, growing ones last, through
    /// [`KvStore::delete`] and [`KvStore::set`]; [`Quota`] overrides it to check the whole
    /// batch under one lock.
    ///
    /// # Errors
    ///
    /// [`KvError::Quota`] if the writes do not fit; [`KvError::Backend`] if the store failed
    /// (a backend failure part-way can leave part of the batch applied).
    fn commit(&self, tenant: &str, writes: &KvWrites) -> Result<(), KvError> {
        let mut sets: Vec<(&[u8], &[u8], isize)> = Vec::new();
        for (key, staged) in &writes.entries {
            match &staged.value {
                None => {
                    self.delete(tenant, key)?;
                }
                Some(value) => {
                    let growth =
                        size_of(key, Some(value)) as isize - staged.base.map_or(0, |b| b as isize);
                    sets.push((key, value, growth));
                }
            }
        }
        sets.sort_by_key(|&(_, _, growth)| growth);
        for (key, value, _) in sets {
            self.set(tenant, key, value)?;
        }
        Ok(())
    }
}

/// Where a [`Quota`] keeps entries: storage only, no accounting.
///
/// [`KvBackend::lock`] gives exclusive access to the entries for the length of one store
/// operation; [`Quota`] does its check-then-write under it, so two writers can never both pass
/// the quota check on the same free bytes.
pub trait KvBackend: Send + Sync {
    /// Exclusive access to the entries (a mutex guard, a database connection).
    type Entries<'a>: KvEntries
    where
        Self: 'a;

    /// Takes exclusive access.
    ///
    /// # Errors
    ///
    /// [`KvError::Backend`] if the backend cannot be reached.
    fn lock(&self) -> Result<Self::Entries<'_>, KvError>;
}

/// The entries of a [`KvBackend`], under its lock.
pub trait KvEntries {
    /// Looks `key` up and hands its value to `read`; `Ok(false)` if absent.
    ///
    /// # Errors
    ///
    /// [`KvError::Backend`] if the backend failed.
    fn get(
        &mut self,
        tenant: &str,
        key: &[u8],
        read: &mut dyn FnMut(&[u8]),
    ) -> Result<bool, KvError>;

    /// Stores `value` under `key` (no quota check: [`Quota`] has done it).
    ///
    /// # Errors
    ///
    /// [`KvError::Backend`] if the backend failed.
    fn put(&mut self, tenant: &str, key: &[u8], value: &[u8]) -> Result<(), KvError>;

    /// Removes `key`; returns whether it existed.
    ///
    /// # Errors
    ///
    /// [`KvError::Backend`] if the backend failed.
    fn remove(&mut self, tenant: &str, key: &[u8]) -> Result<bool, KvError>;

    /// The sum of `tenant`'s key and value lengths, read from storage. [`Quota`] calls it once
    /// per tenant and keeps the running total itself.
    ///
    /// # Errors
    ///
    /// [`KvError::Backend`] if the backend failed.
    fn tenant_bytes(&mut self, tenant: &str) -> Result<usize, KvError>;
}

/// The bytes an entry counts against the quota.
fn size_of(key: &[u8], value: Option<&Vec<u8>>) -> usize {
    value.map_or(0, |v| key.len() + v.len())
}

/// The size (key + value) of `key`'s entry in `entries`, `None` if absent.
fn stored_size(
    entries: &mut dyn KvEntries,
    tenant: &str,
    key: &[u8],
) -> Result<Option<usize>, KvError> {
    let mut len = 0;
    let found = entries.get(tenant, key, &mut |v| len = v.len())?;
    Ok(found.then_some(key.len() + len))
}

/// The quota layer: per-tenant byte accounting over any [`KvBackend`]; the only place in the
/// workspace that counts a tenant's bytes or enforces its quota.
///
/// Usage is read from the backend once per tenant ([`KvEntries::tenant_bytes`]) and kept
/// here after that, so the backend must not be written behind the layer's back.
#[derive(Debug)]
pub struct Quota<B> {
    backend: B,
    default_quota: usize,
    /// Quotas set per tenant with [`Quota::set_quota`].
    quotas: spin::Mutex<SortedMap<Box<str>, usize>>,
    /// Bytes used per tenant, once known. Locked only while the backend's lock is held, so
    /// never contended.
    used: spin::Mutex<SortedMap<Box<str>, usize>>,
}

impl<B: KvBackend> Quota<B> {
    /// Puts `backend` behind the quota layer, with `default_quota` bytes per tenant
    /// ([`DEFAULT_QUOTA_BYTES`] is the usual choice).
    pub fn new(backend: B, default_quota: usize) -> Self {
        Self {
            backend,
            default_quota,
            quotas: spin::Mutex::new(SortedMap::new()),
            used: spin::Mutex::new(SortedMap::new()),
        }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Sets `tenant`'s quota in bytes (keys + values). Entries already stored stay; writes
    /// fail with [`KvError::Quota`] until the tenant is back under it.
    pub fn set_quota(&self, tenant: &str, bytes: usize) {
        self.quotas.lock().insert(tenant.into(), bytes);
    }

    fn used_in(&self, entries: &mut B::Entries<'_>, tenant: &str) -> Result<usize, KvError> {
        if let Some(&n) = self.used.lock().get(tenant) {
            return Ok(n);
        }
        let n = entries.tenant_bytes(tenant)?;
        self.used.lock().insert(tenant.into(), n);
        Ok(n)
    }

    fn record_used(&self, tenant: &str, bytes: usize) {
        self.used.lock().insert(tenant.into(), bytes);
    }
}

impl<B: KvBackend> KvStore for Quota<B> {
    fn get(&self, tenant: &str, key: &[u8], read: &mut dyn FnMut(&[u8])) -> Result<bool, KvError> {
        self.backend.lock()?.get(tenant, key, read)
    }

    fn set(&self, tenant: &str, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        let mut entries = self.backend.lock()?;
        let used = self.used_in(&mut entries, tenant)?;
        let old = stored_size(&mut entries, tenant, key)?.unwrap_or(0);
        let new_total = used - old.min(used) + key.len() + value.len();
        if new_total > self.quota_bytes(tenant) {
            return Err(KvError::Quota);
        }
        entries.put(tenant, key, value)?;
        self.record_used(tenant, new_total);
        Ok(())
    }

    fn delete(&self, tenant: &str, key: &[u8]) -> Result<bool, KvError> {
        let mut entries = self.backend.lock()?;
        let used = self.used_in(&mut entries, tenant)?;
        let Some(old) = stored_size(&mut entries, tenant, key)? else {
            return Ok(false);
        };
        let existed = entries.remove(tenant, key)?;
        self.record_used(tenant, used.saturating_sub(old));
        Ok(existed)
    }

    fn used_bytes(&self, tenant: &str) -> Result<usize, KvError> {
        let mut entries = self.backend.lock()?;
        self.used_in(&mut entries, tenant)
    }

    fn quota_bytes(&self, tenant: &str) -> usize {
        self.quotas
            .lock()
            .get(tenant)
            .copied()
            .unwrap_or(self.default_quota)
    }

    fn commit(&self, tenant: &str, writes: &KvWrites) -> Result<(), KvError> {
        let mut entries = self.backend.lock()?;
        let mut total = self.used_in(&mut entries, tenant)?;
        // Sizes are re-read under the lock: another call of the same tenant may have committed
        // since this one buffered its writes.
        for (key, staged) in &writes.entries {
            let old = stored_size(&mut entries, tenant, key)?.unwrap_or(0);
            total = total - old.min(total) + size_of(key, staged.value.as_ref());
        }
        if writes.entries.values().any(|s| s.value.is_some()) && total > self.quota_bytes(tenant) {
            return Err(KvError::Quota);
        }
        let mut applied = Ok(());
        for (key, staged) in &writes.entries {
            applied = match &staged.value {
                Some(value) => entries.put(tenant, key, value),
                None => entries.remove(tenant, key).map(|_| ()),
            };
            if applied.is_err() {
                break;
            }
        }
        // After a backend failure part-way the running total is unknown: drop it so that the
        // next operation reads it from the backend again.
        match applied {
            Ok(()) => self.record_used(tenant, total),
            Err(_) => {
                self.used.lock().remove(tenant);
            }
        }
        applied
    }
}

/// Tenant → key → value.
type Spaces = SortedMap<Box<str>, SortedMap<Vec<u8>, Vec<u8>>>;

/// The entries of a [`MemoryKv`]: tenant → key → value.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    spaces: spin::Mutex<Spaces>,
}

/// [`MemoryBackend`]'s entries under its lock.
pub struct MemoryEntries<'a>(spin::MutexGuard<'a, Spaces>);

impl KvBackend for MemoryBackend {
    type Entries<'a> = MemoryEntries<'a>;

    fn lock(&self) -> Result<MemoryEntries<'_>, KvError> {
        Ok(MemoryEntries(self.spaces.lock()))
    }
}

impl KvEntries for MemoryEntries<'_> {
    fn get(
        &mut self,
        tenant: &str,
        key: &[u8],
        read: &mut dyn FnMut(&[u8]),
    ) -> Result<bool, KvError> {
        match self.0.get(tenant).and_then(|ns| ns.get(key)) {
            Some(value) => {
                read(value);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn put(&mut self, tenant: &str, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.0
            .get_or_insert_with(tenant, |t| t.into(), SortedMap::new)
            .insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn remove(&mut self, tenant: &str, key: &[u8]) -> Result<bool, KvError> {
        Ok(self
            .0
            .get_mut(tenant)
            .and_then(|ns| ns.remove(key))
            .is_some())
    }

    fn tenant_bytes(&mut self, tenant: &str) -> Result<usize, KvError> {
        Ok(self
            .0
            .get(tenant)
            .map_or(0, |ns| ns.iter().map(|(k, v)| k.len() + v.len()).sum()))
    }
}

/// An in-memory [`KvStore`] with a per-tenant byte quota: a [`MemoryBackend`] behind
/// [`Quota`]. Nothing persists.
#[derive(Debug)]
pub struct MemoryKv(Quota<MemoryBackend>);

impl MemoryKv {
    /// Per-tenant quota (keys + values) of [`MemoryKv::new`]: [`DEFAULT_QUOTA_BYTES`].
    pub const DEFAULT_QUOTA_BYTES: usize = DEFAULT_QUOTA_BYTES;

    /// A store with [`DEFAULT_QUOTA_BYTES`] per tenant.
    pub fn new() -> Self {
        Self::with_quota(DEFAULT_QUOTA_BYTES)
    }

    /// A store with the given per-tenant quota in bytes (keys + values).
    pub fn with_quota(quota_bytes: usize) -> Self {
        Self(Quota::new(MemoryBackend::default(), quota_bytes))
    }

    /// Bytes (keys + values) stored for `tenant`.
    pub fn used_bytes(&self, tenant: &str) -> usize {
        // The memory backend cannot fail.
        KvStore::used_bytes(&self.0, tenant).unwrap_or(0)
    }

    /// Sets `tenant`'s quota in bytes (see [`Quota::set_quota`]).
    pub fn set_quota(&self, tenant: &str, bytes: usize) {
        self.0.set_quota(tenant, bytes);
    }
}

impl Default for MemoryKv {
    fn default() -> Self {
        Self::new()
    }
}

impl KvStore for MemoryKv {
    fn get(&self, tenant: &str, key: &[u8], read: &mut dyn FnMut(&[u8])) -> Result<bool, KvError> {
        self.0.get(tenant, key, read)
    }

    fn set(&self, tenant: &str, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.0.set(tenant, key, value)
    }

    fn delete(&self, tenant: &str, key: &[u8]) -> Result<bool, KvError> {
        self.0.delete(tenant, key)
    }

    fn used_bytes(&self, tenant: &str) -> Result<usize, KvError> {
        KvStore::used_bytes(&self.0, tenant)
    }

    fn quota_bytes(&self, tenant: &str) -> usize {
        self.0.quota_bytes(tenant)
    }

    fn commit(&self, tenant: &str, writes: &KvWrites) -> Result<(), KvError> {
        self.0.commit(tenant, writes)
    }
}

/// One key's buffered write.
#[derive(Debug)]
struct Staged {
    /// The new value; `None` for a delete.
    value: Option<Vec<u8>>,
    /// The entry's size (key + value) in the store when the call first touched the key.
    base: Option<usize>,
}

/// A call's KV writes, buffered until the call ends: [`KvStore::commit`]ted if it succeeds,
/// dropped otherwise (the rule is in `docs/ABI.md`, "KV call scope").
///
/// Reads through the buffer see the call's own writes. Each write is checked against the
/// tenant's quota as if every earlier write of the call had been applied, so a guest learns
/// `QUOTA` at the write that does not fit, as it would without the buffer.
#[derive(Debug, Default)]
pub struct KvWrites {
    entries: SortedMap<Vec<u8>, Staged>,
    /// Bytes the buffered writes add to (or, negative, free from) the tenant's usage.
    delta: isize,
}

impl KvWrites {
    /// Whether the call wrote nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The buffered writes in key order: `(key, Some(value))` for a set, `(key, None)` for a
    /// delete.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.entries
            .iter()
            .map(|(k, s)| (k.as_slice(), s.value.as_deref()))
    }

    /// Reads `key` as the call sees it: its own write if it made one, else the store's value.
    pub(crate) fn get(
        &self,
        store: &dyn KvStore,
        tenant: &str,
        key: &[u8],
        read: &mut dyn FnMut(&[u8]),
    ) -> Result<bool, KvError> {
        match self.entries.get(key) {
            Some(Staged { value: Some(v), .. }) => {
                read(v);
                Ok(true)
            }
            Some(Staged { value: None, .. }) => Ok(false),
            None => store.get(tenant, key, read),
        }
    }

    /// The current size of `key` as the call sees it, and its size in the store.
    fn sizes(
        &self,
        store: &dyn KvStore,
        tenant: &str,
        key: &[u8],
    ) -> Result<(Option<usize>, Option<usize>), KvError> {
        if let Some(s) = self.entries.get(key) {
            let current = s.value.as_ref().map(|v| key.len() + v.len());
            return Ok((current, s.base));
        }
        let mut len = 0;
        let found = store.get(tenant, key, &mut |v| len = v.len())?;
        let base = found.then_some(key.len() + len);
        Ok((base, base))
    }

    /// Buffers `key = value`.
    ///
    /// # Errors
    ///
    /// [`KvError::Quota`] if the tenant's usage with this call's writes would pass its quota;
    /// [`KvError::Backend`] if the store failed.
    pub(crate) fn set(
        &mut self,
        store: &dyn KvStore,
        tenant: &str,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), KvError> {
        let (current, base) = self.sizes(store, tenant, key)?;
        let new_size = key.len() + value.len();
        let delta = self.delta - current.unwrap_or(0) as isize + new_size as isize;
        // In i128: a store without a quota reports `usize::MAX`, which does not fit an isize.
        let used = store.used_bytes(tenant)? as i128;
        if used + delta as i128 > store.quota_bytes(tenant) as i128 {
            return Err(KvError::Quota);
        }
        self.delta = delta;
        self.entries.insert(
            key.to_vec(),
            Staged {
                value: Some(value.to_vec()),
                base,
            },
        );
        Ok(())
    }

    /// Buffers the removal of `key`; returns whether it existed as the call sees it.
    ///
    /// # Errors
    ///
    /// [`KvError::Backend`] if the store failed.
    pub(crate) fn delete(
        &mut self,
        store: &dyn KvStore,
        tenant: &str,
        key: &[u8],
    ) -> Result<bool, KvError> {
        let (current, base) = self.sizes(store, tenant, key)?;
        let Some(current) = current else {
            return Ok(false);
        };
        self.delta -= current as isize;
        self.entries
            .insert(key.to_vec(), Staged { value: None, base });
        Ok(true)
    }
}
