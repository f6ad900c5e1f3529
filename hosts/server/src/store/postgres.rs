//! [`PostgresStore`], the shared [`RegistryStore`] that several replicas use at once, and
//! [`PostgresKv`], the tenants' KV store in the same database.
//!
//! Everything lives in the database, module bytes and their precompressed variants included,
//! so a replica serves what another one stored without a shared file system. Tables are
//! prefixed `palisade_`, so the database can hold other applications' tables too.
//!
//! - Migrations run at open, each once, in one transaction under an advisory lock (replicas
//!   starting together apply them once); `palisade_migrations` records which ran. A database
//!   migrated by a newer server is refused.
//! - Every write that replicas must see (rollout state, versions, tenants, metadata) sends
//!   `NOTIFY palisade_changes` in its own transaction, so the notification is delivered when,
//!   and only if, the write commits.
//! - The driver is `tokio-postgres` (pooled by `deadpool-postgres`) on a small runtime that the
//!   store owns; the trait methods block on it. They are called from blocking threads only
//!   (the HTTP handlers' `spawn_blocking`, the guest workers), never on the reactor.

use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime as PoolRuntime};
use palisade::{Digest, KvError, KvStore, KvWrites};
use tokio_postgres::{AsyncMessage, NoTls};

use super::{Encoding, PluginState, RegistryStore, Snapshot, StoreError, TenantRow, VersionRow};
use crate::kv::TenantKv;
use crate::tenant::DEFAULT_KV_QUOTA_BYTES;

/// The `NOTIFY` channel of every change replicas must pick up.
pub const CHANNEL: &str = "palisade_changes";

/// How long an operation waits for a pooled connection before it fails: 10 s.
const POOL_WAIT: Duration = Duration::from_secs(10);
/// How long connecting may take before it fails: 5 s.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause before the change listener reconnects after losing its connection: 500 ms.
const RELISTEN_AFTER: Duration = Duration::from_millis(500);

/// Key of the advisory lock that serialises migrations across replicas ("palisade" in ASCII).
const MIGRATION_LOCK: i64 = 0x7061_6c69_7361_6465;

/// The schema, one step per version. Never edit a step that has shipped: add one.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE TABLE palisade_meta (
           key TEXT PRIMARY KEY,
           value BYTEA NOT NULL
         );
         CREATE TABLE palisade_modules (
           digest TEXT PRIMARY KEY,
           size BIGINT NOT NULL,
           created_at BIGINT NOT NULL,
           identity BYTEA NOT NULL,
           brotli BYTEA NOT NULL,
           gzip BYTEA NOT NULL
         );
         CREATE SEQUENCE palisade_version_seq;
         CREATE TABLE palisade_versions (
           plugin TEXT NOT NULL,
           version TEXT NOT NULL,
           digest TEXT NOT NULL REFERENCES palisade_modules(digest),
           seq BIGINT NOT NULL UNIQUE,
           signer TEXT,
           meta TEXT NOT NULL,
           created_at BIGINT NOT NULL,
           PRIMARY KEY (plugin, version)
         );
         CREATE INDEX palisade_versions_digest ON palisade_versions (digest);
         CREATE TABLE palisade_plugins (
           name TEXT PRIMARY KEY,
           state TEXT NOT NULL
         );
         CREATE TABLE palisade_tenants (
           id TEXT PRIMARY KEY,
           token_hash BYTEA NOT NULL,
           config TEXT NOT NULL
         );",
    ),
    (
        2,
        "CREATE TABLE palisade_kv (
           tenant TEXT NOT NULL,
           key BYTEA NOT NULL,
           value BYTEA NOT NULL,
           PRIMARY KEY (tenant, key)
         );
         CREATE TABLE palisade_kv_usage (
           tenant TEXT PRIMARY KEY,
           bytes BIGINT NOT NULL
         );",
    ),
];

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn db<T>(what: &'static str, r: Result<T, tokio_postgres::Error>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::database(what, e))
}

/// `url` with the password, if any, replaced by `***`, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// The connection pool and the runtime its connections run on, shared by the registry store
/// and the KV store.
struct Pg {
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    config: tokio_postgres::Config,
}

