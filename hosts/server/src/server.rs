//! The server's state and operations, independent of HTTP: open and restore, upload, rollout,
//! tenants, admission and invocation.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant as StdInstant;

use axum::http::StatusCode;
use palisade::{Bundle, BundleError, PublicKey, RegistryError, SignaturePolicy, TrustStore};
use palisade::{
    CallReport, Clock, Digest, Error, ErrorKind, Instant, Interrupt, ModuleMeta, PendingCall,
    PluginStatus, Registry, Runtime, Smoke, Step,
};
use tokio::sync::Semaphore;

use crate::api::{CanaryRef, PluginInfo, PluginList, VersionInfo, VersionRef};
use crate::auth::{self, TokenHash};
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::gate::GateKv;
use crate::kv::{self, TenantKv};
use crate::log::TracingLog;
use crate::metrics::ServerMetrics;
use crate::pool::WorkerPool;
use crate::store::{
    PluginState, PostgresStore, RegistryStore, Snapshot, SqliteStore, StoreError, StoredMeta,
    TenantRow, VersionRow,
};
use crate::tenant::{LiveTenant, TenantConfig};
use palisade_std::{OsRandom, StdClock};

/// The id of the internal tenant that upload grant checks run as. It holds every upload
/// capability; API tenant ids cannot start with `_`, so none can collide. Smoke calls run as a
/// fresh `_smoke-N` tenant each, with a throwaway KV namespace (see `gate.rs`).
pub const GATE_TENANT: &str = "_gate";

/// Meta key of the admin token hash.
const ADMIN_HASH_KEY: &str = "admin_token_hash";

/// How long a guest runs on a worker before the worker yields its CPU once (at the next
/// fuel-slice boundary): 250 µs. Long guests then never hold a core against the reactor and
/// other tenants' short calls for more than about this, whatever the OS time slice is.
pub const YIELD_EVERY: std::time::Duration = std::time::Duration::from_micros(250);

thread_local! {
    /// On a worker running a call: when it last started or yielded. `None` elsewhere.
    static LAST_YIELD: std::cell::Cell<Option<StdInstant>> = const { std::cell::Cell::new(None) };
}

/// A [`Clock`] that makes a long call share its worker's CPU: it reads the inner clock `C`, and
/// on a worker thread that has run the current call for [`YIELD_EVERY`] since it last yielded,
/// it yields the thread first.
///
/// The core reads the clock between fuel slices to check the deadline, so this is where a
/// guest can be preempted cooperatively; short calls never yield. The time itself is `C`'s
/// (the server uses [`palisade_std::StdClock`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct YieldingClock<C: Clock>(C);

impl<C: Clock> YieldingClock<C> {
    /// Wraps `inner`, whose time this clock reports.
    pub fn new(inner: C) -> Self {
        Self(inner)
    }
}

impl<C: Clock> Clock for YieldingClock<C> {
    fn now(&self) -> Instant {
        LAST_YIELD.with(|last| {
            if last.get().is_some_and(|t| t.elapsed() >= YIELD_EVERY) {
                std::thread::yield_now();
                last.set(Some(StdInstant::now()));
            }
        });
        self.0.now()
    }
}

/// What an invocation returned: the report and the output or error.
pub struct Invocation {
    /// The core's report.
    pub report: CallReport,
    /// Output bytes or the guest/host error.
    pub result: Result<Vec<u8>, Error>,
}

/// The result of an upload.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Uploaded {
    /// Plugin name.
    pub plugin: String,
    /// Version.
    pub version: String,
    /// Module digest (hex).
    pub digest: String,
    /// Module size in bytes.
    pub size: usize,
    /// Whether this upload created the version (false: identical re-upload).
    pub created: bool,
    /// Whether the module was already compiled (a compile-cache hit).
    pub cache_hit: bool,
}

/// The whole server state. Shared as `Arc<Server>` by the HTTP handlers and worker jobs.
pub struct Server {
    config: Config,
    store: Arc<dyn RegistryStore>,
    kv: Arc<dyn TenantKv>,
    gate_kv: Arc<GateKv>,
    registry: Registry,
    trust: TrustStore,
    gate: palisade::Tenant,
    clock: Arc<YieldingClock<StdClock>>,
    tenants: RwLock<HashMap<String, Arc<LiveTenant>>>,
    admin_hash: RwLock<TokenHash>,
    metrics_hash: Option<TokenHash>,
    pool: WorkerPool,
    global: Arc<Semaphore>,
    metrics: ServerMetrics,
    admin_lock: Arc<tokio::sync::Mutex<()>>,
    draining: AtomicBool,
    in_flight: Arc<AtomicUsize>,
    /// The interrupt of every call handed to the pool and not yet finished, by call number.
    running: std::sync::Mutex<HashMap<u64, Interrupt>>,
    next_call: AtomicU64,
    /// Calls running per module digest: retention never deletes these versions.
    in_use: Arc<std::sync::Mutex<HashMap<Digest, usize>>>,
    /// Stops the background threads (WAL checkpointer, replica reconciler).
    background_stop: Arc<AtomicBool>,
    checkpointer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// With PostgreSQL, the data directory's lock (SQLite's store holds its own).
    _dir_lock: Option<std::fs::File>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect()
}

fn parse_key(hex_key: &str) -> Result<PublicKey, String> {
    PublicKey::from_hex(hex_key)
        .map_err(|_| format!("trusted key {hex_key:?} is not 64 hex digits"))
}

impl Server {
    /// Opens the data directory, creating it and an admin token on first start, and restores
    /// tenants and the live plugin set (each module compiled once).
    ///
    /// # Errors
    ///
    /// A message for the operator: unreadable directory, corrupt database, bad config.
    pub fn open(config: Config) -> Result<Arc<Self>, String> {
        config.validate()?;
        let background_stop = Arc::new(AtomicBool::new(false));
        let (store, kv, checkpointer, dir_lock) =
            Self::open_store(&config, &background_stop).map_err(|e| e.to_string())?;
        let admin_hash = Self::admin_hash(&*store, &config.data_dir)?;
        let clock = Arc::new(YieldingClock::new(StdClock::new()));
        let gate_kv = Arc::new(GateKv::new(kv.clone()));
        let runtime = Runtime::builder(clock.clone())
            .log_sink(Arc::new(TracingLog))
            .kv_store(gate_kv.clone())
            .random(Arc::new(OsRandom))
            .max_module_bytes(config.max_upload_bytes)
            .build()
            .map_err(|e| e.to_string())?;
        let gate = runtime
            .tenant(GATE_TENANT)
            .grant_all(config.upload_capabilities.iter().map(String::as_str))
            .build()
            .map_err(|e| format!("`upload_capabilities`: {e}"))?;
        let mut trust = TrustStore::new(if config.allow_unsigned {
            SignaturePolicy::Optional
        } else {
            SignaturePolicy::Required
        });
        for k in &config.trusted_keys {
            trust
                .add_key(&parse_key(k)?)
                .map_err(|e| format!("`trusted_keys`: {e}"))?;
        }
        let registry = Registry::new(runtime);
        let pool = WorkerPool::new(config.workers).map_err(|e| format!("worker threads: {e}"))?;
        let metrics_hash = config.metrics_token.as_deref().map(auth::hash_token);
        let server = Self {
            global: Arc::new(Semaphore::new(config.max_in_flight)),
            config,
            store,
            kv,
            gate_kv,
            registry,
            trust,
            gate,
            clock,
            tenants: RwLock::new(HashMap::new()),
            admin_hash: RwLock::new(admin_hash),
            metrics_hash,
            pool,
            metrics: ServerMetrics::default(),
            admin_lock: Arc::new(tokio::sync::Mutex::new(())),
            draining: AtomicBool::new(false),
            in_flight: Arc::new(AtomicUsize::new(0)),
            running: std::sync::Mutex::new(HashMap::new()),
            next_call: AtomicU64::new(0),
            in_use: Arc::new(std::sync::Mutex::new(HashMap::new())),
            background_stop,
            checkpointer: std::sync::Mutex::new(checkpointer),
            _dir_lock: dir_lock,
        };
        if server.config.trusted_keys.is_empty() && !server.config.allow_unsigned {
            tracing::warn!(
                "no `trusted_keys` and `allow_unsigned = false`: every upload is refused. Run `palisade keygen`, put the hex of palisade.key.pub in `trusted_keys` (config file), restart, and upload bundles made with `palisade pack MODULE --key palisade.key`"
            );
        }
        let snapshot = server.store.load().map_err(|e| e.to_string())?;
        server.restore(&snapshot)?;
        let server = Arc::new(server);
        server.start_reconciler()?;
        Ok(server)
    }

