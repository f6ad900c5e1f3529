//! Per-call state: what a store carries through one call, and what every call of a runtime shares.

use alloc::sync::Arc;
use alloc::vec::Vec;

use wasmi::{Linker, Memory};

use crate::capability::CapabilityTable;
use crate::digest::Digest;
use crate::extensions::Extensions;
use crate::host::{Clock, Instant, LogSink, RandomSource};
use crate::interrupt::Interrupt;
use crate::limits::{Limits, MemoryMeter, StackLimits};
use crate::tenant::Tenant;
use crate::{KvStore, KvWrites};

/// Links one host function into a linker (run once per engine generation).
pub(crate) type Installer =
    Arc<dyn Fn(&mut Linker<CallState>) -> Result<(), wasmi::errors::LinkerError> + Send + Sync>;

/// What every call of a runtime shares: host services and the capability table.
pub(crate) struct Shared {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) log: Arc<dyn LogSink>,
    pub(crate) kv: Arc<dyn KvStore>,
    pub(crate) random: Arc<dyn RandomSource>,
    pub(crate) table: CapabilityTable,
    pub(crate) installers: Vec<Installer>,
    pub(crate) max_module_bytes: usize,
    pub(crate) stack: StackLimits,
    /// The directory WASI guests granted `files.read` see (`crate::wasi`).
    #[cfg(feature = "wasi")]
    pub(crate) files: Option<Arc<dyn crate::files::WasiFiles>>,
    /// Whether tenants granted `files.write` too may write in it.
    #[cfg(feature = "wasi")]
    pub(crate) files_writable: bool,
}

/// The per-call state a store carries; host functions reach it through `Caller::data`.
///
/// Created fresh for every call and dropped with the instance.
pub struct CallState {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tenant: Tenant,
    pub(crate) digest: Digest,
    pub(crate) limits: Limits,
    pub(crate) deadline_at: Instant,
    pub(crate) interrupt: Option<Interrupt>,
    pub(crate) fuel_reserve: u64,
    pub(crate) meter: MemoryMeter,
    pub(crate) memory: Option<Memory>,
    pub(crate) output: Option<(u32, u32)>,
    pub(crate) log_bytes: usize,
    pub(crate) log_dropped: u32,
    pub(crate) kv_written: usize,
    /// This call's KV writes, committed when it succeeds (`Runtime::run`).
    pub(crate) kv_writes: KvWrites,
    /// The per-call extension slot: the embedder's (and profiles') own state for this call.
    pub(crate) extensions: Extensions,
}

impl CallState {
    /// The calling tenant's id.
    pub fn tenant(&self) -> &str {
        self.tenant.id()
    }

    /// The digest of the module being run.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The limits of this call.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The host clock's current time.
    pub fn clock_now(&self) -> Instant {
        self.shared.clock.now()
    }

    /// The per-call extension slot: values the embedder seeded with
    /// [`Runtime::call_with_extensions`](crate::Runtime::call_with_extensions) (and that profiles
    /// such as WASI keep), one per type. Fresh for every call.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The per-call extension slot, for changing (see [`CallState::extensions`]).
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// Whether the host has interrupted this call ([`Runtime::call_interruptible`](crate::Runtime::call_interruptible)); a host
    /// function that waits for something should stop waiting when it is.
    pub fn is_interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(Interrupt::is_interrupted)
    }
}

impl CallState {
    pub(crate) fn new(
        shared: Arc<Shared>,
        tenant: Tenant,
        digest: Digest,
        deadline_at: Instant,
    ) -> Self {
        let limits = *tenant.limits();
        Self {
            shared,
            digest,
            deadline_at,
            interrupt: None,
            // The whole budget is in reserve until fuel is handed to the store: a call that
            // ends before any guest code runs reports 0 fuel used.
            fuel_reserve: limits.fuel,
            meter: MemoryMeter::new(&limits, 1),
            memory: None,
            output: None,
            log_bytes: 0,
            log_dropped: 0,
            kv_written: 0,
            kv_writes: KvWrites::default(),
            extensions: Extensions::new(),
            limits,
            tenant,
        }
    }
}
