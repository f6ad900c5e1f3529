//! Persistence, embedded: module bytes content-addressed on disk, everything else in SQLite.
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

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use palisade::Digest;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// A store error: a message for the operator, already naming the path or statement.
pub type StoreError = String;

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

fn sql<T>(what: &str, r: rusqlite::Result<T>) -> Result<T, StoreError> {
    r.map_err(|e| format!("database: {what}: {e}"))
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
        .map_err(|e| format!("checkpoint thread: {e}"))
}

/// One stored plugin version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    /// Plugin name.
    pub plugin: String,
    /// Version string.
    pub version: String,
    /// Module digest.
    pub digest: Digest,
    /// Upload order (global, increasing).
    pub seq: i64,
    /// The signer's public key in hex, if the bundle was signed.
    pub signer: Option<String>,
    /// What the manifest said.
    pub meta: StoredMeta,
}

/// The rollout state of a plugin as the core registry reports it, persisted as JSON.
/// Digests are hex.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginState {
    /// The version serving traffic.
    pub active: Option<String>,
    /// Previously active versions, most recent first: `rollback` brings back the first.
    pub previous: Vec<String>,
    /// The canary digest and its share in basis points.
    pub canary: Option<(String, u16)>,
}

/// What the uploader said about a version: the bundle manifest's fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMeta {
    /// Where the module came from.
    pub provenance: String,
    /// Capabilities the manifest asked for.
    pub capabilities: Vec<String>,
    /// The smoke test: entry, input and expected output (hex).
    pub smoke: Option<(String, String, String)>,
}

/// A tenant as stored (without its token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantRow {
    /// Tenant id.
    pub id: String,
    /// SHA-256 of its token.
    pub token_hash: [u8; 32],
    /// Grants and limits.
    pub config: crate::tenant::TenantConfig,
}

/// Everything the registry tables hold, as loaded at startup.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Every version, in upload order.
    pub versions: Vec<VersionRow>,
    /// Rollout state per plugin.
    pub plugins: BTreeMap<String, PluginState>,
    /// Every tenant.
    pub tenants: Vec<TenantRow>,
}

/// The data directory: SQLite plus content-addressed module files.
pub struct Store {
    dir: PathBuf,
    modules: PathBuf,
    db: Mutex<Connection>,
    /// Held for the store's life: the exclusive lock on `DIR/LOCK`.
    _lock: File,
}

/// The encodings a module is stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The module bytes as uploaded.
    Identity,
    /// Brotli.
    Brotli,
    /// Gzip.
    Gzip,
}

impl Encoding {
    fn extension(self) -> &'static str {
        match self {
            Self::Identity => "wasm",
            Self::Brotli => "br",
            Self::Gzip => "gz",
        }
    }

    /// The `Content-Encoding` value, if any.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Self::Identity => None,
            Self::Brotli => Some("br"),
            Self::Gzip => Some("gzip"),
        }
    }
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync of the directory.
///
/// # Errors
///
/// The I/O error, naming the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    write_atomic_mode(path, bytes, 0o644)
}

/// [`write_atomic`] with the file created with `mode` (on Unix) from its first byte, so a
/// secret is never readable by others, not even briefly.
///
/// # Errors
///
/// The I/O error, naming the path.
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| format!("randomness: {e}"))?;
    let tmp = dir.join(format!(".{name}.{:016x}.tmp", u64::from_le_bytes(nonce)));
    let io = |what: &str, e: std::io::Error| format!("{what} {}: {e}", tmp.display());
    let mut f = crate::datadir::create_file(&tmp, mode).map_err(|e| io("create", e))?;
    f.write_all(bytes).map_err(|e| io("write", e))?;
    f.sync_all().map_err(|e| io("fsync", e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| format!("rename to {}: {e}", path.display()))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("fsync {}: {e}", dir.display()))
}

/// Compresses `bytes` with brotli at `quality` and with gzip (best).
///
/// # Errors
///
/// Only on an internal encoder failure.
pub fn compress(bytes: &[u8], quality: u32) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
    let mut br = Vec::with_capacity(bytes.len() / 2);
    {
        let params = brotli::enc::BrotliEncoderParams {
            quality: i32::try_from(quality).unwrap_or(9),
            lgwin: 22,
            ..Default::default()
        };
        brotli::BrotliCompress(&mut &bytes[..], &mut br, &params)
            .map_err(|e| format!("brotli: {e}"))?;
    }
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 2),
        flate2::Compression::best(),
    );
    gz.write_all(bytes).map_err(|e| format!("gzip: {e}"))?;
    let gz = gz.finish().map_err(|e| format!("gzip: {e}"))?;
    Ok((br, gz))
}