    /// The configured backend: SQLite in the data directory (with its WAL checkpointer), or
    /// PostgreSQL (the data directory then holds only the lock and the admin token file).
    #[expect(
        clippy::type_complexity,
        reason = "a private constructor's parts, named at the one call site"
    )]
    fn open_store(
        config: &Config,
        stop: &Arc<AtomicBool>,
    ) -> Result<
        (
            Arc<dyn RegistryStore>,
            Arc<dyn TenantKv>,
            Option<std::thread::JoinHandle<()>>,
            Option<std::fs::File>,
        ),
        StoreError,
    > {
        match &config.database {
            Some(url) => {
                crate::datadir::create_private_dir(&config.data_dir)?;
                let lock = crate::datadir::lock(&config.data_dir)?;
                // Every worker may hold one connection for KV, plus a few for admin work.
                let pg = PostgresStore::connect(url, config.workers + 4)?;
                tracing::info!(database = %crate::store::redact(url), "using PostgreSQL");
                let kv: Arc<dyn TenantKv> = Arc::new(pg.kv());
                Ok((Arc::new(pg), kv, None, Some(lock)))
            }
            None => {
                let sqlite = SqliteStore::open(&config.data_dir)?;
                let db_path = sqlite.db_path();
                let kv: Arc<dyn TenantKv> = Arc::new(kv::open_sqlite(&db_path)?);
                let checkpointer = crate::store::spawn_checkpointer(&db_path, stop.clone())?;
                Ok((Arc::new(sqlite), kv, Some(checkpointer), None))
            }
        }
    }

    /// With a shared database, starts the thread that applies other replicas' changes:
    /// woken by the store's change notifications, and every `reconcile_ms` in any case.
    fn start_reconciler(self: &Arc<Self>) -> Result<(), String> {
        if self.config.database.is_none() {
            return Ok(());
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        self.store
            .subscribe(Box::new(move || {
                // Full means a reconcile is already due: it will see this change too.
                let _ = tx.try_send(());
            }))
            .map_err(|e| e.to_string())?;
        let weak = Arc::downgrade(self);
        let every = self.config.reconcile();
        let stop = self.background_stop.clone();
        std::thread::Builder::new()
            .name("palisade-reconcile".into())
            .spawn(move || {
                loop {
                    if let Err(std::sync::mpsc::RecvTimeoutError::Disconnected) =
                        rx.recv_timeout(every)
                    {
                        std::thread::sleep(every);
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Some(server) = weak.upgrade() else { break };
                    if let Err(e) = server.reconcile() {
                        tracing::warn!(error = %e.message, "could not apply the shared state; retrying at the next change or in reconcile_ms");
                    }
                }
            })
            .map(|_| ())
            .map_err(|e| format!("cannot start the reconcile thread: {e}"))
    }

    /// Applies the stored state where this replica's differs: each plugin's rollout state
    /// (compiling a version only if this replica has not compiled its digest), tenants, and
    /// the admin token hash. Takes the admin lock, so it never interleaves with this
    /// replica's own admin writes.
    ///
    /// # Errors
    ///
    /// If the store cannot be read or a version cannot be loaded; what was applied stays.
    pub fn reconcile(&self) -> ApiResult<()> {
        let _guard = self.admin_lock.blocking_lock();
        let snap = self.store.load().map_err(ApiError::internal)?;
        for (plugin, stored) in &snap.plugins {
            let current = self
                .registry
                .plugin(plugin)
                .map(|s| state_of(&s))
                .unwrap_or_default();
            if *stored != current {
                self.apply_state(&snap, plugin, stored)?;
                tracing::info!(plugin = %plugin, active = ?stored.active, canary = ?stored.canary, "applied another replica's rollout change");
            }
        }
        for row in &snap.tenants {
            let same = self
                .tenants
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&row.id)
                .is_some_and(|t| t.token_hash == row.token_hash && t.config == row.config);
            if !same {
                let live = self
                    .registry
                    .with_runtime(|r| {
                        LiveTenant::new(r, &row.id, row.token_hash, row.config.clone())
                    })
                    .map_err(|e| ApiError::internal(format!("tenant {}: {e}", row.id)))?;
                self.kv.set_quota(&row.id, row.config.limits.kv_quota_bytes);
                self.tenants
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(row.id.clone(), Arc::new(live));
            }
        }
        if let Some(hash) = self
            .store
            .meta(ADMIN_HASH_KEY)
            .map_err(ApiError::internal)?
            .and_then(|h| TokenHash::try_from(h).ok())
        {
            *self
                .admin_hash
                .write()
                .unwrap_or_else(PoisonError::into_inner) = hash;
        }
        Ok(())
    }

    /// Makes the registry hold exactly `stored` for `plugin` (no gate: it passed where it
    /// was made). A stored state with no active version changes nothing.
    fn apply_state(&self, snap: &Snapshot, plugin: &str, stored: &PluginState) -> ApiResult<()> {
        let Some(active_hex) = &stored.active else {
            return Ok(());
        };
        let row_of = |hex: &str| {
            snap.versions
                .iter()
                .find(|v| v.plugin == plugin && v.digest.to_string() == hex)
                .or_else(|| snap.versions.iter().find(|v| v.digest.to_string() == hex))
                .ok_or_else(|| {
                    ApiError::internal(format!("plugin {plugin}: version {hex} has no stored row"))
                })
        };
        let digest_of = |hex: &str| -> ApiResult<Digest> {
            let row = row_of(hex)?;
            self.ensure_registered(row)?;
            Ok(row.digest)
        };
        let active = digest_of(active_hex)?;
        let previous = stored
            .previous
            .iter()
            .map(|h| digest_of(h))
            .collect::<ApiResult<Vec<_>>>()?;
        let canary = match &stored.canary {
            Some((hex, bp)) => Some(palisade::Canary {
                digest: digest_of(hex)?,
                basis_points: *bp,
            }),
            None => None,
        };
        self.registry
            .restore_plugin(plugin, active, &previous, canary)
            .map_err(|e| ApiError::internal(format!("plugin {plugin}: {e}")))
    }

    /// Brings `plugin`'s registry state up to the stored one (another replica may have
    /// changed it) and returns the stored state: the `expected` of the next write.
    fn sync_plugin(&self, plugin: &str) -> ApiResult<PluginState> {
        let snap = self.store.load().map_err(ApiError::internal)?;
        let stored = snap.plugins.get(plugin).cloned().unwrap_or_default();
        let current = self
            .registry
            .plugin(plugin)
            .map(|s| state_of(&s))
            .unwrap_or_default();
        if stored != current {
            self.apply_state(&snap, plugin, &stored)?;
        }
        Ok(stored)
    }

    /// Retention for `plugin` ([`RegistryStore::prune`] with `keep_versions` and the
    /// versions running calls here). A failure is logged: the change that triggered it
    /// has succeeded, and the next one retries.
    fn retain(&self, plugin: &str) {
        let protect: Vec<Digest> = self
            .in_use
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .copied()
            .collect();
        match self
            .store
            .prune(plugin, self.config.keep_versions, &protect)
        {
            Ok(deleted) if deleted.is_empty() => {}
            Ok(deleted) => {
                tracing::info!(plugin, deleted = ?deleted, keep_versions = self.config.keep_versions, "retention deleted old versions");
            }
            Err(e) => tracing::error!(plugin, error = %e, "retention failed"),
        }
    }

    fn admin_hash(store: &dyn RegistryStore, dir: &Path) -> Result<TokenHash, String> {
        if let Some(h) = store.meta(ADMIN_HASH_KEY).map_err(|e| e.to_string())? {
            return h
                .try_into()
                .map_err(|_| "stored admin token hash is not 32 bytes".to_owned());
        }
        let token = auth::new_admin_token()?;
        let path = dir.join("admin-token");
        crate::store::write_atomic_mode(
            &path,
            format!("{token}\n").as_bytes(),
            crate::datadir::PRIVATE_FILE_MODE,
        )
        .map_err(|e| e.to_string())?;
        let hash = auth::hash_token(&token);
        store
            .set_meta(ADMIN_HASH_KEY, &hash)
            .map_err(|e| e.to_string())?;
        tracing::info!(path = %path.display(), "created the admin token");
        Ok(hash)
    }

    fn restore(&self, snap: &Snapshot) -> Result<(), String> {
        {
            let mut tenants = self.tenants.write().unwrap_or_else(PoisonError::into_inner);
            for row in &snap.tenants {
                let live = self
                    .registry
                    .with_runtime(|r| {
                        LiveTenant::new(r, &row.id, row.token_hash, row.config.clone())
                    })
                    .map_err(|e| format!("tenant {}: {e}", row.id))?;
                self.kv.set_quota(&row.id, row.config.limits.kv_quota_bytes);
                tenants.insert(row.id.clone(), Arc::new(live));
            }
        }
        let started = StdInstant::now();
        let mut compiled = 0usize;
        for (plugin, state) in &snap.plugins {
            // One plugin that cannot be restored (a smoke call that now fails, a missing
            // file) must not keep the others down: log it loudly and go on. Its stored state
            // is untouched until an admin changes it.
            match self.restore_plugin(snap, plugin, state) {
                Ok(n) => compiled += n,
                Err(e) => tracing::error!(plugin = %plugin, error = %e, "could not restore plugin"),
            }
        }
        tracing::info!(
            plugins = snap.plugins.len(),
            versions = snap.versions.len(),
            tenants = snap.tenants.len(),
            compiled,
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "restored state"
        );
        Ok(())
    }

    /// Restores one plugin's acknowledged rollout state WITHOUT re-running the gate (it
    /// passed when the operator promoted; a smoke test that depends on time or state must not
    /// take a version down at a restart). Versions whose signer is no longer trusted are
    /// dropped: an active one falls back to the most recent still-trusted previous version.
    /// A state that changed is written back, so the admin API shows what serves.
    fn restore_plugin(
        &self,
        snap: &Snapshot,
        plugin: &str,
        state: &PluginState,
    ) -> Result<usize, String> {
        let find = |hex: &str| {
            snap.versions
                .iter()
                .find(|v| v.plugin == plugin && v.digest.to_string() == hex)
                .or_else(|| snap.versions.iter().find(|v| v.digest.to_string() == hex))
                .ok_or_else(|| format!("version {hex} has no stored row"))
        };
        let revoked = |hex: &str| -> Result<bool, String> {
            let row = find(hex)?;
            match self.untrusted(row) {
                Some(why) => {
                    tracing::error!(plugin, version = %row.version, digest = %row.digest, reason = %why, "version no longer trusted: it will not serve");
                    Ok(true)
                }
                None => Ok(false),
            }
        };
        let mut live = state.clone();
        let mut previous = Vec::new();
        for hex in &state.previous {
            if !revoked(hex)? {
                previous.push(hex.clone());
            }
        }
        live.previous = previous;
        if let Some(hex) = &state.active
            && revoked(hex)?
        {
            live.active = (!live.previous.is_empty()).then(|| live.previous.remove(0));
            match &live.active {
                Some(to) => {
                    tracing::error!(plugin, from = %hex, to = %to, "active version revoked: falling back to the most recent trusted previous version");
                }
                None => {
                    tracing::error!(plugin, from = %hex, "active version revoked and no trusted previous version: the plugin no longer serves");
                }
            }
        }
        // A canary equal to the active version (left by a rollback before that was fixed) is
        // dropped: it would route nothing anywhere new.
        if let Some((hex, _)) = &state.canary
            && (revoked(hex)? || live.active.as_deref() == Some(hex.as_str()))
        {
            live.canary = None;
        }
        let mut compiled = 0;
        // Oldest first, so that the registry rebuilds the same rollback history.
        let mut order: Vec<&str> = live.previous.iter().rev().map(String::as_str).collect();
        order.extend(live.active.as_deref());
        for hex in order {
            let row = find(hex)?;
            compiled += usize::from(self.ensure_registered(row).map_err(|e| e.message)?);
            self.registry
                .restore_active(plugin, row.digest)
                .map_err(|e| e.to_string())?;
        }
        if let Some((hex, bp)) = &live.canary {
            let row = find(hex)?;
            compiled += usize::from(self.ensure_registered(row).map_err(|e| e.message)?);
            self.registry
                .restore_canary(plugin, row.digest, *bp)
                .map_err(|e| e.to_string())?;
        }
        if live != *state {
            self.persist_state(plugin, state).map_err(|e| e.message)?;
        }
        Ok(compiled)
    }

    /// Why `row` may no longer serve or be promoted, if it may not: its signer was removed
    /// from `trusted_keys`, or it is unsigned and `allow_unsigned` is off.
    fn untrusted(&self, row: &VersionRow) -> Option<String> {
        match &row.signer {
            Some(signer) => {
                let trusted = self
                    .config
                    .trusted_keys
                    .iter()
                    .filter_map(|k| parse_key(k).ok())
                    .any(|k| k.to_string().eq_ignore_ascii_case(signer));
                (!trusted).then(|| {
                    format!(
                        "{}@{} is signed by key {signer}, which is not in `trusted_keys`; upload a version signed by a trusted key",
                        row.plugin, row.version
                    )
                })
            }
            None => (!self.config.allow_unsigned).then(|| {
                format!(
                    "{}@{} is unsigned and `allow_unsigned` is off; upload a signed bundle",
                    row.plugin, row.version
                )
            }),
        }
    }

    fn check_trusted(&self, row: &VersionRow) -> ApiResult<()> {
        match self.untrusted(row) {
            Some(why) => Err(ApiError::new(StatusCode::FORBIDDEN, "untrusted_key", why)),
            None => Ok(()),
        }
    }

    /// Runs `f` (a gated promotion) as a fresh smoke tenant holding every upload capability,
    /// whose KV namespace is empty and discarded afterwards.
    fn gated(&self, f: impl FnOnce(&palisade::Tenant) -> Result<(), Error>) -> ApiResult<()> {
        let space = self.gate_kv.scratch_space();
        let tenant = self
            .registry
            .with_runtime(|r| {
                r.tenant(space.tenant_id())
                    .grant_all(self.config.upload_capabilities.iter().map(String::as_str))
                    .build()
            })
            .map_err(|e| ApiError::internal(format!("smoke tenant: {e}")))?;
        f(&tenant).map_err(|e| rollout_error(&e))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The metrics.
    pub fn metrics(&self) -> &ServerMetrics {
        &self.metrics
    }

    /// The registry store.
    pub fn store(&self) -> &dyn RegistryStore {
        &*self.store
    }

    /// The tenants' KV store.
    pub fn kv(&self) -> &dyn TenantKv {
        &*self.kv
    }

    /// The core registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Calls running on a worker: counted from when a worker starts a call until it finishes
    /// it, so a call whose client has gone away is counted until it has stopped.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Starts draining: new calls get 503, health reports `draining`.
    pub fn begin_drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Interrupts every call that is running or queued: each stops at its next fuel slice
    /// (a queued one before any guest code runs) with the outcome `interrupted`. Used when the
    /// shutdown grace time is over.
    pub fn interrupt_all(&self) {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        for interrupt in running.values() {
            interrupt.interrupt();
        }
    }

    /// Stops the worker pool after in-flight calls finished, then the WAL checkpointer.
    pub fn shutdown_workers(&self) {
        self.pool.shutdown();
        self.background_stop.store(true, Ordering::Relaxed);
        let handle = self
            .checkpointer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// Renders `/metrics`.
    pub fn render_metrics(&self) -> String {
        self.metrics.render(self.in_flight(), self.pool.size())
    }

    // ---- auth -------------------------------------------------------------------------

    /// Checks the admin token.
    ///
    /// # Errors
    ///
    /// 401 `unauthorized` for a missing token, 403 `forbidden` for a wrong one.
    pub fn check_admin(&self, token: Option<&str>) -> ApiResult<()> {
        let token = token.ok_or_else(missing_token)?;
        let hash = *self
            .admin_hash
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if auth::verify(token, &hash) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this token is not the admin token",
            ))
        }
    }

    /// Replaces the admin token: stores the new one's hash, rewrites `DIR/admin-token`
    /// (mode `0600`) and returns the new token, shown only this once. The old token stops
    /// working at once.
    ///
    /// # Errors
    ///
    /// 500 if the token cannot be stored (the old token then stays valid).
    pub fn rotate_admin_token(&self) -> ApiResult<String> {
        let token = auth::new_admin_token().map_err(ApiError::internal)?;
        let hash = auth::hash_token(&token);
        let path = self.config.data_dir.join("admin-token");
        // Database first: if the file write then fails, the new token was still returned to
        // the caller, who is the one who asked for it.
        self.store
            .set_meta(ADMIN_HASH_KEY, &hash)
            .map_err(ApiError::internal)?;
        *self
            .admin_hash
            .write()
            .unwrap_or_else(PoisonError::into_inner) = hash;
        if let Err(e) = crate::store::write_atomic_mode(
            &path,
            format!("{token}\n").as_bytes(),
            crate::datadir::PRIVATE_FILE_MODE,
        ) {
            tracing::error!(path = %path.display(), error = %e, "could not rewrite the admin token file");
        }
        tracing::info!(path = %path.display(), "rotated the admin token");
        Ok(token)
    }

    /// Finds the tenant a token belongs to.
    ///
    /// # Errors
    ///
    /// 401 `unauthorized` for a missing, malformed or unknown token.
    pub fn authenticate(&self, token: Option<&str>) -> ApiResult<Arc<LiveTenant>> {
        let token = token.ok_or_else(missing_token)?;
        let bad = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the token is not valid; ask the operator for a tenant token",
            )
        };
        let id = auth::claimed_tenant(token).ok_or_else(bad)?;
        let tenant = self
            .tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned();
        // Compare against a dummy hash for unknown ids, so timing does not reveal which exist.
        let stored = tenant.as_ref().map_or([0u8; 32], |t| t.token_hash);
        let ok = auth::verify(token, &stored);
        match tenant {
            Some(t) if ok => Ok(t),
            _ => Err(bad()),
        }
    }

    /// Checks a token for `GET /metrics`: the admin token or the configured `metrics_token`.
    ///
    /// # Errors
    ///
    /// 401 `unauthorized` for a missing token, 403 `forbidden` for another one.
    pub fn check_metrics(&self, token: Option<&str>) -> ApiResult<()> {
        let token = token.ok_or_else(missing_token)?;
        let admin_hash = *self
            .admin_hash
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let admin = auth::verify(token, &admin_hash);
        let metrics = self
            .metrics_hash
            .as_ref()
            .is_some_and(|h| auth::verify(token, h));
        if admin || metrics {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "metrics need the admin token or the configured `metrics_token`",
            ))
        }
    }

    /// Whether `digest` is released: some plugin's active, previous or canary version.
    pub fn is_released(&self, digest: Digest) -> bool {
        self.registry
            .plugins()
            .iter()
            .filter_map(|p| self.registry.plugin(p))
            .any(|s| {
                s.active == digest
                    || s.previous.contains(&digest)
                    || s.canary.is_some_and(|c| c.digest == digest)
            })
    }

    /// Takes one token from the tenant's rate bucket (`calls_per_second`, `burst`): plugin
    /// calls and `/v1/kv` requests share it.
    ///
    /// # Errors
    ///
    /// 429 `rate_limited` with `Retry-After` when the bucket is empty.
    pub fn check_rate(&self, tenant: &LiveTenant) -> ApiResult<()> {
        let limits = &tenant.config.limits;
        let now = self.clock.now();
        let acquired = tenant
            .bucket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_acquire(now, limits.calls_per_second, limits.burst);
        if let Err(after) = acquired {
            self.metrics.record_refused(&tenant.id, "rate_limited");
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "tenant `{}` is over its rate of {} calls/s",
                    tenant.id, limits.calls_per_second
                ),
            )
            .retry_after(after));
        }
        Ok(())
    }

    // ---- tenants ----------------------------------------------------------------------

    /// Creates or updates a tenant. Returns a new token when the tenant is new or `rotate`.
    ///
    /// # Errors
    ///
    /// 400 for a bad id or unknown capability; 500 if it cannot be stored.
    pub fn put_tenant(
        &self,
        id: &str,
        config: TenantConfig,
        rotate: bool,
    ) -> ApiResult<Option<String>> {
        if !auth::valid_id(id) {
            return Err(ApiError::bad_request(
                "bad_name",
                format!(
                    "tenant id {id:?} must be 1-64 of [a-z0-9_-], starting with a letter or digit"
                ),
            ));
        }
        for p in &config.plugins {
            if !auth::valid_id(p) {
                return Err(ApiError::bad_request(
                    "bad_name",
                    format!("plugin name {p:?} is not valid"),
                ));
            }
        }
        let existing = self
            .tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned();
        let (token, hash) = match (&existing, rotate) {
            (Some(t), false) => (None, t.token_hash),
            _ => {
                let token = auth::new_tenant_token(id).map_err(ApiError::internal)?;
                let hash = auth::hash_token(&token);
                (Some(token), hash)
            }
        };
        let live = self
            .registry
            .with_runtime(|r| LiveTenant::new(r, id, hash, config.clone()))
            .map_err(|e| ApiError::bad_request("unknown_capability", e.to_string()))?;
        self.store
            .put_tenant(&TenantRow {
                id: id.to_owned(),
                token_hash: hash,
                config,
            })
            .map_err(ApiError::internal)?;
        self.kv.set_quota(id, live.config.limits.kv_quota_bytes);
        self.tenants
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), Arc::new(live));
        Ok(token)
    }

    /// Every tenant's id and config.
    pub fn tenants(&self) -> Vec<(String, TenantConfig)> {
        let mut v: Vec<_> = self
            .tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|t| (t.id.clone(), t.config.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    // ---- registry ---------------------------------------------------------------------

    /// Serialises admin writes.
    pub async fn admin_lock(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.admin_lock.clone().lock_owned().await
    }

    /// Registers a stored version's module with the core registry if it is not there (it may
    /// have been evicted from the staging area, or this is a restart). Returns whether it
    /// compiled.
    fn ensure_registered(&self, row: &VersionRow) -> ApiResult<bool> {
        if self.registry.module(row.digest).is_some() {
            return Ok(false);
        }
        let bytes = self
            .store
            .read_module(&row.digest)
            .map_err(ApiError::internal)?;
        let mut meta = ModuleMeta::named(&row.plugin, &row.version);
        meta.provenance.clone_from(&row.meta.provenance);
        meta.capabilities.clone_from(&row.meta.capabilities);
        meta.smoke = smoke_of(row);
        let registered = self
            .registry
            .register(&bytes, meta)
            .map_err(|e| ApiError::internal(format!("re-registering {}: {e}", row.digest)))?;
        self.metrics
            .record_compile(&row.plugin, row.digest, !registered.compiled);
        Ok(registered.compiled)
    }

    /// Uploads a bundle (or, if `allow_unsigned`, a bare module with `version`) as a new
    /// version of `plugin`. Nothing is stored unless every check passes.
    ///
    /// # Errors
    ///
    /// A 4xx with its own code for every way the upload can be refused.
    pub fn upload(&self, plugin: &str, body: &[u8], version: Option<&str>) -> ApiResult<Uploaded> {
        let result = self.upload_inner(plugin, body, version);
        self.metrics.record_upload(match &result {
            Ok(_) => "ok",
            Err(e) => e.code,
        });
        result
    }

    fn upload_inner(
        &self,
        plugin: &str,
        body: &[u8],
        version: Option<&str>,
    ) -> ApiResult<Uploaded> {
        if !auth::valid_id(plugin) {
            return Err(ApiError::bad_request(
                "bad_name",
                format!("plugin name {plugin:?} must be 1-64 of [a-z0-9_-]"),
            ));
        }
        // A bundle is parsed and verified once; the registry takes the verified bundle.
        let verified = if body.starts_with(b"\0asm") {
            None
        } else {
            let bundle = Bundle::new_checked(body).map_err(|e| bundle_error(&Error::from(e)))?;
            Some(bundle.verify(&self.trust).map_err(|e| {
                let mut err = bundle_error(&Error::from(e));
                if err.code == "untrusted_key" && self.config.trusted_keys.is_empty() {
                    err.message.push_str(
                        "; this server trusts no key yet: put the hex of the signer's .pub file (from `palisade keygen`) in `trusted_keys` in the config file and restart",
                    );
                }
                err
            })?)
        };
        let (module, meta, signer) = if let Some(bundle) = &verified {
            let m = bundle.manifest();
            if m.name() != plugin {
                return Err(ApiError::bad_request(
                    "name_mismatch",
                    format!(
                        "the bundle is for plugin `{}`, uploaded to `{plugin}`",
                        m.name()
                    ),
                ));
            }
            if version.is_some_and(|v| v != m.version()) {
                return Err(ApiError::bad_request(
                    "version_mismatch",
                    format!("the bundle is version `{}`", m.version()),
                ));
            }
            let meta = StoredMeta {
                provenance: m.provenance().to_owned(),
                capabilities: m.capabilities().map(str::to_owned).collect(),
                smoke: m
                    .smoke()
                    .map(|s| (s.entry.to_owned(), hex(s.input), hex(s.expected))),
            };
            (
                bundle.module(),
                meta,
                bundle.signer().map(|k| k.to_string()),
            )
        } else {
            if !self.config.allow_unsigned {
                return Err(ApiError::bad_request(
                    "signature_required",
                    format!(
                        "this server accepts only signed bundles (docs/BUNDLE.md): make one with `palisade pack MODULE.wasm --key palisade.key --name {plugin} --plugin-version VERSION` (the key from `palisade keygen`, the hex of its .pub in `trusted_keys`), or set `allow_unsigned = true`"
                    ),
                ));
            }
            version.filter(|v| !v.is_empty()).ok_or_else(|| {
                ApiError::bad_request(
                    "missing_version",
                    "a bare module upload needs `?version=` (a bundle carries its own)",
                )
            })?;
            (body, StoredMeta::default(), None)
        };
        let version = match (&verified, version) {
            (Some(bundle), _) => bundle.manifest().version().to_owned(),
            (None, Some(v)) => v.to_owned(),
            (None, None) => String::new(),
        };
        if version.is_empty() || version.len() > 64 || version.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "bad_version",
                "a version is 1-64 printable characters",
            ));
        }
        let digest = Digest::of(module);
        // Same (plugin, version) again: identical bytes are an idempotent success.
        let snapshot_row = self.version_row(plugin, &version)?;
        if let Some(row) = snapshot_row.as_ref().filter(|r| r.digest != digest) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "version_exists",
                format!(
                    "{plugin}@{version} already exists with digest {}; versions are immutable, upload a new version",
                    row.digest
                ),
            ));
        }
        // Compile and contract-check (or reuse the compiled module), then check that the
        // imports stay within what this server lets plugins use.
        let mut core_meta = ModuleMeta::named(plugin, &version);
        core_meta.provenance.clone_from(&meta.provenance);
        core_meta.capabilities.clone_from(&meta.capabilities);
        let registered = match &verified {
            Some(bundle) => self.registry.register_verified(bundle),
            None => self.registry.register(module, core_meta),
        }
        .map_err(|e| registration_error(&e))?;
        let compiled = self.registry.compiled(digest);
        let grant_check = match &compiled {
            Some(m) => self
                .registry
                .with_runtime(|r| r.check_grants(m, &self.gate)),
            None => Err(Error::config("the module was evicted during upload")),
        };
        if let Err(e) = grant_check {
            if registered.compiled {
                self.registry.remove_if_unused(digest);
            }
            return Err(registration_error(&e));
        }
        self.metrics
            .record_compile(plugin, digest, !registered.compiled);
        if snapshot_row.is_some() {
            return Ok(Uploaded {
                plugin: plugin.to_owned(),
                version,
                digest: digest.to_string(),
                size: module.len(),
                created: false,
                cache_hit: !registered.compiled,
            });
        }
        // Durable: files (fsynced, renamed) first, then the row; 201 only after the commit.
        let stored = self
            .store
            .put_module(&digest, module, self.config.brotli_quality)
            .and_then(|()| {
                self.store.insert_version(
                    &VersionRow {
                        plugin: plugin.to_owned(),
                        version: version.clone(),
                        digest,
                        seq: 0,
                        signer,
                        meta,
                    },
                    module.len(),
                )
            });
        if let Err(e) = stored {
            if registered.compiled {
                self.registry.remove_if_unused(digest);
            }
            return Err(ApiError::internal(e));
        }
        tracing::info!(plugin, version = %version, digest = %digest, size = module.len(), cache_hit = !registered.compiled, "uploaded");
        self.retain(plugin);
        Ok(Uploaded {
            plugin: plugin.to_owned(),
            version,
            digest: digest.to_string(),
            size: module.len(),
            created: true,
            cache_hit: !registered.compiled,
        })
    }

    fn version_row(&self, plugin: &str, version: &str) -> ApiResult<Option<VersionRow>> {
        Ok(self
            .store
            .load()
            .map_err(ApiError::internal)?
            .versions
            .into_iter()
            .find(|v| v.plugin == plugin && v.version == version))
    }

    /// Finds a stored version of `plugin` by version string or digest.
    fn find_version(
        &self,
        plugin: &str,
        version: Option<&str>,
        digest: Option<&str>,
    ) -> ApiResult<VersionRow> {
        let snap = self.store.load().map_err(ApiError::internal)?;
        let row = match (version, digest) {
            (Some(v), Some(d)) => {
                let row = snap
                    .versions
                    .into_iter()
                    .find(|r| r.plugin == plugin && r.version == v);
                if let Some(r) = row
                    .as_ref()
                    .filter(|r| !r.digest.to_string().eq_ignore_ascii_case(d))
                {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "version_digest_mismatch",
                        format!(
                            "`{plugin}@{v}` has digest {}, not the digest {d} named with it; name one of them, or both of the same version",
                            r.digest
                        ),
                    ));
                }
                row
            }
            (Some(v), None) => snap
                .versions
                .into_iter()
                .find(|r| r.plugin == plugin && r.version == v),
            (None, Some(d)) => {
                let d = Digest::from_hex(d).ok_or_else(|| {
                    ApiError::bad_request("bad_digest", "a digest is 64 hex digits")
                })?;
                snap.versions
                    .into_iter()
                    .find(|r| r.plugin == plugin && r.digest == d)
            }
            (None, None) => {
                return Err(ApiError::bad_request(
                    "bad_request",
                    "name a `version` or a `digest`",
                ));
            }
        };
        row.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_version",
                format!("plugin `{plugin}` has no such version; upload it first"),
            )
        })
    }

    /// Stores `plugin`'s registry state if the stored one is still `expected`. If another
    /// replica changed it meanwhile (`409 conflict`) or the write fails, the registry is put
    /// back to what is stored, so this replica never serves an unacknowledged change.
    fn persist_state(&self, plugin: &str, expected: &PluginState) -> ApiResult<PluginState> {
        let state = self
            .registry
            .plugin(plugin)
            .map(|s| state_of(&s))
            .unwrap_or_default();
        if let Err(e) = self.store.set_plugin_state(plugin, expected, &state) {
            if let Err(again) = self.sync_plugin(plugin) {
                tracing::error!(plugin, error = %again.message, "could not restore the stored rollout state after a failed write");
            }
            return Err(match e {
                StoreError::Conflict { .. } => {
                    ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
                }
                other => ApiError::internal(other),
            });
        }
        Ok(state)
    }

    /// Promotes a stored version to active after the gate (grants, smoke call).
    ///
    /// # Errors
    ///
    /// 404 for an unknown version; 422 `smoke_failed`/`ungranted_import` if the gate refuses.
    pub fn promote(
        &self,
        plugin: &str,
        version: Option<&str>,
        digest: Option<&str>,
    ) -> ApiResult<PluginState> {
        let row = self.find_version(plugin, version, digest)?;
        self.check_trusted(&row)?;
        let expected = self.sync_plugin(plugin)?;
        self.ensure_registered(&row)?;
        // The smoke test of THIS (plugin, version), not of whichever upload of the same bytes
        // registered the module first.
        let smoke = smoke_of(&row);
        self.gated(|t| {
            self.registry
                .promote_with_smoke(plugin, row.digest, t, smoke.as_ref())
        })?;
        tracing::info!(plugin, version = %row.version, digest = %row.digest, "promoted");
        let state = self.persist_state(plugin, &expected)?;
        self.retain(plugin);
        Ok(state)
    }

    /// Routes `fraction` (0..=1) of `plugin`'s request keys to a stored version.
    ///
    /// # Errors
    ///
    /// 400 for a bad fraction; 404/409/422 as for promote.
    pub fn set_canary(
        &self,
        plugin: &str,
        version: Option<&str>,
        digest: Option<&str>,
        fraction: f64,
    ) -> ApiResult<PluginState> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(ApiError::bad_request(
                "bad_fraction",
                "`fraction` is between 0 and 1",
            ));
        }
        let row = self.find_version(plugin, version, digest)?;
        self.check_trusted(&row)?;
        let expected = self.sync_plugin(plugin)?;
        self.ensure_registered(&row)?;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "fraction is checked to be in 0..=1, so the product is in 0..=10000"
        )]
        let bp = (fraction * f64::from(palisade::BASIS_POINTS)).round() as u16;
        let smoke = smoke_of(&row);
        self.gated(|t| {
            self.registry
                .set_canary_with_smoke(plugin, row.digest, bp, t, smoke.as_ref())
        })?;
        tracing::info!(plugin, version = %row.version, digest = %row.digest, basis_points = bp, "canary set");
        let state = self.persist_state(plugin, &expected)?;
        self.retain(plugin);
        Ok(state)
    }

    /// Removes `plugin`'s canary.
    ///
    /// # Errors
    ///
    /// 404 for an unknown plugin.
    pub fn clear_canary(&self, plugin: &str) -> ApiResult<PluginState> {
        let expected = self.sync_plugin(plugin)?;
        self.registry
            .clear_canary(plugin)
            .map_err(|e| rollout_error(&e))?;
        let state = self.persist_state(plugin, &expected)?;
        self.retain(plugin);
        Ok(state)
    }

    /// Brings back the previous active version.
    ///
    /// # Errors
    ///
    /// 404 for an unknown plugin, 409 `no_previous_version`.
    pub fn rollback(&self, plugin: &str) -> ApiResult<PluginState> {
        let expected = self.sync_plugin(plugin)?;
        let digest = self
            .registry
            .rollback(plugin)
            .map_err(|e| rollout_error(&e))?;
        tracing::info!(plugin, digest = %digest, "rolled back");
        let state = self.persist_state(plugin, &expected)?;
        self.retain(plugin);
        Ok(state)
    }

    /// Every plugin (or only `only`) with its stored versions and rollout state.
    ///
    /// # Errors
    ///
    /// 404 `unknown_plugin` if `only` names no stored plugin; 500 if the database fails.
    pub fn list_plugins(&self, only: Option<&str>) -> ApiResult<PluginList> {
        let snap = self.store.load().map_err(ApiError::internal)?;
        let mut names: Vec<&str> = snap.versions.iter().map(|v| v.plugin.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mut out = Vec::new();
        for name in names {
            if only.is_some_and(|o| o != name) {
                continue;
            }
            let versions: Vec<_> = snap
                .versions
                .iter()
                .filter(|v| v.plugin == name)
                .map(|v| VersionInfo {
                    version: v.version.clone(),
                    digest: v.digest.to_string(),
                    seq: v.seq,
                    signer: v.signer.clone(),
                    capabilities: v.meta.capabilities.clone(),
                })
                .collect();
            let state = snap.plugins.get(name).cloned().unwrap_or_default();
            let version_of = |hex: &str| {
                snap.versions
                    .iter()
                    .find(|v| v.plugin == name && v.digest.to_string() == hex)
                    .map(|v| v.version.clone())
            };
            let version_ref = |d: &String| VersionRef {
                digest: d.clone(),
                version: version_of(d),
            };
            out.push(PluginInfo {
                name: name.to_owned(),
                active: state.active.as_ref().map(version_ref),
                previous: state.previous.iter().map(version_ref).collect(),
                canary: state.canary.as_ref().map(|(d, bp)| CanaryRef {
                    digest: d.clone(),
                    version: version_of(d),
                    fraction: f64::from(*bp) / f64::from(palisade::BASIS_POINTS),
                }),
                versions,
            });
        }
        if let Some(plugin) = only.filter(|_| out.is_empty()) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_plugin",
                format!("no plugin `{plugin}` on this server: upload a version first"),
            ));
        }
        Ok(PluginList { plugins: out })
    }

    // ---- invocation -------------------------------------------------------------------

    /// Admits and runs one call on the worker pool ([`Server::admit`], then
    /// [`Server::run`]).
    ///
    /// # Errors
    ///
    /// As [`Server::admit`] and [`Server::run`].
    pub async fn invoke(
        self: &Arc<Self>,
        tenant: Arc<LiveTenant>,
        plugin: &str,
        entry: &str,
        input: Vec<u8>,
        key: Option<Vec<u8>>,
    ) -> ApiResult<Invocation> {
        let admitted = self.admit(tenant, plugin, Some(input.len())).await?;
        self.run(admitted, entry, input, key).await
    }

    /// Admits a call before its input is read: drain, plugin grant, the declared input
    /// length against the tenant's cap, the rate bucket, the tenant's concurrency slot and a
    /// global slot (waited for up to `queue_timeout_ms`). A refused call costs the server no
    /// buffering; an admitted one holds its slots until [`Server::run`] finishes (or the
    /// [`Admitted`] is dropped).
    ///
    /// # Errors
    ///
    /// 403 `plugin_not_granted`, 413 `input_too_large`, 429 (`rate_limited`, `tenant_busy`,
    /// `server_busy`) with `Retry-After`, 503 `shutting_down`.
    pub async fn admit(
        &self,
        tenant: Arc<LiveTenant>,
        plugin: &str,
        input_len: Option<usize>,
    ) -> ApiResult<Admitted> {
        if self.is_draining() {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the server is shutting down; retry on another replica",
            )
            .retry_after(std::time::Duration::from_secs(1)));
        }
        if !tenant.may_invoke(plugin) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "plugin_not_granted",
                format!(
                    "tenant `{}` may not invoke plugin `{plugin}`; ask the operator to grant it",
                    tenant.id
                ),
            ));
        }
        let limits = &tenant.config.limits;
        if let Some(len) = input_len {
            check_input_len(&tenant, len)?;
        }
        self.check_rate(&tenant)?;
        let Ok(tenant_slot) = tenant.slots.clone().try_acquire_owned() else {
            self.metrics.record_refused(&tenant.id, "tenant_busy");
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "tenant_busy",
                format!(
                    "tenant `{}` already has {} calls in flight",
                    tenant.id, limits.max_concurrency
                ),
            )
            .retry_after(std::time::Duration::from_secs(1)));
        };
        let global = tokio::time::timeout(
            self.config.queue_timeout(),
            self.global.clone().acquire_owned(),
        )
        .await;
        let Ok(Ok(global_slot)) = global else {
            self.metrics.record_refused(&tenant.id, "server_busy");
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "server_busy",
                "the server is at its global concurrency cap",
            )
            .retry_after(std::time::Duration::from_secs(1)));
        };
        Ok(Admitted {
            tenant,
            plugin: plugin.to_owned(),
            slots: (tenant_slot, global_slot),
        })
    }

    /// Runs an admitted call on the worker pool.
    ///
    /// # Errors
    ///
    /// 413 `input_too_large` if `input` is over the tenant's cap (a body sent without a
    /// length); 503 `shutting_down` if the pool has stopped.
    pub async fn run(
        self: &Arc<Self>,
        admitted: Admitted,
        entry: &str,
        input: Vec<u8>,
        key: Option<Vec<u8>>,
    ) -> ApiResult<Invocation> {
        check_input_len(&admitted.tenant, input.len())?;
        let Admitted {
            tenant,
            plugin,
            slots: (tenant_slot, global_slot),
        } = admitted;
        let interrupt = Interrupt::new();
        let registered = Running::register(self, interrupt.clone());
        // The request future is dropped when the client goes away (hyper drops the handler
        // of a closed connection): the call then stops at its next fuel slice instead of
        // holding a worker until its deadline, or for good with an unbounded deadline.
        let _client_gone = InterruptOnDrop(interrupt.clone());
        let server = self.clone();
        let entry = entry.to_owned();
        let weight = tenant.config.limits.weight;
        let pool_tenant = tenant.id.clone();
        // The call, run one fuel slice per job slice: `Start` until the first slice, then
        // the pending call between slices.
        let mut pending: Option<PendingCall> = None;
        let mut input = Some(input);
        let mut log_dropped = 0;
        let mut job = Some((tenant_slot, global_slot, registered));
        let mut held: Option<InUse> = None;
        let mut counted: Option<InFlight> = None;
        let ran = self
            .pool
            .run_sliced(&pool_tenant, weight, move || {
                if counted.is_none() {
                    counted = Some(InFlight::new(server.in_flight.clone()));
                }
                if LAST_YIELD.get().is_none() {
                    LAST_YIELD.set(Some(StdInstant::now()));
                }
                let (step, dropped) =
                    crate::log::with_call(&plugin, tenant.log_gate.clone(), || {
                        match pending.take() {
                            Some(call) => call.step(),
                            None => {
                                let key = key.as_deref().unwrap_or(tenant.id.as_bytes());
                                match server.registry.start_call(
                                    &plugin,
                                    &tenant.core,
                                    &entry,
                                    input.take().unwrap_or_default(),
                                    key,
                                    Some(interrupt.clone()),
                                ) {
                                    // The first slice runs at once, like every later one.
                                    Step::Pending(call) => {
                                        held = Some(InUse::hold(&server.in_use, call.digest()));
                                        call.step()
                                    }
                                    done => done,
                                }
                            }
                        }
                    });
                log_dropped += dropped;
                let call = match step {
                    Step::Pending(call) => {
                        pending = Some(call);
                        return None;
                    }
                    Step::Done(call) => call,
                };
                LAST_YIELD.set(None);
                server.registry.record(&plugin, &tenant.id, &call.report);
                server.metrics.record_log_dropped(&tenant.id, log_dropped);
                server
                    .metrics
                    .record_call(&plugin, &tenant.id, &call.report);
                let r = &call.report;
                tracing::info!(
                    tenant = %tenant.id,
                    plugin = %plugin,
                    digest = %r.digest.short(),
                    outcome = %r.outcome,
                    fuel = r.fuel_used,
                    latency_us = u64::try_from(r.wall_time.as_micros()).unwrap_or(u64::MAX),
                    memory = r.memory_high_water,
                    "call"
                );
                // Slots and the running entry are released before the answer is sent.
                drop(job.take());
                drop(counted.take());
                drop(held.take());
                Some(Invocation {
                    report: call.report,
                    result: call.result,
                })
            })
            .await;
        ran.ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the worker pool has stopped",
            )
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.background_stop.store(true, Ordering::Relaxed);
    }
}

