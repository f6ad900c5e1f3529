//! Shared fixtures of Palisade's integration tests (`tests/threats`, `tests/guests`,
//! `tests/spec`): a runtime wired to a recording log and an inspectable kv store, a clock that
//! moves by itself, and the check that a runtime still serves a good guest after an attack.

#![expect(
    clippy::panic,
    reason = "a test-support crate: a failed expectation must fail the test that called it"
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use palisade::{
    Clock, CompiledModule, Digest, ErrorKind, Instant, Limits, LogRecord, LogSink, MemoryKv,
    Runtime, Tenant,
};
use palisade_guest_artifacts::SHA256;

/// A clock that advances by a fixed step every time it is read, so that a guest that never
/// returns crosses its deadline in a bounded number of fuel slices, without sleeping.
#[derive(Debug)]
pub struct StepClock {
    now: AtomicU64,
    step: u64,
}

impl StepClock {
    /// A clock at zero that moves `step` per reading.
    pub fn new(step: Duration) -> Self {
        Self {
            now: AtomicU64::new(0),
            step: u64::try_from(step.as_nanos()).unwrap_or(u64::MAX),
        }
    }
}

impl Clock for StepClock {
    fn now(&self) -> Instant {
        Instant(self.now.fetch_add(self.step, Ordering::Relaxed))
    }
}

/// One log line as the sink received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The tenant the host tagged it with.
    pub tenant: String,
    /// The module digest the host tagged it with.
    pub digest: Digest,
    /// The message bytes, raw, as the guest wrote them.
    pub message: Vec<u8>,
    /// The line as a text sink writes it: the record's `Display` (tags from the host, the
    /// message escaped and cut by `palisade::Escaped`).
    pub rendered: String,
}

/// A log sink that keeps every line.
#[derive(Debug, Default)]
pub struct RecordingLog {
    lines: Mutex<Vec<Line>>,
}

impl RecordingLog {
    /// Every line so far.
    pub fn lines(&self) -> Vec<Line> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Total message bytes received for `tenant`.
    pub fn bytes_for(&self, tenant: &str) -> usize {
        self.lines()
            .iter()
            .filter(|l| l.tenant == tenant)
            .map(|l| l.message.len())
            .sum()
    }
}

impl LogSink for RecordingLog {
    fn log(&self, record: &LogRecord<'_>) {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Line {
                tenant: record.tenant.to_owned(),
                digest: *record.digest,
                message: record.message.to_vec(),
                rendered: record.to_string(),
            });
    }
}

/// A runtime and the host services it was built with, for inspection.
pub struct Host {
    /// The runtime under test.
    pub runtime: Runtime,
    /// Where guest log lines went.
    pub log: Arc<RecordingLog>,
    /// The kv store behind `kv.*`.
    pub kv: Arc<MemoryKv>,
}

/// A host with a [`StepClock`] of 1 µs per reading, a [`RecordingLog`] and a [`MemoryKv`] with
/// the default quota.
pub fn host() -> Host {
    host_with(
        Arc::new(StepClock::new(Duration::from_micros(1))),
        MemoryKv::new(),
    )
}

/// A host with the given clock and kv store.
pub fn host_with(clock: Arc<dyn Clock>, kv: MemoryKv) -> Host {
    let log = Arc::new(RecordingLog::default());
    let kv = Arc::new(kv);
    let runtime = Runtime::builder(clock)
        .log_sink(log.clone())
        .kv_store(kv.clone())
        .build();
    match runtime {
        Ok(runtime) => Host { runtime, log, kv },
        Err(e) => panic!("the default runtime always builds: {e}"),
    }
}

/// Limits for attack tests: a 2 M fuel budget (≈ ms), a 4 MiB memory cap, no call-rate limit;
/// everything else at its default. Good guests run well within them.
pub fn attack_limits() -> Limits {
    Limits::builder()
        .fuel(2_000_000)
        .memory_bytes(4 << 20)
        .calls_per_second(0)
        .build()
}

/// A tenant with `grants` and [`attack_limits`].
pub fn tenant(host: &Host, id: &str, grants: &[&str]) -> Tenant {
    tenant_with(host, id, grants, attack_limits())
}

/// A tenant with `grants` and `limits`.
pub fn tenant_with(host: &Host, id: &str, grants: &[&str], limits: Limits) -> Tenant {
    match host
        .runtime
        .tenant(id)
        .grant_all(grants.iter().copied())
        .limits(limits)
        .build()
    {
        Ok(t) => t,
        Err(e) => panic!("test tenants use known capabilities: {e}"),
    }
}

/// Compiles a module the test expects to be accepted.
pub fn compile(host: &Host, bytes: &[u8]) -> CompiledModule {
    match host.runtime.compile(bytes) {
        Ok(m) => m,
        Err(e) => panic!("the module should compile: {e}"),
    }
}

/// The error kind of a call that must fail.
pub fn error_kind<R: std::fmt::Debug>(call: palisade::Call<R>) -> ErrorKind {
    match call.result {
        Err(e) => e.kind().clone(),
        Ok(out) => panic!("the call should have failed, it returned {out:?}"),
    }
}

/// SHA-256 of `abc`, what the good guest must return.
pub const SHA256_ABC: [u8; 32] = [
    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
];

/// Asserts that the same runtime and tenant still serve a good guest (the `sha256` example)
/// correctly: the host survived the attack.
pub fn assert_serves_good_guest(host: &Host, tenant: &Tenant) {
    let module = compile(host, SHA256);
    let call = host.runtime.call(&module, tenant, "digest", b"abc");
    match call.result {
        Ok(out) => assert_eq!(out, SHA256_ABC, "the good guest returned a wrong digest"),
        Err(e) => panic!("the good guest failed after the attack: {e}"),
    }
    assert_eq!(call.report.outcome, palisade::Outcome::Ok);
}
