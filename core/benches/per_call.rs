//! Per-call cost: Palisade (fresh store + instance + call of a tiny guest, with fuel, memory cap,
//! deadline, rate limit and capabilities) against raw wasmi (Store::new + instantiate + call of
//! the same module, same input, same output handling), measured in the same run.
//!
//! `cargo bench -p palisade --bench per_call`
#![expect(clippy::unwrap_used, reason = "benchmark setup")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use criterion::{Criterion, criterion_group, criterion_main};
use palisade::{Clock, Instant};

#[path = "common/per_call.rs"]
mod common;

// Not `palisade_std::StdClock`: a dev-dependency on `palisade-std` would turn on the core's
// `std` and `messages` features for the core's own tests too (Cargo unifies them), and those
// tests check the build without `messages`. Five lines of clock are the cheaper price.
/// A monotonic clock over [`std::time::Instant`].
struct StdClock(StdInstant);

impl Clock for StdClock {
    fn now(&self) -> Instant {
        Instant(u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}

fn per_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("per_call");
    group.measurement_time(Duration::from_secs(3));
    let sandboxed = common::Sandboxed::new(Arc::new(StdClock(StdInstant::now())));
    group.bench_function("palisade", |b| b.iter(|| black_box(sandboxed.call())));
    let raw = common::Raw::new();
    group.bench_function("raw_wasmi", |b| b.iter(|| black_box(raw.call())));
    group.finish();
}

criterion_group!(benches, per_call);
criterion_main!(benches);
