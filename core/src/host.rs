//! What a host supplies to the sandbox: a clock, a log sink, a key-value store, a random source.
//!
//! Each is a small trait with `&self` methods so that one instance serves every call and every
//! tenant; implementations synchronise internally. The core ships no_std defaults where one is
//! meaningful ([`MemoryKv`](crate::MemoryKv), [`DiscardLog`], [`ManualClock`], [`SeededRandom`]); hosts with an
//! operating system bring real ones (`palisade-desktop`'s `StdClock`, a `tracing` log sink, ...).

use core::fmt;
use core::time::Duration;

use crate::digest::Digest;
use crate::escape::Escaped;
use crate::extensions::Extensions;

/// A point on a host's monotonic clock, in nanoseconds since an origin the host chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(pub u64);

impl Instant {
    /// The time elapsed from `earlier` to `self` (zero if `earlier` is later).
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, saturating at the end of time.
    pub fn saturating_add(self, d: Duration) -> Instant {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(nanos))
    }
}

/// A monotonic clock. Deadlines are checked against it between fuel slices and in host calls.
///
/// It must never go backwards. It is called a few times per call; keep it cheap.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Instant;

    /// Nanoseconds since 1970-01-01T00:00:00Z, if the host knows the date (default: `None`).
    /// Only WASI's `clock_time_get(realtime)` asks; without it a guest reads [`Clock::now`]
    /// there too, so it measures durations but does not learn the date.
    fn unix_time(&self) -> Option<u64> {
        None
    }

    /// Waits until [`Clock::now`] reaches `until` (WASI's `poll_oneoff` sleeps with it, never
    /// past the call's deadline and in short steps, so an interrupt is seen).
    ///
    /// The default busy-waits on [`Clock::now`]: right for a no_std host with nothing better,
    /// costly anywhere else. A host with an OS sleeps (`palisade-std`'s `StdClock`), a board
    /// may wait for an interrupt, and a simulated clock ([`ManualClock`]) jumps forward.
    fn sleep_until(&self, until: Instant) {
        while self.now() < until {
            core::hint::spin_loop();
        }
    }
}

/// A clock that moves only when told to: for tests and for simulated time.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: spin::Mutex<u64>,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward.
    pub fn advance(&self, d: Duration) {
        let mut now = self.now.lock();
        *now = Instant(*now).saturating_add(d).0;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        Instant(*self.now.lock())
    }

    /// Simulated time: a sleep moves the clock forward to `until` at once.
    fn sleep_until(&self, until: Instant) {
        let mut now = self.now.lock();
        *now = (*now).max(until.0);
    }
}

/// The level of a guest log line (the `level` argument of `palisade.log`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `0`
    Error,
    /// `1`
    Warn,
    /// `2`
    Info,
    /// `3`
    Debug,
    /// `4`
    Trace,
}

impl LogLevel {
    /// Decodes the ABI value; `None` for anything outside `0..=4`.
    pub fn from_abi(level: i32) -> Option<Self> {
        Some(match level {
            0 => Self::Error,
            1 => Self::Warn,
            2 => Self::Info,
            3 => Self::Debug,
            4 => Self::Trace,
            _ => return None,
        })
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

/// One guest log line, tagged with who wrote it.
#[derive(Debug, Clone, Copy)]
pub struct LogRecord<'a> {
    /// The tenant whose call wrote the line.
    pub tenant: &'a str,
    /// The module that wrote it.
    pub digest: &'a Digest,
    /// The level the guest chose.
    pub level: LogLevel,
    /// The bytes the guest wrote (not necessarily UTF-8).
    pub message: &'a [u8],
    /// The call's extension slot: what the host seeded for this call
    /// ([`Runtime::call_with_extensions`](crate::Runtime::call_with_extensions),
    /// [`PendingCall::extensions_mut`](crate::PendingCall::extensions_mut)). A sink that tags
    /// or gates lines per call (which plugin runs, the tenant's log rate) reads it here rather
    /// than from a thread-local.
    pub extensions: &'a Extensions,
}

/// `[tenant digest] level: message`, the message escaped and cut by [`Escaped`]: always one
/// line, whatever the guest wrote.
impl fmt::Display for LogRecord<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{} {}] {}: {}",
            self.tenant,
            self.digest.short(),
            self.level.as_str(),
            self.message_escaped()
        )
    }
}

impl<'a> LogRecord<'a> {
    /// The message as one line of safe text (see [`Escaped`]): what every text sink writes.
    pub fn message_escaped(&self) -> Escaped<'a> {
        Escaped::new(self.message)
    }
}

/// Where guest log lines go (defmt on boards, `tracing` on std hosts).
///
/// The message is the guest's raw bytes: a sink that writes text must write it through
/// [`LogRecord::message_escaped`] (or the record's `Display`), never verbatim, so that a guest
/// cannot forge host log lines or send escape sequences to a terminal.
pub trait LogSink: Send + Sync {
    /// Receives one line. Must not panic.
    fn log(&self, record: &LogRecord<'_>);
}

/// A sink that drops every line.
#[derive(Debug, Default, Clone, Copy)]
pub struct DiscardLog;

impl LogSink for DiscardLog {
    fn log(&self, _record: &LogRecord<'_>) {}
}

/// The random source failed or is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomError;

/// Random bytes for the `random` capability.
pub trait RandomSource: Send + Sync {
    /// Fills `buf`.
    ///
    /// # Errors
    ///
    /// [`RandomError`] if no randomness is available.
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError>;
}

/// No randomness: `random_fill` returns `HOST`. The default, because the core cannot know a
/// board's entropy source.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRandom;

impl RandomSource for NoRandom {
    fn fill(&self, _buf: &mut [u8]) -> Result<(), RandomError> {
        Err(RandomError)
    }
}

/// A deterministic generator (SplitMix64) from a seed. **Not cryptographic**: for tests,
/// simulations, and boards that seed it from a hardware source.
#[derive(Debug)]
pub struct SeededRandom {
    state: spin::Mutex<u64>,
}

impl SeededRandom {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: spin::Mutex::new(seed),
        }
    }
}

impl RandomSource for SeededRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        let mut state = self.state.lock();
        for chunk in buf.chunks_mut(8) {
            *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = *state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let bytes = z.to_le_bytes();
            chunk.copy_from_slice(bytes.get(..chunk.len()).unwrap_or(&bytes));
        }
        Ok(())
    }
}
