//! Tenants as the server knows them: grants, plugins they may invoke, limits, and the live
//! admission state (rate bucket, concurrency semaphore).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade::{Limits, Runtime, TokenBucket};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::auth::TokenHash;
use crate::log::{DEFAULT_LOG_BURST, DEFAULT_LOG_LINES_PER_SECOND, GuestLogLevel, LogGate};

/// Default calls one tenant may have admitted at once.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 1;
/// Default scheduling weight: 1, an equal share of the workers with every other tenant.
pub const DEFAULT_WEIGHT: u32 = 1;
/// Largest `weight`: 1,000.
pub const MAX_WEIGHT: u32 = 1000;
/// Default KV quota per tenant (keys + values): 1 MiB.
pub const DEFAULT_KV_QUOTA_BYTES: usize = 1 << 20;

/// Per-tenant limits, as set through the admin API. Absent fields take the defaults named.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TenantLimits {
    /// Fuel per call (default [`Limits::DEFAULT_FUEL`]).
    pub fuel: u64,
    /// Linear memory cap in bytes (default [`Limits::DEFAULT_MEMORY_BYTES`]).
    pub memory_bytes: usize,
    /// Wall-clock deadline per call in ms (default 100).
    pub deadline_ms: u64,
    /// Input cap in bytes (default [`Limits::DEFAULT_INPUT_BYTES`]).
    pub input_bytes: usize,
    /// Output cap in bytes (default [`Limits::DEFAULT_OUTPUT_BYTES`]).
    pub output_bytes: usize,
    /// Log bytes per call (default [`Limits::DEFAULT_LOG_BYTES`]).
    pub log_bytes: usize,
    /// Largest KV value (default [`Limits::DEFAULT_KV_VALUE_BYTES`]).
    pub kv_value_bytes: usize,
    /// KV bytes one call may write (default [`Limits::DEFAULT_KV_WRITE_BYTES`]).
    pub kv_write_bytes: usize,
    /// KV namespace quota (default [`DEFAULT_KV_QUOTA_BYTES`]).
    pub kv_quota_bytes: usize,
    /// Calls per second, `0` for unlimited (default [`Limits::DEFAULT_CALLS_PER_SECOND`]).
    pub calls_per_second: u32,
    /// Burst size (default [`Limits::DEFAULT_BURST`]).
    pub burst: u32,
    /// Calls admitted at once (default [`DEFAULT_MAX_CONCURRENCY`]).
    pub max_concurrency: u32,
    /// The tenant's share of the workers when tenants compete: fuel slices per turn of the
    /// round-robin (default [`DEFAULT_WEIGHT`]; 1..=[`MAX_WEIGHT`]). See `crate::pool`.
    pub weight: u32,
    /// Guest log lines per second that reach the server log, over all of the tenant's calls;
    /// `0` for unlimited (default [`DEFAULT_LOG_LINES_PER_SECOND`]). Lines over it are dropped
    /// and counted in `palisade_guest_log_dropped_total`.
    pub log_lines_per_second: u32,
    /// Guest log lines that may reach the server log at once (default [`DEFAULT_LOG_BURST`];
    /// `0` acts as 1).
    pub log_burst: u32,
    /// The lowest level of guest line that reaches the server log (default `info`).
    pub log_level: GuestLogLevel,
}

impl Default for TenantLimits {
    fn default() -> Self {
        let l = Limits::default();
        Self {
            fuel: l.fuel,
            memory_bytes: l.memory_bytes,
            deadline_ms: u64::try_from(l.deadline.as_millis()).unwrap_or(u64::MAX),
            input_bytes: l.input_bytes,
            output_bytes: l.output_bytes,
            log_bytes: l.log_bytes,
            kv_value_bytes: l.kv_value_bytes,
            kv_write_bytes: l.kv_write_bytes,
            kv_quota_bytes: DEFAULT_KV_QUOTA_BYTES,
            calls_per_second: l.calls_per_second,
            burst: l.burst,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            weight: DEFAULT_WEIGHT,
            log_lines_per_second: DEFAULT_LOG_LINES_PER_SECOND,
            log_burst: DEFAULT_LOG_BURST,
            log_level: GuestLogLevel::Info,
        }
    }
}

/// Largest `deadline_ms`: 10 minutes. A call holds a worker until its deadline.
pub const MAX_DEADLINE_MS: u64 = 600_000;
/// Largest `memory_bytes`: 4 GiB, all a 32-bit memory can address.
pub const MAX_MEMORY_BYTES: usize = 1 << 32;
/// Largest `max_concurrency`: 65 536.
pub const MAX_CONCURRENCY: u32 = 1 << 16;

