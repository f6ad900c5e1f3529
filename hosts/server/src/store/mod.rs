//! Registry persistence behind a trait: [`RegistryStore`] holds versions and rollout state,
//! tenants (with hashed tokens), server metadata and module bytes with their precompressed
//! variants. [`SqliteStore`] is the zero-setup implementation; [`PostgresStore`] is the
//! shared one that several replicas use at once (`database = "postgres://..."`). Every
//! operation fails with a typed [`StoreError`].

mod postgres;
mod sqlite;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use palisade::Digest;
use serde::{Deserialize, Serialize};

pub use postgres::{CHANNEL, PostgresKv, PostgresStore, redact};
pub use sqlite::{CHECKPOINT_EVERY, SqliteStore, connect, spawn_checkpointer};

/// Why a store operation failed. Each variant names what was being done and to what, so its
/// `Display` is a message for the operator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file or directory operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. `"cannot create the data directory"`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the data directory's lock.
    #[error(
        "the data directory {} is in use by another palisade-server (it holds the lock {}); \
         stop that server or give this one another `--data` directory",
        dir.display(),
        lock.display()
    )]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// Its lock file.
        lock: PathBuf,
    },
    /// The database refused an operation.
    #[error("database: {operation}: {source}")]
    Database {
        /// The operation, e.g. `"insert version"`.
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Stored data does not parse, or a module file does not hash to its name.
    #[error("{what}: {reason}")]
    Corrupt {
        /// The row or file, e.g. `"version thermostat@1.0.0"`.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A value could not be encoded for storage (JSON, brotli, gzip).
    #[error("cannot encode {what}: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A plugin's rollout state changed in the database since this replica read it (another
    /// replica changed it first): nothing was written.
    #[error(
        "the rollout state of plugin `{plugin}` was changed by another replica in the meantime; \
         nothing was changed here: read the new state and try again"
    )]
    Conflict {
        /// The plugin.
        plugin: String,
    },
    /// The `database` setting is not a database this server can use.
    #[error("`database` = {url:?}: {reason}")]
    BadUrl {
        /// The setting, with any password replaced by `***`.
        url: String,
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// The OS gave no randomness (temporary file names).
    #[error("randomness: {0}")]
    Randomness(#[source] getrandom::Error),
    /// A background thread could not be started.
    #[error("cannot start the {name} thread: {source}")]
    Thread {
        /// The thread's purpose.
        name: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// An I/O error while doing `action` on `path`.
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }

    /// A database error during `operation`.
    pub fn database(
        operation: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Database {
            operation,
            source: Box::new(source),
        }
    }

    /// An encoding error for `what`.
    pub fn encode(
        what: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Encode {
            what,
            source: Box::new(source),
        }
    }

    /// Stored data that does not parse or match.
    pub fn corrupt(what: impl Into<String>, reason: impl ToString) -> Self {
        Self::Corrupt {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// Registry persistence: what the server must find again after a restart. The server holds
/// an `Arc<dyn RegistryStore>`; [`SqliteStore`] implements it.
///
/// Contract every implementation keeps (the server's crash safety rests on it):
/// - [`RegistryStore::put_module`] is idempotent and complete before it returns: once it has
///   returned, [`RegistryStore::read_module`] yields the bytes in every [`Encoding`];
/// - [`RegistryStore::insert_version`] is atomic (the version and its module row, or
///   nothing) and is called only after `put_module` returned, so a stored version's module
///   is always readable;
/// - tenants are stored with the SHA-256 of their token, never the token.
pub trait RegistryStore: Send + Sync {
    /// Stores a module and its precompressed variants (brotli at `quality`, gzip). Idempotent:
    /// the same digest always has the same bytes.
    ///
    /// # Errors
    ///
    /// On an I/O, encoding or database failure.
    fn put_module(&self, digest: &Digest, bytes: &[u8], quality: u32) -> Result<(), StoreError>;

    /// A module's bytes as uploaded, checked against the digest.
    ///
    /// # Errors
    ///
    /// If they are missing or do not hash to `digest`.
    fn read_module(&self, digest: &Digest) -> Result<Vec<u8>, StoreError>;

    /// A module in `encoding` (the precompressed variant, or the bytes as uploaded).
    ///
    /// # Errors
    ///
    /// If the variant is missing or unreadable.
    fn read_module_encoded(
        &self,
        digest: &Digest,
        encoding: Encoding,
    ) -> Result<Vec<u8>, StoreError>;

    /// Whether a digest is referenced by a stored version (only those are served).
    ///
    /// # Errors
    ///
    /// On a database failure.
    fn has_module(&self, digest: &Digest) -> Result<bool, StoreError>;

    /// Records a new version (and its module row), atomically. Returns its sequence number,
    /// increasing over all plugins.
    ///
    /// # Errors
    ///
    /// On a database failure (nothing is recorded then).
    fn insert_version(&self, row: &VersionRow, size: usize) -> Result<i64, StoreError>;

    /// Replaces a plugin's rollout state with `state` in one transaction, if the stored state
    /// is still `expected` (a plugin without a stored state counts as the default, empty
    /// one); replicas are told of the change ([`RegistryStore::subscribe`]).
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] if another writer changed the state since `expected` was
    /// read (nothing is written); otherwise on a database failure.
    fn set_plugin_state(
        &self,
        plugin: &str,
        expected: &PluginState,
        state: &PluginState,
    ) -> Result<(), StoreError>;

    /// Retention: deletes `plugin`'s versions that are neither live (active, previous, i.e. a
    /// rollback target, or canary in the stored state, read in the same transaction), nor
    /// among its `keep_newest` most recent uploads, nor in `protect` (e.g. modules that calls
    /// are running); then the module bytes (rows, files) that no version references any
    /// more. Returns the deleted versions.
    ///
    /// # Errors
    ///
    /// On a database or file failure; the transaction is rolled back then.
    fn prune(
        &self,
        plugin: &str,
        keep_newest: usize,
        protect: &[Digest],
    ) -> Result<Vec<String>, StoreError>;

    /// Calls `changed` whenever another replica may have changed rollout state, tenants or
    /// metadata, for as long as the store lives (PostgreSQL: `LISTEN`/`NOTIFY`, and once more
    /// after a lost connection comes back). The default does nothing: a store only this
    /// process writes never changes behind it.
    ///
    /// # Errors
    ///
    /// If the listener cannot be started.
    fn subscribe(&self, changed: Box<dyn Fn() + Send + Sync>) -> Result<(), StoreError> {
        drop(changed);
        Ok(())
    }

    /// Inserts or replaces a tenant.
    ///
    /// # Errors
    ///
    /// On a database failure.
    fn put_tenant(&self, row: &TenantRow) -> Result<(), StoreError>;

    /// A server metadata value (e.g. the admin token's hash).
    ///
    /// # Errors
    ///
    /// On a database failure.
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Sets a server metadata value.
    ///
    /// # Errors
    ///
    /// On a database failure.
    fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;

    /// Loads every version, plugin state and tenant.
    ///
    /// # Errors
    ///
    /// On a database failure or a row that does not parse.
    fn load(&self) -> Result<Snapshot, StoreError>;
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PluginState {
    /// The version serving traffic.
    pub active: Option<String>,
    /// Previously active versions, most recent first: `rollback` brings back the first.
    pub previous: Vec<String>,
    /// The canary digest and its share in basis points (0..=10000), as a two-element array.
    #[schema(schema_with = crate::openapi::canary_pair)]
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

/// Which of `versions` (one plugin's `(version, digest, seq)`) retention deletes: those not
/// live in `state`, not among the `keep_newest` highest `seq`, not in `protect`.
pub(crate) fn doomed(
    versions: &[(String, String, i64)],
    state: &PluginState,
    keep_newest: usize,
    protect: &[Digest],
) -> Vec<String> {
    let live = |digest: &str| {
        state.active.as_deref() == Some(digest)
            || state.previous.iter().any(|p| p == digest)
            || state.canary.as_ref().is_some_and(|(c, _)| c == digest)
            || protect
                .iter()
                .any(|d| d.to_string().eq_ignore_ascii_case(digest))
    };
    let mut newest: Vec<&(String, String, i64)> = versions.iter().collect();
    newest.sort_by_key(|v| std::cmp::Reverse(v.2));
    newest
        .into_iter()
        .skip(keep_newest)
        .filter(|(_, digest, _)| !live(digest))
        .map(|(version, _, _)| version.clone())
        .collect()
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
    /// Every encoding.
    pub const ALL: [Self; 3] = [Self::Identity, Self::Brotli, Self::Gzip];

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
    getrandom::fill(&mut nonce).map_err(StoreError::Randomness)?;
    let tmp = dir.join(format!(".{name}.{:016x}.tmp", u64::from_le_bytes(nonce)));
    let io = |what: &'static str, e: std::io::Error| StoreError::io(what, &tmp, e);
    let mut f = crate::datadir::create_file(&tmp, mode).map_err(|e| io("create", e))?;
    f.write_all(bytes).map_err(|e| io("write", e))?;
    f.sync_all().map_err(|e| io("fsync", e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| StoreError::io("rename to", path, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("fsync", dir, e))
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
            .map_err(|e| StoreError::encode("brotli", e))?;
    }
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 2),
        flate2::Compression::best(),
    );
    gz.write_all(bytes)
        .map_err(|e| StoreError::encode("gzip", e))?;
    let gz = gz.finish().map_err(|e| StoreError::encode("gzip", e))?;
    Ok((br, gz))
}