impl Store {
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
        fs::create_dir_all(&modules)
            .map_err(|e| format!("cannot create {}: {e}", modules.display()))?;
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

    /// Writes the module and its precompressed variants (idempotent: same digest, same bytes).
    ///
    /// # Errors
    ///
    /// On I/O failure.
    pub fn put_module(
        &self,
        digest: &Digest,
        bytes: &[u8],
        quality: u32,
    ) -> Result<(), StoreError> {
        let (br, gz) = compress(bytes, quality)?;
        // Variants first, identity last: identity present means the set is complete.
        write_atomic(&self.module_path(digest, Encoding::Brotli), &br)?;
        write_atomic(&self.module_path(digest, Encoding::Gzip), &gz)?;
        write_atomic(&self.module_path(digest, Encoding::Identity), bytes)
    }

    /// Reads a module's bytes (identity), checking them against the digest.
    ///
    /// # Errors
    ///
    /// If the file is missing or corrupt.
    pub fn read_module(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.module_path(digest, Encoding::Identity);
        let bytes = fs::read(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
        if Digest::of(&bytes) != *digest {
            return Err(format!("{} does not hash to its name", path.display()));
        }
        Ok(bytes)
    }

    /// Whether a digest is referenced by a stored version (only those are served).
    ///
    /// # Errors
    ///
    /// On a database failure.
    pub fn has_module(&self, digest: &Digest) -> Result<bool, StoreError> {
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

    /// Records a new version (and its module row), atomically. Returns its sequence number.
    ///
    /// # Errors
    ///
    /// On a database failure (nothing is recorded then).
    pub fn insert_version(&self, row: &VersionRow, size: usize) -> Result<i64, StoreError> {
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
        let meta = serde_json::to_string(&row.meta).map_err(|e| e.to_string())?;
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

    fn put_state(conn: &Connection, plugin: &str, state: &PluginState) -> Result<(), StoreError> {
        let json = serde_json::to_string(state).map_err(|e| e.to_string())?;
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

    /// Replaces a plugin's rollout state.
    ///
    /// # Errors
    ///
    /// On a database failure.
    pub fn set_plugin_state(&self, plugin: &str, state: &PluginState) -> Result<(), StoreError> {
        Self::put_state(&self.conn(), plugin, state)
    }

    /// Deletes versions no longer kept (their module files stay: other plugins may share them).
    ///
    /// # Errors
    ///
    /// On a database failure.
    pub fn delete_versions(&self, plugin: &str, versions: &[String]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = sql("begin", conn.transaction())?;
        for v in versions {
            sql(
                "delete version",
                tx.execute(
                    "DELETE FROM versions WHERE plugin = ?1 AND version = ?2",
                    params![plugin, v],
                ),
            )?;
        }
        sql("commit", tx.commit())
    }

    /// Inserts or replaces a tenant.
    ///
    /// # Errors
    ///
    /// On a database failure.
    pub fn put_tenant(&self, row: &TenantRow) -> Result<(), StoreError> {
        let json = serde_json::to_string(&row.config).map_err(|e| e.to_string())?;
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

    /// A meta value.
    ///
    /// # Errors
    ///
    /// On a database failure.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sql(
            "meta",
            self.conn()
                .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                    r.get(0)
                })
                .optional(),
        )
    }

    /// Sets a meta value.
    ///
    /// # Errors
    ///
    /// On a database failure.
    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
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

    /// Loads the registry tables and tenants.
    ///
    /// # Errors
    ///
    /// On a database failure or a row that does not parse.
    pub fn load(&self) -> Result<Snapshot, StoreError> {
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
            let digest = Digest::from_hex(&digest)
                .ok_or_else(|| format!("version {plugin}@{version}: bad digest {digest}"))?;
            let meta = serde_json::from_str(&meta)
                .map_err(|e| format!("version {plugin}@{version}: {e}"))?;
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
            let state = serde_json::from_str(&state).map_err(|e| format!("plugin {name}: {e}"))?;
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
            let token_hash: [u8; 32] = hash
                .try_into()
                .map_err(|_| format!("tenant {id}: token hash is not 32 bytes"))?;
            let config = serde_json::from_str(&config).map_err(|e| format!("tenant {id}: {e}"))?;
            snap.tenants.push(TenantRow {
                id,
                token_hash,
                config,
            });
        }
        Ok(snap)
    }
}