impl Drop for Pg {
    fn drop(&mut self) {
        // The last handle may go away on an async thread (the server is dropped at the end of
        // `main`'s future), where dropping a runtime the blocking way is not allowed.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Pg {
    fn run<T>(&self, fut: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        match &self.runtime {
            Some(rt) => rt.block_on(fut),
            None => Err(StoreError::Database {
                operation: "run",
                source: "the PostgreSQL store is closed".into(),
            }),
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::database("connect", e))
    }
}

/// The PostgreSQL [`RegistryStore`]: registry, tenants, metadata and module bytes in one
/// database that every replica shares.
pub struct PostgresStore {
    pg: Arc<Pg>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/database`, or any
    /// `tokio-postgres` connection string) with a pool of at most `connections`, and runs
    /// the migrations this database lacks.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadUrl`] for a URL that does not parse, [`StoreError::Database`] if the
    /// database cannot be reached or migrated, [`StoreError::Corrupt`] if a newer server
    /// migrated it.
    pub fn connect(url: &str, connections: usize) -> Result<Self, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(|e| StoreError::BadUrl {
            url: redact(url),
            reason: format!("{e}; write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE"),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("palisade-server");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("palisade-postgres")
            .enable_all()
            .build()
            .map_err(|source| StoreError::Thread {
                name: "PostgreSQL runtime",
                source,
            })?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = {
            let _entered = runtime.enter();
            Pool::builder(manager)
                .max_size(connections.max(1))
                .runtime(PoolRuntime::Tokio1)
                .wait_timeout(Some(POOL_WAIT))
                .create_timeout(Some(CONNECT_TIMEOUT))
                .recycle_timeout(Some(CONNECT_TIMEOUT))
                .build()
                .map_err(|e| StoreError::database("create the connection pool", e))?
        };
        let pg = Arc::new(Pg {
            runtime: Some(runtime),
            pool,
            config,
        });
        pg.run(migrate(&pg))?;
        Ok(Self { pg })
    }

    /// The tenants' KV store in the same database, sharing this store's connections, with
    /// [`DEFAULT_KV_QUOTA_BYTES`] per tenant until [`TenantKv::set_quota`] says otherwise.
    pub fn kv(&self) -> PostgresKv {
        PostgresKv {
            pg: self.pg.clone(),
            default_quota: DEFAULT_KV_QUOTA_BYTES,
            quotas: Mutex::new(HashMap::new()),
        }
    }

    /// Deletes every table the migrations created and the migration record: for tests that
    /// need an empty database. Irreversible.
    ///
    /// # Errors
    ///
    /// On a database failure.
    pub fn drop_all(&self) -> Result<(), StoreError> {
        self.pg.run(async {
            let c = self.pg.client().await?;
            db(
                "drop tables",
                c.batch_execute(
                    "DROP TABLE IF EXISTS palisade_versions, palisade_modules, palisade_plugins,
                       palisade_tenants, palisade_meta, palisade_kv, palisade_kv_usage,
                       palisade_migrations;
                     DROP SEQUENCE IF EXISTS palisade_version_seq;",
                )
                .await,
            )
        })
    }
}

async fn migrate(pg: &Pg) -> Result<(), StoreError> {
    let mut c = pg.client().await?;
    let tx = db("migrate: begin", c.transaction().await)?;
    db(
        "migrate: lock",
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await,
    )?;
    db(
        "migrate: record table",
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS palisade_migrations (
               version INTEGER PRIMARY KEY,
               applied_at BIGINT NOT NULL
             )",
        )
        .await,
    )?;
    let applied: Vec<i32> = db(
        "migrate: read record",
        tx.query("SELECT version FROM palisade_migrations", &[])
            .await,
    )?
    .iter()
    .map(|r| r.get(0))
    .collect();
    let known = MIGRATIONS.iter().map(|(v, _)| *v).max().unwrap_or(0);
    if let Some(newer) = applied.iter().copied().filter(|v| *v > known).max() {
        return Err(StoreError::corrupt(
            "the PostgreSQL database",
            format!(
                "it has schema version {newer}, newer than this server's {known}; run a newer palisade-server"
            ),
        ));
    }
    for (version, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        db("migrate: apply", tx.batch_execute(sql).await)?;
        db(
            "migrate: record",
            tx.execute(
                "INSERT INTO palisade_migrations (version, applied_at) VALUES ($1, $2)",
                &[version, &now_secs()],
            )
            .await,
        )?;
        tracing::info!(version, "applied PostgreSQL migration");
    }
    db("migrate: commit", tx.commit().await)
}

async fn notify(tx: &tokio_postgres::Transaction<'_>, what: &str) -> Result<(), StoreError> {
    db(
        "notify",
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &what])
            .await,
    )
    .map(|_| ())
}

