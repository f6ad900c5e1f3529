//! Fixed-size call metrics: counts by outcome, latency and fuel histograms with quantiles.
//!
//! Nothing here allocates: a [`Metrics`] is a few KiB of counters, updated in place.

use crate::CallReport;
use crate::error::Outcome;

/// Sub-buckets per power of two: 4 gives quantiles within 12.5 %.
const SUB_BITS: u32 = 2;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = SUB + (64 - SUB_BITS as usize) * SUB;

/// A log-linear histogram of `u64` values: exact below 4, then 4 buckets per power of two.
#[derive(Clone)]
pub struct Histogram {
    counts: [u64; BUCKETS],
    total: u64,
    sum: u64,
    max: u64,
}

impl core::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.total)
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.quantile(0.99))
            .field("max", &self.max)
            .finish()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

fn bucket_of(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= SUB_BITS
    let shift = exp - SUB_BITS;
    let sub = ((v >> shift) as usize) & (SUB - 1);
    SUB + (shift as usize) * SUB + sub
}

/// The largest value that falls into bucket `i`.
fn bucket_upper(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let shift = ((i - SUB) / SUB) as u32;
    let sub = ((i - SUB) % SUB) as u64;
    let base = (SUB as u64 + sub) << shift;
    base.saturating_add((1u64 << shift) - 1)
}

impl Histogram {
    /// An empty histogram.
    pub const fn new() -> Self {
        Self {
            counts: [0; BUCKETS],
            total: 0,
            sum: 0,
            max: 0,
        }
    }

    /// Records one value.
    pub fn record(&mut self, v: u64) {
        if let Some(c) = self.counts.get_mut(bucket_of(v)) {
            *c += 1;
        }
        self.total += 1;
        self.sum = self.sum.saturating_add(v);
        self.max = self.max.max(v);
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Sum of the values recorded (saturating).
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// Largest value recorded.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value below which a fraction `q` (0.0..=1.0) of the values fall, as the upper bound of
    /// its bucket (never above the largest value seen); `0` when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let q = q.clamp(0.0, 1.0);
        // ceil(q * total), at least 1, computed without float rounding surprises for q = 1.0.
        let rank = ((q * self.total as f64) as u64).max(1);
        let rank = if (rank as f64) < q * self.total as f64 {
            rank + 1
        } else {
            rank
        };
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_upper(i).min(self.max);
            }
        }
        self.max
    }

    /// Non-empty buckets as `(upper bound, count)`, in increasing order: for exporters.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c > 0)
            .map(|(i, &c)| (bucket_upper(i), c))
    }

    /// Adds every value of `other` into `self`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.sum = self.sum.saturating_add(other.sum);
        self.max = self.max.max(other.max);
    }
}

/// Metrics for one (plugin, tenant) pair. Update with [`Metrics::record`]; read the fields.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    calls: [u64; Outcome::COUNT],
    /// Wall time per call, in microseconds.
    pub latency_us: Histogram,
    /// Fuel used per call.
    pub fuel: Histogram,
    /// Calls during which the memory cap refused a growth.
    pub memory_cap_hits: u64,
    /// Calls stopped by their deadline.
    pub deadline_trips: u64,
    /// Calls stopped by the host through an [`Interrupt`](crate::Interrupt).
    pub interrupts: u64,
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one call.
    pub fn record(&mut self, report: &CallReport) {
        if let Some(c) = self.calls.get_mut(report.outcome.index()) {
            *c += 1;
        }
        let micros = u64::try_from(report.wall_time.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.record(micros);
        self.fuel.record(report.fuel_used);
        if report.memory_cap_hits > 0 {
            self.memory_cap_hits += 1;
        }
        if report.outcome == Outcome::DeadlineExceeded {
            self.deadline_trips += 1;
        }
        if report.outcome == Outcome::Interrupted {
            self.interrupts += 1;
        }
    }

    /// Calls that ended with `outcome`.
    pub fn calls(&self, outcome: Outcome) -> u64 {
        self.calls.get(outcome.index()).copied().unwrap_or(0)
    }

    /// All calls recorded.
    pub fn total_calls(&self) -> u64 {
        self.calls.iter().sum()
    }

    /// Adds `other` into `self` (for aggregating across tenants or plugins).
    pub fn merge(&mut self, other: &Metrics) {
        for (a, b) in self.calls.iter_mut().zip(other.calls.iter()) {
            *a += b;
        }
        self.latency_us.merge(&other.latency_us);
        self.fuel.merge(&other.fuel);
        self.memory_cap_hits += other.memory_cap_hits;
        self.deadline_trips += other.deadline_trips;
        self.interrupts += other.interrupts;
    }
}
