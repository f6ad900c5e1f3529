//! [`SqliteStore`], the embedded [`RegistryStore`]: module bytes content-addressed on disk,
//! everything else in SQLite.
//!
//! Layout of the data directory:
//!
//! ```text
//! DIR/palisade.db            SQLite (WAL, synchronous=FULL): registry, tenants, KV, meta
//! DIR/modules/<sha256>.wasm  module bytes, named by their digest
//! DIR/modules/<sha256>.br    brotli variant, computed once at upload
//! DIR/modules/<sha256>.gz    gzip variant, computed once at upload
//! DIR/admin-token            the admin token, written once at first start (mode 0600)
//! ```
//!
//! Crash safety: module files are written to a temporary name, fsynced, renamed into place and
//! the directory fsynced, *before* the SQLite transaction that references them commits. A
//! crash at any point leaves either no row (the upload was not acknowledged; at worst an
//! orphan file remains, which a later identical upload reuses) or a row whose files are
//! complete. An HTTP 201 is sent only after the commit.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use palisade::Digest;
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    Encoding, PluginState, RegistryStore, Snapshot, StoreError, TenantRow, VersionRow, compress,
    write_atomic,
};

/// Schema, applied idempotently at open.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS modules (
  digest TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
  plugin TEXT NOT NULL,
  version TEXT NOT NULL,
  digest TEXT NOT NULL REFERENCES modules(digest),
  seq INTEGER NOT NULL,
  signer TEXT,
  meta TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (plugin, version)
);
CREATE TABLE IF NOT EXISTS plugins (
  name TEXT PRIMARY KEY,
  state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tenants (
  id TEXT PRIMARY KEY,
  token_hash BLOB NOT NULL,
  config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
  tenant TEXT NOT NULL,
  key BLOB NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (tenant, key)
);
";

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn sql<T>(what: &'static str, r: rusqlite::Result<T>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::database(what, e))
}

/// Opens a connection with the pragmas every connection needs.
///
/// # Errors
///
/// If SQLite cannot open the file.
pub fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = sql("open", Connection::open(path))?;
    sql(
        "pragmas",
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000; PRAGMA wal_autocheckpoint=0;",
        ),
    )?;
    Ok(conn)
}

/// How often the background checkpointer folds the WAL into the database: 1 s.
pub const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Starts the thread that checkpoints the WAL every [`CHECKPOINT_EVERY`] until `stop`.
///
/// Connections never checkpoint by themselves (`wal_autocheckpoint=0`): a checkpoint
/// fsyncs the database, and inside a guest's `kv_set` that would stall the call (and count
/// against its deadline) whenever the disk is slow.
///
/// # Errors
///
/// If the connection or the thread cannot be opened.
pub fn spawn_checkpointer(
    path: &Path,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, StoreError> {
    let conn = connect(path)?;
    std::thread::Builder::new()
        .name("palisade-checkpoint".into())
        .spawn(move || {
            let step = std::time::Duration::from_millis(50);
            let mut waited = std::time::Duration::ZERO;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(step);
                waited += step;
                if waited >= CHECKPOINT_EVERY {
                    waited = std::time::Duration::ZERO;
                    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);") {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
            }
            let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
        })
        .map_err(|source| StoreError::Thread {
            name: "WAL checkpoint",
            source,
        })
}

/// The data directory: SQLite plus content-addressed module files.
pub struct SqliteStore {
    dir: PathBuf,
    modules: PathBuf,
    db: Mutex<Connection>,
    /// Held for the store's life: the exclusive lock on `DIR/LOCK`.
    _lock: File,
}

