//! Per tenant (or plugin) limits, each with a documented default, and the call-rate token bucket.

use core::time::Duration;

use wasmi_core::LimiterError;

use crate::host::Instant;

/// The limits one call runs under. Build with [`Limits::builder`]; every field has a `DEFAULT_*`.
///
/// # Limitations with malicious guests
///
/// - Fuel bounds guest instructions and host-call work, not time spent blocked in the host: the
///   deadline covers that, checked every [`Limits::fuel_slice`] units of fuel and in host calls.
///   A single basic block is never interrupted, so the deadline can be overrun by one slice.
/// - All three bound every piece of guest code of a call: the start function (see
///   [`START_EXPORT`](crate::abi::START_EXPORT)), `palisade_alloc` and the entry point share the one budget and deadline.
/// - Compilation (translation) is not metered; it is bounded by the module size cap at
///   registration, and happens at most once per function per module.
/// - The memory cap bounds linear memory, not the interpreter's own stacks, which wasmi bounds
///   by its recursion and stack limits ([`StackLimits`], set per runtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (≈ instructions, plus host-call prices) per call.
    pub fuel: u64,
    /// Fuel handed to the guest between two deadline checks.
    pub fuel_slice: u64,
    /// Linear memory cap in bytes.
    pub memory_bytes: usize,
    /// Table elements cap.
    pub table_elements: usize,
    /// Wall-clock deadline per call.
    pub deadline: Duration,
    /// Input size cap in bytes.
    pub input_bytes: usize,
    /// Output (or error message) size cap in bytes.
    pub output_bytes: usize,
    /// Log bytes per call; lines beyond it are dropped and `log` returns `QUOTA`.
    pub log_bytes: usize,
    /// Largest KV value in bytes.
    pub kv_value_bytes: usize,
    /// KV bytes (keys + values) one call may write.
    pub kv_write_bytes: usize,
    /// Calls per second admitted by the token bucket; `0` means unlimited.
    pub calls_per_second: u32,
    /// Token bucket size: calls admitted in a burst.
    pub burst: u32,
}

impl Limits {
    /// Default fuel per call: 10 million (≈ a few ms of interpretation on a desktop core).
    pub const DEFAULT_FUEL: u64 = 10_000_000;
    /// Default fuel slice between deadline checks: 100,000.
    pub const DEFAULT_FUEL_SLICE: u64 = 100_000;
    /// Default memory cap: 16 MiB.
    pub const DEFAULT_MEMORY_BYTES: usize = 16 << 20;
    /// Default table elements cap: 10,000.
    pub const DEFAULT_TABLE_ELEMENTS: usize = 10_000;
    /// Default deadline: 100 ms.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_millis(100);
    /// Default input cap: 1 MiB.
    pub const DEFAULT_INPUT_BYTES: usize = 1 << 20;
    /// Default output cap: 1 MiB.
    pub const DEFAULT_OUTPUT_BYTES: usize = 1 << 20;
    /// Default log bytes per call: 4 KiB.
    pub const DEFAULT_LOG_BYTES: usize = 4 << 10;
    /// Default largest KV value: 64 KiB.
    pub const DEFAULT_KV_VALUE_BYTES: usize = 64 << 10;
    /// Default KV bytes written per call: 256 KiB.
    pub const DEFAULT_KV_WRITE_BYTES: usize = 256 << 10;
    /// Default call rate: 1,000 calls per second.
    pub const DEFAULT_CALLS_PER_SECOND: u32 = 1_000;
    /// Default burst: 1,000 calls.
    pub const DEFAULT_BURST: u32 = 1_000;

    /// A builder starting from the defaults.
    pub fn builder() -> LimitsBuilder {
        LimitsBuilder(Self::default())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: Self::DEFAULT_FUEL,
            fuel_slice: Self::DEFAULT_FUEL_SLICE,
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            table_elements: Self::DEFAULT_TABLE_ELEMENTS,
            deadline: Self::DEFAULT_DEADLINE,
            input_bytes: Self::DEFAULT_INPUT_BYTES,
            output_bytes: Self::DEFAULT_OUTPUT_BYTES,
            log_bytes: Self::DEFAULT_LOG_BYTES,
            kv_value_bytes: Self::DEFAULT_KV_VALUE_BYTES,
            kv_write_bytes: Self::DEFAULT_KV_WRITE_BYTES,
            calls_per_second: Self::DEFAULT_CALLS_PER_SECOND,
            burst: Self::DEFAULT_BURST,
        }
    }
}

