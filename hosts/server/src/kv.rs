//! The tenants' key-value store in SQLite, namespaced by tenant id, with a per-tenant quota.
//!
//! Guests reach it through the `kv.*` capabilities (the core passes the calling tenant's id,
//! never a guest-chosen one); tenants reach their own namespace through `/v1/kv/{key}`.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use palisade::{KvBackend, KvEntries, KvError, KvStore, Quota};
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{StoreError, connect};
use crate::tenant::DEFAULT_KV_QUOTA_BYTES;

/// The tenants' key-value store as the server uses it: a [`KvStore`] whose per-tenant quota
/// follows each tenant's configuration. A second backend (PostgreSQL) implements this; the
/// server holds an `Arc<dyn TenantKv>`.
pub trait TenantKv: KvStore {
    /// Sets a tenant's quota in bytes (keys + values).
    fn set_quota(&self, tenant: &str, bytes: usize);
}

impl<B: KvBackend> TenantKv for Quota<B> {
    fn set_quota(&self, tenant: &str, bytes: usize) {
        Quota::set_quota(self, tenant, bytes);
    }
}

/// The SQLite [`TenantKv`]: [`SqliteBackend`] behind the core's quota layer.
pub type SqliteKv = Quota<SqliteBackend>;

/// Opens the KV tables of the database at `path` (its own connection), with
/// [`DEFAULT_KV_QUOTA_BYTES`] per tenant until [`TenantKv::set_quota`] says otherwise.
///
/// # Errors
///
/// If SQLite cannot open the file.
pub fn open_sqlite(path: &Path) -> Result<SqliteKv, StoreError> {
    Ok(Quota::new(
        SqliteBackend::open(path)?,
        DEFAULT_KV_QUOTA_BYTES,
    ))
}

/// Tenants' entries in the `kv` table of SQLite; [`Quota`] does the accounting.
pub struct SqliteBackend {
    conn: Mutex<Connection>,
}

impl SqliteBackend {
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
            .map_err(|e| StoreError::database("kv pragmas", e))?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }
}

/// [`SqliteBackend`]'s connection under its lock.
pub struct SqliteEntries<'a>(MutexGuard<'a, Connection>);

impl KvBackend for SqliteBackend {
    type Entries<'a> = SqliteEntries<'a>;

    fn lock(&self) -> Result<SqliteEntries<'_>, KvError> {
        Ok(SqliteEntries(
            self.conn.lock().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

fn backend(e: &rusqlite::Error) -> KvError {
    tracing::error!(error = %e, "kv backend failure");
    KvError::Backend
}

impl KvEntries for SqliteEntries<'_> {
    fn get(
        &mut self,
        tenant: &str,
        key: &[u8],
        read: &mut dyn FnMut(&[u8]),
    ) -> Result<bool, KvError> {
        let value: Option<Vec<u8>> = self
            .0
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

    fn put(&mut self, tenant: &str, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.0
            .execute(
                "INSERT INTO kv (tenant, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT(tenant, key) DO UPDATE SET value = excluded.value",
                params![tenant, key, value],
            )
            .map_err(|e| backend(&e))?;
        Ok(())
    }

    fn remove(&mut self, tenant: &str, key: &[u8]) -> Result<bool, KvError> {
        let n = self
            .0
            .execute(
                "DELETE FROM kv WHERE tenant = ?1 AND key = ?2",
                params![tenant, key],
            )
            .map_err(|e| backend(&e))?;
        Ok(n > 0)
    }

    fn tenant_bytes(&mut self, tenant: &str) -> Result<usize, KvError> {
        let n: i64 = self
            .0
            .query_row(
                "SELECT COALESCE(SUM(length(key) + length(value)), 0) FROM kv WHERE tenant = ?1",
                params![tenant],
                |r| r.get(0),
            )
            .map_err(|e| backend(&e))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}