impl SqliteStore {
    /// Opens (creating if needed) the data directory.
    ///
    /// # Errors
    ///
    /// If the directory cannot be created or the database opened.
    /// The directory is created `0700` and locked for this process (a second server on it
    /// is refused); the database and its `-wal`/`-shm` files are made `0600`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        crate::datadir::create_private_dir(dir)?;
        let lock = crate::datadir::lock(dir)?;
        let modules = dir.join("modules");
        fs::create_dir_all(&modules).map_err(|e| StoreError::io("cannot create", &modules, e))?;
        let db = dir.join("palisade.db");
        crate::datadir::precreate_private(&db)?;
        let conn = connect(&db)?;
        sql("schema", conn.execute_batch(SCHEMA))?;
        crate::datadir::restrict_database(&db)?;
        Ok(Self {
            dir: dir.to_owned(),
            modules,
            db: Mutex::new(conn),
            _lock: lock,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the SQLite database.
    pub fn db_path(&self) -> PathBuf {
        self.dir.join("palisade.db")
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The path of a module file in an encoding.
    pub fn module_path(&self, digest: &Digest, encoding: Encoding) -> PathBuf {
        self.modules
            .join(format!("{digest}.{}", encoding.extension()))
    }

    fn get_state(conn: &Connection, plugin: &str) -> Result<PluginState, StoreError> {
        let json: Option<String> = sql(
            "get plugin state",
            conn.query_row(
                "SELECT state FROM plugins WHERE name = ?1",
                params![plugin],
                |r| r.get(0),
            )
            .optional(),
        )?;
        json.map_or(Ok(PluginState::default()), |j| {
            serde_json::from_str(&j).map_err(|e| StoreError::corrupt(format!("plugin {plugin}"), e))
        })
    }

    fn put_state(conn: &Connection, plugin: &str, state: &PluginState) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(state).map_err(|e| StoreError::encode("plugin state", e))?;
        sql(
            "put plugin state",
            conn.execute(
                "INSERT INTO plugins (name, state) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET state = excluded.state",
                params![plugin, json],
            ),
        )
        .map(|_| ())
    }
}

impl RegistryStore for SqliteStore {
    fn put_module(&self, digest: &Digest, bytes: &[u8], quality: u32) -> Result<(), StoreError> {
        let (br, gz) = compress(bytes, quality)?;
        // Variants first, identity last: identity present means the set is complete.
        write_atomic(&self.module_path(digest, Encoding::Brotli), &br)?;
        write_atomic(&self.module_path(digest, Encoding::Gzip), &gz)?;
        write_atomic(&self.module_path(digest, Encoding::Identity), bytes)
    }

    fn read_module_encoded(
        &self,
        digest: &Digest,
        encoding: Encoding,
    ) -> Result<Vec<u8>, StoreError> {
        let path = self.module_path(digest, encoding);
        fs::read(&path).map_err(|e| StoreError::io("read", &path, e))
    }

    fn read_module(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.module_path(digest, Encoding::Identity);
        let bytes = fs::read(&path).map_err(|e| StoreError::io("read", &path, e))?;
        if Digest::of(&bytes) != *digest {
            return Err(StoreError::corrupt(
                path.display().to_string(),
                "does not hash to its name",
            ));
        }
        Ok(bytes)
    }

    fn has_module(&self, digest: &Digest) -> Result<bool, StoreError> {
        let conn = self.conn();
        let found: Option<i64> = sql(
            "has_module",
            conn.query_row(
                "SELECT 1 FROM modules WHERE digest = ?1",
                params![digest.to_string()],
                |r| r.get(0),
            )
            .optional(),
        )?;
        Ok(found.is_some())
    }

    fn insert_version(&self, row: &VersionRow, size: usize) -> Result<i64, StoreError> {
        let mut conn = self.conn();
        let tx = sql("begin", conn.transaction())?;
        let digest = row.digest.to_string();
        sql(
            "insert module",
            tx.execute(
                "INSERT OR IGNORE INTO modules (digest, size, created_at) VALUES (?1, ?2, ?3)",
                params![digest, i64::try_from(size).unwrap_or(i64::MAX), now_secs()],
            ),
        )?;
        let seq: i64 = sql(
            "next seq",
            tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM versions", [], |r| {
                r.get(0)
            }),
        )?;
        let meta =
            serde_json::to_string(&row.meta).map_err(|e| StoreError::encode("version meta", e))?;
        sql(
            "insert version",
            tx.execute(
                "INSERT INTO versions (plugin, version, digest, seq, signer, meta, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    row.plugin,
                    row.version,
                    digest,
                    seq,
                    row.signer,
                    meta,
                    now_secs()
                ],
            ),
        )?;
        sql("commit", tx.commit())?;
        Ok(seq)
    }

    fn set_plugin_state(
        &self,
        plugin: &str,
        expected: &PluginState,
        state: &PluginState,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = sql("begin", conn.transaction())?;
        let stored = Self::get_state(&tx, plugin)?;
        if stored != *expected {
            return Err(StoreError::Conflict {
                plugin: plugin.to_owned(),
            });
        }
        Self::put_state(&tx, plugin, state)?;
        sql("commit", tx.commit())
    }

    fn prune(
        &self,
        plugin: &str,
        keep_newest: usize,
        protect: &[Digest],
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        let tx = sql("begin", conn.transaction())?;
        let state = Self::get_state(&tx, plugin)?;
        let versions = {
            let mut stmt = sql(
                "prune: list versions",
                tx.prepare("SELECT version, digest, seq FROM versions WHERE plugin = ?1"),
            )?;
            let rows = sql(
                "prune: list versions",
                stmt.query_map(params![plugin], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                }),
            )?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::database("prune: list versions", e))?
        };
        let doomed = super::doomed(&versions, &state, keep_newest, protect);
        for v in &doomed {
            sql(
                "prune: delete version",
                tx.execute(
                    "DELETE FROM versions WHERE plugin = ?1 AND version = ?2",
                    params![plugin, v],
                ),
            )?;
        }
        let orphans = {
            let mut stmt = sql(
                "prune: orphan modules",
                tx.prepare(
                    "SELECT digest FROM modules WHERE digest NOT IN (SELECT digest FROM versions)",
                ),
            )?;
            let rows = sql(
                "prune: orphan modules",
                stmt.query_map([], |r| r.get::<_, String>(0)),
            )?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::database("prune: orphan modules", e))?
        };
        sql(
            "prune: delete modules",
            tx.execute(
                "DELETE FROM modules WHERE digest NOT IN (SELECT digest FROM versions)",
                [],
            ),
        )?;
        sql("commit", tx.commit())?;
        // Files after the commit: a crash in between leaves orphan files, never a row
        // without its files. Identity first, so an incomplete set never looks complete.
        for hex in orphans {
            let Some(digest) = Digest::from_hex(&hex) else {
                continue;
            };
            for encoding in Encoding::ALL {
                let path = self.module_path(&digest, encoding);
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io("cannot delete", &path, e)),
                }
            }
        }
        Ok(doomed)
    }

    fn put_tenant(&self, row: &TenantRow) -> Result<(), StoreError> {
        let json = serde_json::to_string(&row.config)
            .map_err(|e| StoreError::encode("tenant config", e))?;
        sql(
            "put tenant",
            self.conn().execute(
                "INSERT INTO tenants (id, token_hash, config) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET token_hash = excluded.token_hash, config = excluded.config",
                params![row.id, &row.token_hash[..], json],
            ),
        )
        .map(|_| ())
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sql(
            "meta",
            self.conn()
                .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                    r.get(0)
                })
                .optional(),
        )
    }

    fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        sql(
            "set meta",
            self.conn().execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            ),
        )
        .map(|_| ())
    }

    fn load(&self) -> Result<Snapshot, StoreError> {
        let conn = self.conn();
        let mut snap = Snapshot::default();
        let mut stmt = sql(
            "load versions",
            conn.prepare(
                "SELECT plugin, version, digest, seq, signer, meta FROM versions ORDER BY seq",
            ),
        )?;
        let rows = sql(
            "load versions",
            stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                ))
            }),
        )?;
        for row in rows {
            let (plugin, version, digest, seq, signer, meta) = sql("load versions", row)?;
            let digest = Digest::from_hex(&digest).ok_or_else(|| {
                StoreError::corrupt(
                    format!("version {plugin}@{version}"),
                    format!("bad digest {digest}"),
                )
            })?;
            let meta = serde_json::from_str(&meta)
                .map_err(|e| StoreError::corrupt(format!("version {plugin}@{version}"), e))?;
            snap.versions.push(VersionRow {
                plugin,
                version,
                digest,
                seq,
                signer,
                meta,
            });
        }
        drop(stmt);
        let mut stmt = sql(
            "load plugins",
            conn.prepare("SELECT name, state FROM plugins"),
        )?;
        let rows = sql(
            "load plugins",
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))),
        )?;
        for row in rows {
            let (name, state) = sql("load plugins", row)?;
            let state = serde_json::from_str(&state)
                .map_err(|e| StoreError::corrupt(format!("plugin {name}"), e))?;
            snap.plugins.insert(name, state);
        }
        drop(stmt);
        let mut stmt = sql(
            "load tenants",
            conn.prepare("SELECT id, token_hash, config FROM tenants ORDER BY id"),
        )?;
        let rows = sql(
            "load tenants",
            stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            }),
        )?;
        for row in rows {
            let (id, hash, config) = sql("load tenants", row)?;
            let token_hash: [u8; 32] = hash.try_into().map_err(|_| {
                StoreError::corrupt(format!("tenant {id}"), "token hash is not 32 bytes")
            })?;
            let config = serde_json::from_str(&config)
                .map_err(|e| StoreError::corrupt(format!("tenant {id}"), e))?;
            snap.tenants.push(TenantRow {
                id,
                token_hash,
                config,
            });
        }
        Ok(snap)
    }
}