fn parse_state(plugin: &str, json: Option<String>) -> Result<PluginState, StoreError> {
    json.map_or(Ok(PluginState::default()), |j| {
        serde_json::from_str(&j).map_err(|e| StoreError::corrupt(format!("plugin {plugin}"), e))
    })
}

/// Locks `plugin`'s state row for the rest of `tx` (creating it empty if absent, so two
/// first writers also serialise) and returns the state.
async fn lock_state(
    tx: &tokio_postgres::Transaction<'_>,
    plugin: &str,
) -> Result<PluginState, StoreError> {
    let empty = serde_json::to_string(&PluginState::default())
        .map_err(|e| StoreError::encode("plugin state", e))?;
    db(
        "lock plugin state",
        tx.execute(
            "INSERT INTO palisade_plugins (name, state) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&plugin, &empty],
        )
        .await,
    )?;
    let row = db(
        "lock plugin state",
        tx.query_one(
            "SELECT state FROM palisade_plugins WHERE name = $1 FOR UPDATE",
            &[&plugin],
        )
        .await,
    )?;
    parse_state(plugin, Some(row.get(0)))
}

impl RegistryStore for PostgresStore {
    fn put_module(&self, digest: &Digest, bytes: &[u8], quality: u32) -> Result<(), StoreError> {
        let (br, gz) = super::compress(bytes, quality)?;
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        self.pg.run(async {
            let c = self.pg.client().await?;
            db(
                "insert module",
                c.execute(
                    "INSERT INTO palisade_modules (digest, size, created_at, identity, brotli, gzip)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (digest) DO NOTHING",
                    &[&digest.to_string(), &size, &now_secs(), &bytes, &br, &gz],
                )
                .await,
            )
            .map(|_| ())
        })
    }

    fn read_module_encoded(
        &self,
        digest: &Digest,
        encoding: Encoding,
    ) -> Result<Vec<u8>, StoreError> {
        let column = match encoding {
            Encoding::Identity => "identity",
            Encoding::Brotli => "brotli",
            Encoding::Gzip => "gzip",
        };
        let row = self.pg.run(async {
            let c = self.pg.client().await?;
            db(
                "read module",
                c.query_opt(
                    &format!("SELECT {column} FROM palisade_modules WHERE digest = $1"),
                    &[&digest.to_string()],
                )
                .await,
            )
        })?;
        row.map(|r| r.get(0))
            .ok_or_else(|| StoreError::corrupt(format!("module {digest}"), "not in the database"))
    }

    fn read_module(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let bytes = self.read_module_encoded(digest, Encoding::Identity)?;
        if Digest::of(&bytes) != *digest {
            return Err(StoreError::corrupt(
                format!("module {digest}"),
                "its bytes do not hash to its digest",
            ));
        }
        Ok(bytes)
    }

    fn has_module(&self, digest: &Digest) -> Result<bool, StoreError> {
        self.pg.run(async {
            let c = self.pg.client().await?;
            let row = db(
                "has_module",
                c.query_opt(
                    "SELECT 1 FROM palisade_versions WHERE digest = $1 LIMIT 1",
                    &[&digest.to_string()],
                )
                .await,
            )?;
            Ok(row.is_some())
        })
    }

