//! Guest log lines on the server: escaped, filtered by the tenant's minimum level, and rate
//! limited per tenant, so log volume is the operator's choice, not the guest's.
//!
//! A worker seeds each call's extension slot with a [`CallLog`] (which plugin is running, which
//! tenant's [`LogGate`] applies, and a counter of the lines the gate dropped, for
//! `palisade_guest_log_dropped_total`); [`TracingLog`] reads it from every line's
//! [`LogRecord::extensions`]. No thread-local: a call's slices may run on different workers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant as StdInstant;

use palisade::{Instant, LogLevel, LogRecord, LogSink, TokenBucket};
use serde::{Deserialize, Serialize};

/// Default guest log lines per second one tenant may write to the server log: 100.
pub const DEFAULT_LOG_LINES_PER_SECOND: u32 = 100;
/// Default burst of guest log lines one tenant may write at once: 200.
pub const DEFAULT_LOG_BURST: u32 = 200;

/// The lowest level of guest line a tenant's calls may write to the server log (the tenant
/// limit `log_level`; lines below it are discarded before the rate limit, and not counted as
/// dropped). JSON: `"error"`, `"warn"`, `"info"` (the default), `"debug"`, `"trace"`. The
/// server's own filter (`RUST_LOG`, default `info`) still applies after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GuestLogLevel {
    /// Only `error` lines.
    Error,
    /// `warn` and `error`.
    Warn,
    /// `info` and above (default).
    #[default]
    Info,
    /// `debug` and above.
    Debug,
    /// Every line.
    Trace,
}

impl GuestLogLevel {
    /// Whether a line at `level` passes.
    pub fn admits(self, level: LogLevel) -> bool {
        let lowest = match self {
            Self::Error => LogLevel::Error,
            Self::Warn => LogLevel::Warn,
            Self::Info => LogLevel::Info,
            Self::Debug => LogLevel::Debug,
            Self::Trace => LogLevel::Trace,
        };
        // `LogLevel` orders from `Error` (most severe) to `Trace`.
        level <= lowest
    }
}

/// One tenant's guest-log policy: its minimum level and its line bucket, shared by all of the
/// tenant's calls in flight.
#[derive(Debug)]
pub struct LogGate {
    min_level: GuestLogLevel,
    lines_per_second: u32,
    burst: u32,
    bucket: Mutex<TokenBucket>,
    origin: StdInstant,
}

impl LogGate {
    /// A gate with a full bucket. `lines_per_second = 0` means unlimited; a `burst` of 0 acts
    /// as 1.
    pub fn new(min_level: GuestLogLevel, lines_per_second: u32, burst: u32) -> Self {
        Self {
            min_level,
            lines_per_second,
            burst,
            bucket: Mutex::new(TokenBucket::new()),
            origin: StdInstant::now(),
        }
    }

    /// Whether a line at `level` is at or above the tenant's minimum level.
    pub fn admits(&self, level: LogLevel) -> bool {
        self.min_level.admits(level)
    }

    /// Takes one line from the bucket; `false` if the tenant is over its rate.
    pub fn take(&self) -> bool {
        let now = Instant(u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX));
        self.bucket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_acquire(now, self.lines_per_second, self.burst)
            .is_ok()
    }
}

/// What the log sink needs to know about one call, kept in its extension slot
/// ([`palisade::PendingCall::extensions_mut`]).
#[derive(Debug)]
pub struct CallLog {
    plugin: String,
    gate: Arc<LogGate>,
    dropped: Arc<AtomicU64>,
}

impl CallLog {
    /// A call of `plugin` for the tenant whose gate is `gate`; lines the gate drops are counted
    /// in `dropped`, which the caller keeps a clone of.
    pub fn new(plugin: &str, gate: Arc<LogGate>, dropped: Arc<AtomicU64>) -> Self {
        Self {
            plugin: plugin.to_owned(),
            gate,
            dropped,
        }
    }
}

/// Guest log lines to `tracing` (target `guest`), tagged with tenant, plugin and digest.
///
/// The message is escaped and cut by [`palisade::Escaped`] in both log formats: one guest
/// line is one server log line, and the JSON `message` string holds the escaped text. For a
/// call seeded with a [`CallLog`], lines below the tenant's `log_level` are discarded and lines
/// over its rate are dropped and counted. Other calls (promotion smoke calls, run by the
/// admin) have their lines only escaped; those calls are bounded by the per-call `log_bytes`.
#[derive(Debug, Clone, Copy)]
pub struct TracingLog;

impl LogSink for TracingLog {
    fn log(&self, r: &LogRecord<'_>) {
        // The gate's bucket and the log writer are locks shared with every thread: taken at
        // normal priority even from a background worker (the pool's priority ceiling).
        let _fg = crate::pool::foreground_section();
        let plugin = match r.extensions.get::<CallLog>() {
            Some(call) => {
                if !call.gate.admits(r.level) {
                    return;
                }
                if !call.gate.take() {
                    call.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                call.plugin.as_str()
            }
            None => "",
        };
        emit(r, plugin);
    }
}

fn emit(r: &LogRecord<'_>, plugin: &str) {
    let message = r.message_escaped();
    let digest = r.digest.short();
    match r.level {
        LogLevel::Error => {
            tracing::error!(target: "guest", tenant = r.tenant, plugin = %plugin, digest = %digest, %message);
        }
        LogLevel::Warn => {
            tracing::warn!(target: "guest", tenant = r.tenant, plugin = %plugin, digest = %digest, %message);
        }
        LogLevel::Info => {
            tracing::info!(target: "guest", tenant = r.tenant, plugin = %plugin, digest = %digest, %message);
        }
        LogLevel::Debug => {
            tracing::debug!(target: "guest", tenant = r.tenant, plugin = %plugin, digest = %digest, %message);
        }
        LogLevel::Trace => {
            tracing::trace!(target: "guest", tenant = r.tenant, plugin = %plugin, digest = %digest, %message);
        }
    }
}
