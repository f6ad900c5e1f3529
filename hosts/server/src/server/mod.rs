//! The server's state and operations, independent of HTTP: open and restore, upload, rollout,
//! tenants, admission and invocation.
//!
//! One file per operation: `restore` (open, restore, replica reconciliation), `tenants`
//! (tokens and tenant administration), `upload`, `rollout` (promote, canary, rollback,
//! listing) and `invoke` (admission and runs on the worker pool).

mod invoke;
mod restore;
mod rollout;
mod tenants;
mod upload;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant as StdInstant;

use axum::http::StatusCode;
use palisade::{Bundle, PublicKey, SignaturePolicy, TrustStore};
use palisade::{
    CallReport, Clock, Digest, Error, Instant, Interrupt, ModuleMeta, PendingCall, PluginStatus,
    Registry, Runtime, Smoke, Step,
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

pub use self::invoke::{Admitted, Invocation};
pub use self::upload::Uploaded;

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
}

impl Drop for Server {
    fn drop(&mut self) {
        self.background_stop.store(true, Ordering::Relaxed);
    }
}

fn missing_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "send `Authorization: Bearer <token>`",
    )
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