/// Builds [`Limits`]; each setter documents the default it replaces.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct LimitsBuilder(Limits);

impl LimitsBuilder {
    /// Fuel per call (default [`Limits::DEFAULT_FUEL`]).
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.0.fuel = fuel;
        self
    }
    /// Fuel between deadline checks (default [`Limits::DEFAULT_FUEL_SLICE`]; minimum 1).
    pub fn fuel_slice(mut self, slice: u64) -> Self {
        self.0.fuel_slice = slice.max(1);
        self
    }
    /// Linear memory cap in bytes (default [`Limits::DEFAULT_MEMORY_BYTES`]).
    pub fn memory_bytes(mut self, bytes: usize) -> Self {
        self.0.memory_bytes = bytes;
        self
    }
    /// Table elements cap (default [`Limits::DEFAULT_TABLE_ELEMENTS`]).
    pub fn table_elements(mut self, n: usize) -> Self {
        self.0.table_elements = n;
        self
    }
    /// Wall-clock deadline (default [`Limits::DEFAULT_DEADLINE`]).
    pub fn deadline(mut self, d: Duration) -> Self {
        self.0.deadline = d;
        self
    }
    /// Input cap (default [`Limits::DEFAULT_INPUT_BYTES`]).
    pub fn input_bytes(mut self, n: usize) -> Self {
        self.0.input_bytes = n;
        self
    }
    /// Output cap (default [`Limits::DEFAULT_OUTPUT_BYTES`]).
    pub fn output_bytes(mut self, n: usize) -> Self {
        self.0.output_bytes = n;
        self
    }
    /// Log bytes per call (default [`Limits::DEFAULT_LOG_BYTES`]).
    pub fn log_bytes(mut self, n: usize) -> Self {
        self.0.log_bytes = n;
        self
    }
    /// Largest KV value (default [`Limits::DEFAULT_KV_VALUE_BYTES`]).
    pub fn kv_value_bytes(mut self, n: usize) -> Self {
        self.0.kv_value_bytes = n;
        self
    }
    /// KV bytes written per call (default [`Limits::DEFAULT_KV_WRITE_BYTES`]).
    pub fn kv_write_bytes(mut self, n: usize) -> Self {
        self.0.kv_write_bytes = n;
        self
    }
    /// Calls per second, `0` for unlimited (default [`Limits::DEFAULT_CALLS_PER_SECOND`]).
    pub fn calls_per_second(mut self, n: u32) -> Self {
        self.0.calls_per_second = n;
        self
    }
    /// Burst size (default [`Limits::DEFAULT_BURST`]; minimum 1).
    pub fn burst(mut self, n: u32) -> Self {
        self.0.burst = n.max(1);
        self
    }
    /// The finished limits.
    pub fn build(self) -> Limits {
        self.0
    }
}

const NANOS_PER_TOKEN: u64 = 1_000_000_000;

/// A token bucket on the host clock: `rate` calls per second, bursts of up to `burst`.
///
/// Integer arithmetic only; a token is worth 10⁹ "nano-tokens" so refills are exact.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    nano_tokens: u64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket.
    pub const fn new() -> Self {
        Self {
            nano_tokens: u64::MAX,
            last: None,
        }
    }

    /// Takes one token at `now`, or says how long until one is available.
    ///
    /// # Errors
    ///
    /// The time to wait when the bucket is empty.
    pub fn try_acquire(
        &mut self,
        now: Instant,
        calls_per_second: u32,
        burst: u32,
    ) -> Result<(), Duration> {
        if calls_per_second == 0 {
            return Ok(());
        }
        let rate = u64::from(calls_per_second);
        let capacity = u64::from(burst.max(1)).saturating_mul(NANOS_PER_TOKEN);
        let refill = match self.last {
            Some(last) => now.0.saturating_sub(last.0).saturating_mul(rate),
            None => capacity,
        };
        self.last = Some(now);
        self.nano_tokens = self.nano_tokens.saturating_add(refill).min(capacity);
        if self.nano_tokens >= NANOS_PER_TOKEN {
            self.nano_tokens -= NANOS_PER_TOKEN;
            Ok(())
        } else {
            let missing = NANOS_PER_TOKEN - self.nano_tokens;
            Err(Duration::from_nanos(missing.div_ceil(rate)))
        }
    }
}