    fn insert_version(&self, row: &VersionRow, size: usize) -> Result<i64, StoreError> {
        let _ = size;
        let meta =
            serde_json::to_string(&row.meta).map_err(|e| StoreError::encode("version meta", e))?;
        self.pg.run(async {
            let mut c = self.pg.client().await?;
            let tx = db("begin", c.transaction().await)?;
            let seq: i64 = db(
                "next seq",
                tx.query_one("SELECT nextval('palisade_version_seq')", &[])
                    .await,
            )?
            .get(0);
            db(
                "insert version",
                tx.execute(
                    "INSERT INTO palisade_versions (plugin, version, digest, seq, signer, meta, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[
                        &row.plugin,
                        &row.version,
                        &row.digest.to_string(),
                        &seq,
                        &row.signer,
                        &meta,
                        &now_secs(),
                    ],
                )
                .await,
            )?;
            notify(&tx, "version").await?;
            db("commit", tx.commit().await)?;
            Ok(seq)
        })
    }

    fn set_plugin_state(
        &self,
        plugin: &str,
        expected: &PluginState,
        state: &PluginState,
    ) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(state).map_err(|e| StoreError::encode("plugin state", e))?;
        self.pg.run(async {
            let mut c = self.pg.client().await?;
            let tx = db("begin", c.transaction().await)?;
            if lock_state(&tx, plugin).await? != *expected {
                return Err(StoreError::Conflict {
                    plugin: plugin.to_owned(),
                });
            }
            db(
                "put plugin state",
                tx.execute(
                    "UPDATE palisade_plugins SET state = $2 WHERE name = $1",
                    &[&plugin, &json],
                )
                .await,
            )?;
            notify(&tx, "plugin").await?;
            db("commit", tx.commit().await)
        })
    }

    fn prune(
        &self,
        plugin: &str,
        keep_newest: usize,
        protect: &[Digest],
    ) -> Result<Vec<String>, StoreError> {
        self.pg.run(async {
            let mut c = self.pg.client().await?;
            let tx = db("begin", c.transaction().await)?;
            // The state row stays locked until the commit: a promotion on another replica
            // waits, so a version cannot become live while it is being deleted.
            let state = lock_state(&tx, plugin).await?;
            let versions: Vec<(String, String, i64)> = db(
                "prune: list versions",
                tx.query(
                    "SELECT version, digest, seq FROM palisade_versions WHERE plugin = $1",
                    &[&plugin],
                )
                .await,
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
            let doomed = super::doomed(&versions, &state, keep_newest, protect);
            if doomed.is_empty() {
                return Ok(doomed);
            }
            let digests: Vec<String> = versions
                .iter()
                .filter(|(v, _, _)| doomed.contains(v))
                .map(|(_, d, _)| d.clone())
                .collect();
            db(
                "prune: delete versions",
                tx.execute(
                    "DELETE FROM palisade_versions WHERE plugin = $1 AND version = ANY($2)",
                    &[&plugin, &doomed],
                )
                .await,
            )?;
            // Only the deleted versions' modules, and only if no version (of any plugin)
            // still names them.
            db(
                "prune: delete modules",
                tx.execute(
                    "DELETE FROM palisade_modules m WHERE m.digest = ANY($1)
                     AND NOT EXISTS (SELECT 1 FROM palisade_versions v WHERE v.digest = m.digest)",
                    &[&digests],
                )
                .await,
            )?;
            notify(&tx, "version").await?;
            db("commit", tx.commit().await)?;
            Ok(doomed)
        })
    }

    fn put_tenant(&self, row: &TenantRow) -> Result<(), StoreError> {
        let json = serde_json::to_string(&row.config)
            .map_err(|e| StoreError::encode("tenant config", e))?;
        self.pg.run(async {
            let mut c = self.pg.client().await?;
            let tx = db("begin", c.transaction().await)?;
            db(
                "put tenant",
                tx.execute(
                    "INSERT INTO palisade_tenants (id, token_hash, config) VALUES ($1, $2, $3)
                     ON CONFLICT (id) DO UPDATE SET token_hash = excluded.token_hash, config = excluded.config",
                    &[&row.id, &&row.token_hash[..], &json],
                )
                .await,
            )?;
            notify(&tx, "tenant").await?;
            db("commit", tx.commit().await)
        })
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.pg.run(async {
            let c = self.pg.client().await?;
            let row = db(
                "meta",
                c.query_opt("SELECT value FROM palisade_meta WHERE key = $1", &[&key])
                    .await,
            )?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.pg.run(async {
            let mut c = self.pg.client().await?;
            let tx = db("begin", c.transaction().await)?;
            db(
                "set meta",
                tx.execute(
                    "INSERT INTO palisade_meta (key, value) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    &[&key, &value],
                )
                .await,
            )?;
            notify(&tx, "meta").await?;
            db("commit", tx.commit().await)
        })
    }

    fn load(&self) -> Result<Snapshot, StoreError> {
        self.pg.run(async {
            let mut c = self.pg.client().await?;
            // One snapshot of all three tables.
            let tx = db(
                "load: begin",
                c.build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
                    .await,
            )?;
            let mut snap = Snapshot::default();
            for r in db(
                "load versions",
                tx.query(
                    "SELECT plugin, version, digest, seq, signer, meta FROM palisade_versions ORDER BY seq",
                    &[],
                )
                .await,
            )? {
                let (plugin, version, digest): (String, String, String) =
                    (r.get(0), r.get(1), r.get(2));
                let what = || format!("version {plugin}@{version}");
                let digest = Digest::from_hex(&digest)
                    .ok_or_else(|| StoreError::corrupt(what(), format!("bad digest {digest}")))?;
                let meta = serde_json::from_str(r.get::<_, &str>(5))
                    .map_err(|e| StoreError::corrupt(what(), e))?;
                snap.versions.push(VersionRow {
                    plugin,
                    version,
                    digest,
                    seq: r.get(3),
                    signer: r.get(4),
                    meta,
                });
            }
            for r in db(
                "load plugins",
                tx.query("SELECT name, state FROM palisade_plugins", &[])
                    .await,
            )? {
                let name: String = r.get(0);
                let state = parse_state(&name, Some(r.get(1)))?;
                // A row made only to lock an empty state is no plugin.
                if state != PluginState::default() {
                    snap.plugins.insert(name, state);
                }
            }
            for r in db(
                "load tenants",
                tx.query(
                    "SELECT id, token_hash, config FROM palisade_tenants ORDER BY id",
                    &[],
                )
                .await,
            )? {
                let id: String = r.get(0);
                let token_hash: [u8; 32] = r.get::<_, Vec<u8>>(1).try_into().map_err(|_| {
                    StoreError::corrupt(format!("tenant {id}"), "token hash is not 32 bytes")
                })?;
                let config = serde_json::from_str(r.get::<_, &str>(2))
                    .map_err(|e| StoreError::corrupt(format!("tenant {id}"), e))?;
                snap.tenants.push(TenantRow {
                    id,
                    token_hash,
                    config,
                });
            }
            db("load: commit", tx.commit().await)?;
            Ok(snap)
        })
    }

    fn subscribe(&self, changed: Box<dyn Fn() + Send + Sync>) -> Result<(), StoreError> {
        let Some(rt) = &self.pg.runtime else {
            return Ok(());
        };
        let config = self.pg.config.clone();
        rt.spawn(async move {
            loop {
                listen(&config, &*changed).await;
                tokio::time::sleep(RELISTEN_AFTER).await;
            }
        });
        Ok(())
    }
}

/// Listens on [`CHANNEL`] until the connection is lost, calling `changed` once when listening
/// starts (to catch up on what was missed) and on every notification.
async fn listen(config: &tokio_postgres::Config, changed: &(dyn Fn() + Send + Sync)) {
    let (client, mut connection) = match config.connect(NoTls).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "PostgreSQL change listener cannot connect; retrying");
            return;
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(_))) => {
                    if tx.send(()).is_err() {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "PostgreSQL change listener lost its connection");
                    break;
                }
                None => break,
            }
        }
    });
    if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
        tracing::warn!(error = %e, "PostgreSQL change listener cannot LISTEN; retrying");
    } else {
        changed();
        while rx.recv().await.is_some() {
            changed();
        }
    }
    driver.abort();
}

