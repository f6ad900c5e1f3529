//! The tenants' key-value store in SQLite, namespaced by tenant id, with a per-tenant quota.
//!
//! Guests reach it through the `kv.*` capabilities (the core passes the calling tenant's id,
//! never a guest-chosen one); tenants reach their own namespace through `/v1/kv/{key}`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use palisade::{KvError, KvStore};
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{StoreError, connect};
use crate::tenant::DEFAULT_KV_QUOTA_BYTES;

struct Inner {
    conn: Connection,
    /// Bytes used per tenant, loaded on first use.
    used: HashMap<String, usize>,
    quotas: HashMap<String, usize>,
}

/// A [`KvStore`] over SQLite.
pub struct SqliteKv {
    inner: Mutex<Inner>,
}

impl SqliteKv {
    /// Opens the KV tables of the database at `path` (its own connection).
    ///
    /// # Errors
    ///
    /// If SQLite cannot open the file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = connect(path)?;
        // Guest KV writes are acknowledged to the guest, not to an HTTP client, and happen on
        // the per-call path: in WAL mode, NORMAL survives a process crash (the WAL is written
        // before commit returns) and skips the fsync per write; power loss can lose the last
        // writes. Registry writes keep FULL.
        conn.execute_batch("PRAGMA synchronous=NORMAL;")
            .map_err(|e| format!("database: kv pragmas: {e}"))?;
        Ok(Self {
            inner: Mutex::new(Inner {
                conn,
                used: HashMap::new(),
                quotas: HashMap::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets a tenant's quota in bytes (keys + values).
    pub fn set_quota(&self, tenant: &str, bytes: usize) {
        self.lock().quotas.insert(tenant.to_owned(), bytes);
    }

    /// Bytes used by a tenant.
    ///
    /// # Errors
    ///
    /// [`KvError::Backend`] if the database fails.
    pub fn used_bytes(&self, tenant: &str) -> Result<usize, KvError> {
        let mut inner = self.lock();
        inner.used(tenant)
    }
}

impl Inner {
    fn used(&mut self, tenant: &str) -> Result<usize, KvError> {
        if let Some(&n) = self.used.get(tenant) {
            return Ok(n);
        }
        let n: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(SUM(length(key) + length(value)), 0) FROM kv WHERE tenant = ?1",
                params![tenant],
                |r| r.get(0),
            )
            .map_err(|e| backend(&e))?;
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        self.used.insert(tenant.to_owned(), n);
        Ok(n)
    }

    fn old_len(&self, tenant: &str, key: &[u8]) -> Result<Option<usize>, KvError> {
        self.conn
            .query_row(
                "SELECT length(value) FROM kv WHERE tenant = ?1 AND key = ?2",
                params![tenant, key],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|o| o.map(|n| usize::try_from(n).unwrap_or(0)))
            .map_err(|e| backend(&e))
    }
}

fn backend(e: &rusqlite::Error) -> KvError {
    tracing::error!(error = %e, "kv backend failure");
    KvError::Backend
}

impl KvStore for SqliteKv {
    fn get(&self, tenant: &str, key: &[u8], read: &mut dyn FnMut(&[u8])) -> Result<bool, KvError> {
        let inner = self.lock();
        let value: Option<Vec<u8>> = inner
            .conn
            .query_row(
                "SELECT value FROM kv WHERE tenant = ?1 AND key = ?2",
                params![tenant, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| backend(&e))?;
        match value {
            Some(v) => {
                read(&v);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn set(&self, tenant: &str, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        let mut inner = self.lock();
        let used = inner.used(tenant)?;
        let old = inner.old_len(tenant, key)?.map_or(0, |v| v + key.len());
        let quota = inner
            .quotas
            .get(tenant)
            .copied()
            .unwrap_or(DEFAULT_KV_QUOTA_BYTES);
        let new_total = used - old.min(used) + key.len() + value.len();
        if new_total > quota {
            return Err(KvError::Quota);
        }
        inner
            .conn
            .execute(
                "INSERT INTO kv (tenant, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT(tenant, key) DO UPDATE SET value = excluded.value",
                params![tenant, key, value],
            )
            .map_err(|e| backend(&e))?;
        inner.used.insert(tenant.to_owned(), new_total);
        Ok(())
    }

    fn delete(&self, tenant: &str, key: &[u8]) -> Result<bool, KvError> {
        let mut inner = self.lock();
        let used = inner.used(tenant)?;
        let Some(old) = inner.old_len(tenant, key)? else {
            return Ok(false);
        };
        inner
            .conn
            .execute(
                "DELETE FROM kv WHERE tenant = ?1 AND key = ?2",
                params![tenant, key],
            )
            .map_err(|e| backend(&e))?;
        inner
            .used
            .insert(tenant.to_owned(), used.saturating_sub(old + key.len()));
        Ok(true)
    }
}