impl Default for TokenBucket {
    fn default() -> Self {
        Self::new()
    }
}

/// Limits of the interpreter's own stacks, set once per [`Runtime`](crate::Runtime) with
/// [`RuntimeBuilder::stack_limits`](crate::RuntimeBuilder::stack_limits). Every call of the
/// runtime shares them. The defaults are wasmi's; [`StackLimits::small_footprint`] suits a
/// microcontroller heap.
///
/// A guest that recurses past [`StackLimits::max_recursion_depth`] or needs more than
/// [`StackLimits::max_bytes`] of value stack traps with [`TrapKind::StackOverflow`](crate::TrapKind::StackOverflow);
/// the host is not affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackLimits {
    /// Bytes of value stack allocated when a call starts (it grows on demand up to `max_bytes`).
    pub initial_bytes: usize,
    /// Largest value stack in bytes; a call that needs more traps.
    pub max_bytes: usize,
    /// Deepest nesting of guest calls; a call that goes deeper traps.
    pub max_recursion_depth: usize,
    /// Stacks kept for reuse by later calls (0: every call allocates its own).
    pub cached_stacks: usize,
}

impl StackLimits {
    /// Default initial value stack: 1,000 bytes (wasmi's default).
    pub const DEFAULT_INITIAL_BYTES: usize = 1_000;
    /// Default largest value stack: 1,000,000 bytes (wasmi's default).
    pub const DEFAULT_MAX_BYTES: usize = 1_000_000;
    /// Default deepest call nesting: 1,000 (wasmi's default).
    pub const DEFAULT_MAX_RECURSION_DEPTH: usize = 1_000;
    /// Default stacks kept for reuse: 2 (wasmi's default).
    pub const DEFAULT_CACHED_STACKS: usize = 2;

    /// wasmi's defaults (the `DEFAULT_*` constants).
    pub const fn new() -> Self {
        Self {
            initial_bytes: Self::DEFAULT_INITIAL_BYTES,
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_recursion_depth: Self::DEFAULT_MAX_RECURSION_DEPTH,
            cached_stacks: Self::DEFAULT_CACHED_STACKS,
        }
    }

    /// For a microcontroller with a few tens of KiB of heap: 128 bytes of initial value stack,
    /// at most 16 KiB, 64 nested calls, one stack kept for reuse. Plenty for control rules;
    /// a guest that needs more traps with a stack overflow instead of exhausting the heap.
    pub const fn small_footprint() -> Self {
        Self {
            initial_bytes: 128,
            max_bytes: 16 * 1024,
            max_recursion_depth: 64,
            cached_stacks: 1,
        }
    }

    /// Whether wasmi accepts these limits: `initial_bytes <= max_bytes` and a recursion depth
    /// of at least 1.
    pub(crate) const fn is_valid(&self) -> bool {
        self.initial_bytes <= self.max_bytes && self.max_recursion_depth > 0
    }
}

impl Default for StackLimits {
    fn default() -> Self {
        Self::new()
    }
}

/// Caps linear memory and tables, and records the high-water mark and refused growths.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MemoryMeter {
    pub(crate) cap: usize,
    table_cap: usize,
    /// Instances, tables and memories a store may create (1 instance per call; more for raw
    /// stores that link spec modules together).
    max_items: usize,
    pub(crate) high_water: usize,
    pub(crate) cap_hits: u32,
}

impl MemoryMeter {
    pub(crate) fn new(limits: &Limits, max_items: usize) -> Self {
        Self {
            cap: limits.memory_bytes,
            table_cap: limits.table_elements,
            max_items,
            high_water: 0,
            cap_hits: 0,
        }
    }
}

impl wasmi::ResourceLimiter for MemoryMeter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        if desired > self.cap {
            self.cap_hits = self.cap_hits.saturating_add(1);
            return Ok(false);
        }
        self.high_water = self.high_water.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        Ok(desired <= self.table_cap)
    }

    fn instances(&self) -> usize {
        self.max_items
    }

    fn tables(&self) -> usize {
        self.max_items.max(4)
    }

    fn memories(&self) -> usize {
        self.max_items
    }
}