/// A running call's hold on its module's digest: retention keeps the version meanwhile.
struct InUse {
    map: Arc<std::sync::Mutex<HashMap<Digest, usize>>>,
    digest: Digest,
}

impl InUse {
    fn hold(map: &Arc<std::sync::Mutex<HashMap<Digest, usize>>>, digest: Digest) -> Self {
        *map.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(digest)
            .or_insert(0) += 1;
        Self {
            map: map.clone(),
            digest,
        }
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.digest) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.digest);
            }
        }
    }
}

/// A call that passed admission: it holds its tenant and global slots until run or dropped.
pub struct Admitted {
    tenant: Arc<LiveTenant>,
    plugin: String,
    slots: (
        tokio::sync::OwnedSemaphorePermit,
        tokio::sync::OwnedSemaphorePermit,
    ),
}

impl Admitted {
    /// The tenant's own input cap, at most the server's `max_input_bytes`: what the body
    /// may be read up to.
    pub fn input_cap(&self, server_cap: usize) -> usize {
        self.tenant.config.limits.input_bytes.min(server_cap)
    }
}

fn check_input_len(tenant: &LiveTenant, len: usize) -> ApiResult<()> {
    let cap = tenant.config.limits.input_bytes;
    if len > cap {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "input_too_large",
            format!("the input is {len} bytes, over this tenant's cap of {cap}"),
        ));
    }
    Ok(())
}