/// The tenants' KV store in PostgreSQL. Unlike [`palisade::Quota`], which counts a tenant's
/// bytes in memory, usage is kept in the database (`palisade_kv_usage`) and updated in the
/// transaction of every write, under a row lock per tenant, so replicas writing the same
/// tenant's namespace never exceed its quota together. Each tenant's quota is this replica's
/// copy of its configuration.
pub struct PostgresKv {
    pg: Arc<Pg>,
    default_quota: usize,
    quotas: Mutex<HashMap<String, usize>>,
}

fn kv_failed(e: &StoreError) -> KvError {
    tracing::error!(error = %e, "kv backend failure");
    KvError::Backend
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_usize(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// Locks `tenant`'s usage row for the rest of `tx` (creating it from the entries if absent)
/// and returns its bytes.
async fn lock_usage(
    tx: &tokio_postgres::Transaction<'_>,
    tenant: &str,
) -> Result<usize, StoreError> {
    db(
        "kv: usage",
        tx.execute(
            "INSERT INTO palisade_kv_usage (tenant, bytes)
             SELECT $1, COALESCE(SUM(octet_length(key) + octet_length(value)), 0)
             FROM palisade_kv WHERE tenant = $1
             ON CONFLICT (tenant) DO NOTHING",
            &[&tenant],
        )
        .await,
    )?;
    let row = db(
        "kv: usage",
        tx.query_one(
            "SELECT bytes FROM palisade_kv_usage WHERE tenant = $1 FOR UPDATE",
            &[&tenant],
        )
        .await,
    )?;
    Ok(to_usize(row.get(0)))
}

async fn stored_size(
    tx: &tokio_postgres::Transaction<'_>,
    tenant: &str,
    key: &[u8],
) -> Result<Option<usize>, StoreError> {
    let row = db(
        "kv: entry size",
        tx.query_opt(
            "SELECT octet_length(key) + octet_length(value) FROM palisade_kv WHERE tenant = $1 AND key = $2",
            &[&tenant, &key],
        )
        .await,
    )?;
    Ok(row.map(|r| to_usize(i64::from(r.get::<_, i32>(0)))))
}

impl PostgresKv {
    /// Applies `writes` (key, `Some(value)` to set, `None` to delete) in one transaction,
    /// checking the quota once for the whole batch when it sets anything. Returns, per write,
    /// whether the key existed.
    fn apply(&self, tenant: &str, writes: &[(&[u8], Option<&[u8]>)]) -> Result<Vec<bool>, KvError> {
        let quota = self.quota_bytes(tenant);
        let result = self.pg.run(async {
            let mut c = self.pg.client().await?;
            let tx = db("kv: begin", c.transaction().await)?;
            let used = lock_usage(&tx, tenant).await?;
            let mut total = used;
            let mut existed = Vec::with_capacity(writes.len());
            for (key, value) in writes {
                let old = stored_size(&tx, tenant, key).await?;
                existed.push(old.is_some());
                total =
                    total - old.unwrap_or(0).min(total) + value.map_or(0, |v| key.len() + v.len());
            }
            if writes.iter().any(|(_, v)| v.is_some()) && total > quota {
                return Ok(Err(()));
            }
            for (key, value) in writes {
                match value {
                    Some(value) => db(
                        "kv: put",
                        tx.execute(
                            "INSERT INTO palisade_kv (tenant, key, value) VALUES ($1, $2, $3)
                             ON CONFLICT (tenant, key) DO UPDATE SET value = excluded.value",
                            &[&tenant, key, value],
                        )
                        .await,
                    )?,
                    None => db(
                        "kv: remove",
                        tx.execute(
                            "DELETE FROM palisade_kv WHERE tenant = $1 AND key = $2",
                            &[&tenant, key],
                        )
                        .await,
                    )?,
                };
            }
            if total != used {
                db(
                    "kv: usage",
                    tx.execute(
                        "UPDATE palisade_kv_usage SET bytes = $2 WHERE tenant = $1",
                        &[&tenant, &to_i64(total)],
                    )
                    .await,
                )?;
            }
            db("kv: commit", tx.commit().await)?;
            Ok(Ok(existed))
        });
        match result {
            Ok(Ok(existed)) => Ok(existed),
            Ok(Err(())) => Err(KvError::Quota),
            Err(e) => Err(kv_failed(&e)),
        }
    }
}

impl KvStore for PostgresKv {
    fn get(&self, tenant: &str, key: &[u8], read: &mut dyn FnMut(&[u8])) -> Result<bool, KvError> {
        let row = self
            .pg
            .run(async {
                let c = self.pg.client().await?;
                db(
                    "kv: get",
                    c.query_opt(
                        "SELECT value FROM palisade_kv WHERE tenant = $1 AND key = $2",
                        &[&tenant, &key],
                    )
                    .await,
                )
            })
            .map_err(|e| kv_failed(&e))?;
        match row {
            Some(r) => {
                read(r.get::<_, &[u8]>(0));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn set(&self, tenant: &str, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.apply(tenant, &[(key, Some(value))]).map(|_| ())
    }

    fn delete(&self, tenant: &str, key: &[u8]) -> Result<bool, KvError> {
        self.apply(tenant, &[(key, None)])
            .map(|existed| existed.first().copied().unwrap_or(false))
    }

    fn used_bytes(&self, tenant: &str) -> Result<usize, KvError> {
        self.pg
            .run(async {
                let mut c = self.pg.client().await?;
                let tx = db("kv: begin", c.transaction().await)?;
                let used = lock_usage(&tx, tenant).await?;
                db("kv: commit", tx.commit().await)?;
                Ok(used)
            })
            .map_err(|e| kv_failed(&e))
    }

    fn quota_bytes(&self, tenant: &str) -> usize {
        self.quotas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .copied()
            .unwrap_or(self.default_quota)
    }

    fn commit(&self, tenant: &str, writes: &KvWrites) -> Result<(), KvError> {
        let batch: Vec<(&[u8], Option<&[u8]>)> = writes.iter().collect();
        if batch.is_empty() {
            return Ok(());
        }
        self.apply(tenant, &batch).map(|_| ())
    }
}

impl TenantKv for PostgresKv {
    fn set_quota(&self, tenant: &str, bytes: usize) {
        self.quotas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tenant.to_owned(), bytes);
    }
}
