//! The promotion gate's KV: every smoke call runs as a tenant of its own whose namespace is
//! fresh, in memory, and discarded when the promotion ends.
//!
//! Smoke calls once shared one persistent namespace: one plugin's smoke calls could fill it
//! and fail another's promotion, and a smoke test that reads what an earlier one wrote could
//! pass once and fail the next time. Tenants' namespaces live in SQLite ([`TenantKv`]);
//! namespaces of tenants whose id starts with [`SMOKE_TENANT_PREFIX`] never reach it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use palisade::{KvError, KvStore, MemoryKv};

use crate::kv::TenantKv;
use crate::pool::foreground_section;

/// Id prefix of the throwaway tenants smoke calls run as. API tenant ids cannot start with
/// `_`, so no tenant can reach these namespaces.
pub const SMOKE_TENANT_PREFIX: &str = "_smoke-";

/// The runtime's KV: tenants' namespaces in SQLite, smoke tenants' in memory.
pub struct GateKv {
    tenants: Arc<dyn TenantKv>,
    scratch: Mutex<HashMap<String, MemoryKv>>,
    next: AtomicU64,
}

impl GateKv {
    /// Routes every tenant but smoke tenants to `tenants`.
    pub fn new(tenants: Arc<dyn TenantKv>) -> Self {
        Self {
            tenants,
            scratch: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
        }
    }

    fn scratch(&self) -> MutexGuard<'_, HashMap<String, MemoryKv>> {
        self.scratch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh, empty namespace for one promotion; it is discarded when the guard drops.
    pub fn scratch_space(&self) -> ScratchSpace<'_> {
        let id = format!(
            "{SMOKE_TENANT_PREFIX}{}",
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        self.scratch().insert(id.clone(), MemoryKv::new());
        ScratchSpace { kv: self, id }
    }
}

/// A smoke tenant's namespace, alive while this lives.
pub struct ScratchSpace<'a> {
    kv: &'a GateKv,
    id: String,
}

impl ScratchSpace<'_> {
    /// The id of the tenant the smoke call runs as.
    pub fn tenant_id(&self) -> &str {
        &self.id
    }
}

impl Drop for ScratchSpace<'_> {
    fn drop(&mut self) {
        self.kv.scratch().remove(&self.id);
    }
}

// Guests reach the KV store from worker threads, background ones included: every operation
// takes a store lock (SQLite's connection, PostgreSQL's pool, the quota table), so it runs in a
// foreground section (the pool's priority ceiling).
impl KvStore for GateKv {
    fn get(&self, tenant: &str, key: &[u8], read: &mut dyn FnMut(&[u8])) -> Result<bool, KvError> {
        let _fg = foreground_section();
        if tenant.starts_with(SMOKE_TENANT_PREFIX) {
            // A namespace already discarded (or never made) reads as empty.
            return self
                .scratch()
                .get(tenant)
                .map_or(Ok(false), |kv| kv.get(tenant, key, read));
        }
        self.tenants.get(tenant, key, read)
    }

    fn set(&self, tenant: &str, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        let _fg = foreground_section();
        if tenant.starts_with(SMOKE_TENANT_PREFIX) {
            return self
                .scratch()
                .get(tenant)
                .map_or(Err(KvError::Backend), |kv| kv.set(tenant, key, value));
        }
        self.tenants.set(tenant, key, value)
    }

    fn delete(&self, tenant: &str, key: &[u8]) -> Result<bool, KvError> {
        let _fg = foreground_section();
        if tenant.starts_with(SMOKE_TENANT_PREFIX) {
            return self
                .scratch()
                .get(tenant)
                .map_or(Ok(false), |kv| kv.delete(tenant, key));
        }
        self.tenants.delete(tenant, key)
    }

    fn used_bytes(&self, tenant: &str) -> Result<usize, KvError> {
        let _fg = foreground_section();
        if tenant.starts_with(SMOKE_TENANT_PREFIX) {
            return self
                .scratch()
                .get(tenant)
                .map_or(Ok(0), |kv| KvStore::used_bytes(kv, tenant));
        }
        self.tenants.used_bytes(tenant)
    }

    fn quota_bytes(&self, tenant: &str) -> usize {
        let _fg = foreground_section();
        if tenant.starts_with(SMOKE_TENANT_PREFIX) {
            return self
                .scratch()
                .get(tenant)
                .map_or(0, |kv| kv.quota_bytes(tenant));
        }
        self.tenants.quota_bytes(tenant)
    }

    fn commit(&self, tenant: &str, writes: &palisade::KvWrites) -> Result<(), KvError> {
        let _fg = foreground_section();
        if tenant.starts_with(SMOKE_TENANT_PREFIX) {
            return self
                .scratch()
                .get(tenant)
                .map_or(Err(KvError::Backend), |kv| kv.commit(tenant, writes));
        }
        self.tenants.commit(tenant, writes)
    }
}