/// Raises a call's interrupt when dropped: held by the request future, so a client that goes
/// away stops its call. Raising it after the call finished does nothing.
struct InterruptOnDrop(Interrupt);

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        self.0.interrupt();
    }
}

/// A call's entry in [`Server::running`], removed when dropped (the call finished, or its
/// job was dropped unrun).
struct Running {
    server: Arc<Server>,
    id: u64,
}

impl Running {
    fn register(server: &Arc<Server>, interrupt: Interrupt) -> Self {
        let id = server.next_call.fetch_add(1, Ordering::Relaxed);
        server
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, interrupt);
        Self {
            server: server.clone(),
            id,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// Counts a call from its first slice on a worker until it has finished (parked calls too).
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(counter: Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn missing_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "send `Authorization: Bearer <token>`",
    )
}

/// The smoke test stored with a version.
fn smoke_of(row: &VersionRow) -> Option<Smoke> {
    row.meta
        .smoke
        .as_ref()
        .and_then(|(entry, input, expected)| {
            Some(Smoke {
                entry: entry.clone(),
                input: unhex(input)?,
                expected: unhex(expected)?,
            })
        })
}

fn state_of(s: &PluginStatus) -> PluginState {
    PluginState {
        active: Some(s.active.to_string()),
        previous: s.previous.iter().map(ToString::to_string).collect(),
        canary: s.canary.map(|c| (c.digest.to_string(), c.basis_points)),
    }
}

/// Maps a bundle error (parsing, verification, manifest check) to its 4xx.
fn bundle_error(e: &Error) -> ApiError {
    let (status, code) = match e.kind() {
        ErrorKind::Bundle(BundleError::BadSignature) => (StatusCode::BAD_REQUEST, "bad_signature"),
        ErrorKind::Bundle(BundleError::UntrustedKey(_)) => (StatusCode::FORBIDDEN, "untrusted_key"),
        ErrorKind::Bundle(BundleError::MissingSignature) => {
            (StatusCode::BAD_REQUEST, "signature_required")
        }
        ErrorKind::Bundle(BundleError::DigestMismatch { .. }) => {
            (StatusCode::BAD_REQUEST, "digest_mismatch")
        }
        ErrorKind::Bundle(BundleError::Manifest(_)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "manifest_mismatch")
        }
        _ => (StatusCode::BAD_REQUEST, "malformed_bundle"),
    };
    ApiError::new(status, code, e.to_string())
}

