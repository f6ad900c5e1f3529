//! N calls of the per-call bench's tiny guest, through Palisade or through raw wasmi, for a
//! stable instruction count under callgrind (the criterion bench measures time; this counts).
//!
//! `valgrind --tool=callgrind target/release/examples/per_call_count palisade 2000`; run with two
//! values of N and divide the difference by the difference in N to cancel the setup cost.
#![expect(clippy::unwrap_used, reason = "measurement harness")]

use std::hint::black_box;
use std::sync::Arc;

use palisade::{Clock, Instant};

#[path = "../benches/common/per_call.rs"]
mod common;

/// A clock that advances by one nanosecond per reading: deterministic under callgrind.
struct TickClock(std::sync::atomic::AtomicU64);

impl Clock for TickClock {
    fn now(&self) -> Instant {
        Instant(self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap();
    let n: u32 = args.next().unwrap().parse().unwrap();
    if which == "palisade" {
        let sandboxed = common::Sandboxed::new(Arc::new(TickClock(0.into())));
        for _ in 0..n {
            black_box(sandboxed.call());
        }
    } else {
        let raw = common::Raw::new();
        for _ in 0..n {
            black_box(raw.call());
        }
    }
}