impl TenantLimits {
    /// Checks every limit against its range: `fuel` ≥ 1, `memory_bytes` 1..=[`MAX_MEMORY_BYTES`],
    /// `deadline_ms` 1..=[`MAX_DEADLINE_MS`], `input_bytes` 0..=the server's `max_input_bytes`,
    /// `burst` ≥ 1, `max_concurrency` 1..=[`MAX_CONCURRENCY`], `weight` 1..=[`MAX_WEIGHT`]. Byte caps of 0 (`output_bytes`,
    /// `log_bytes`, `kv_*`) are allowed and mean "none"; `calls_per_second` 0 means unlimited.
    ///
    /// # Errors
    ///
    /// The first field out of range and a message naming its allowed range.
    pub fn validate(&self, server: &crate::Config) -> Result<(), (&'static str, String)> {
        let range = |field: &'static str, value: u128, lo: u128, hi: u128| {
            if (lo..=hi).contains(&value) {
                Ok(())
            } else {
                Err((
                    field,
                    format!("{value} is outside the allowed range {lo}..={hi}"),
                ))
            }
        };
        let wide = |n: usize| u128::try_from(n).unwrap_or(u128::MAX);
        range("fuel", self.fuel.into(), 1, u64::MAX.into())?;
        range(
            "memory_bytes",
            wide(self.memory_bytes),
            1,
            wide(MAX_MEMORY_BYTES),
        )?;
        range(
            "deadline_ms",
            self.deadline_ms.into(),
            1,
            MAX_DEADLINE_MS.into(),
        )?;
        range(
            "input_bytes",
            wide(self.input_bytes),
            0,
            wide(server.max_input_bytes),
        )?;
        range("burst", self.burst.into(), 1, u32::MAX.into())?;
        range(
            "max_concurrency",
            self.max_concurrency.into(),
            1,
            MAX_CONCURRENCY.into(),
        )?;
        range("weight", self.weight.into(), 1, MAX_WEIGHT.into())?;
        Ok(())
    }

    /// The core limits of one call. The call rate is enforced by the server before a call is
    /// queued, so the core's own bucket is switched off (`calls_per_second = 0`).
    pub fn call_limits(&self) -> Limits {
        Limits::builder()
            .fuel(self.fuel)
            .memory_bytes(self.memory_bytes)
            .deadline(Duration::from_millis(self.deadline_ms))
            .input_bytes(self.input_bytes)
            .output_bytes(self.output_bytes)
            .log_bytes(self.log_bytes)
            .kv_value_bytes(self.kv_value_bytes)
            .kv_write_bytes(self.kv_write_bytes)
            .calls_per_second(0)
            .build()
    }
}

/// What the admin sets for a tenant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TenantConfig {
    /// Capabilities granted (`log`, `kv.read`, ...). None by default.
    pub grants: Vec<String>,
    /// Plugins the tenant may invoke. None by default.
    pub plugins: Vec<String>,
    /// Limits.
    pub limits: TenantLimits,
}

/// A live tenant: its config, the core tenant, and admission state.
pub struct LiveTenant {
    /// Id.
    pub id: String,
    /// Stored token hash.
    pub token_hash: TokenHash,
    /// Config.
    pub config: TenantConfig,
    /// The core tenant calls run as.
    pub core: palisade::Tenant,
    /// Call-rate bucket.
    pub bucket: Mutex<TokenBucket>,
    /// Concurrency cap.
    pub slots: Arc<Semaphore>,
    /// Guest log policy: minimum level and line bucket, shared by the tenant's calls.
    pub log_gate: Arc<LogGate>,
}

impl LiveTenant {
    /// Builds the live tenant, checking grants against the runtime.
    ///
    /// # Errors
    ///
    /// The core's message for an unknown capability.
    pub fn new(
        runtime: &Runtime,
        id: &str,
        token_hash: TokenHash,
        config: TenantConfig,
    ) -> Result<Self, palisade::Error> {
        let core = runtime
            .tenant(id)
            .grant_all(config.grants.iter().map(String::as_str))
            .limits(config.limits.call_limits())
            .build()?;
        let slots = Arc::new(Semaphore::new(
            usize::try_from(config.limits.max_concurrency.max(1)).unwrap_or(1),
        ));
        let log_gate = Arc::new(LogGate::new(
            config.limits.log_level,
            config.limits.log_lines_per_second,
            config.limits.log_burst,
        ));
        Ok(Self {
            id: id.to_owned(),
            token_hash,
            config,
            core,
            bucket: Mutex::new(TokenBucket::new()),
            slots,
            log_gate,
        })
    }

    /// Whether the tenant may invoke `plugin`.
    pub fn may_invoke(&self, plugin: &str) -> bool {
        self.config.plugins.iter().any(|p| p == plugin)
    }
}