/// Maps a registration error to its 4xx.
fn registration_error(e: &Error) -> ApiError {
    match e.kind() {
        ErrorKind::Bundle(_) => bundle_error(e),
        _ => ApiError::from_registration(e),
    }
}

/// Maps a promote/canary/rollback error.
fn rollout_error(e: &Error) -> ApiError {
    let (status, code) = match e.kind() {
        ErrorKind::Registry(RegistryError::UnknownPlugin { .. }) => {
            (StatusCode::NOT_FOUND, "unknown_plugin")
        }
        ErrorKind::Registry(RegistryError::UnknownModule { .. }) => {
            (StatusCode::NOT_FOUND, "unknown_version")
        }
        ErrorKind::Registry(RegistryError::NoPreviousVersion { .. }) => {
            (StatusCode::CONFLICT, "no_previous_version")
        }
        ErrorKind::Registry(RegistryError::SmokeFailed { .. }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "smoke_failed")
        }
        ErrorKind::CapabilityDenied { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "ungranted_import")
        }
        ErrorKind::Config { .. } => (StatusCode::CONFLICT, "conflict"),
        _ => return ApiError::internal(e.to_string()),
    };
    ApiError::new(status, code, e.to_string())
}

/// Opens a server for tests and tools: `Config` with `data_dir` set to `dir`.
///
/// # Errors
///
/// As [`Server::open`].
pub fn open_at(dir: &Path, mut config: Config) -> Result<Arc<Server>, String> {
    config.data_dir = dir.to_owned();
    Server::open(config)
}
