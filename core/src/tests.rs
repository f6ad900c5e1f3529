//! Unit tests of the pieces that need no guest.
#![expect(clippy::expect_used, reason = "tests fail loudly on purpose")]

use core::time::Duration;

use crate::host::Instant;
use crate::limits::TokenBucket;
use crate::metrics::Histogram;
use crate::{Digest, Error, ErrorKind, Outcome};

#[test]
fn error_is_one_pointer_wide() {
    assert_eq!(core::mem::size_of::<Error>(), core::mem::size_of::<usize>());
}

#[test]
fn error_message_names_tenant_plugin_and_advice() {
    let e = Error::new(ErrorKind::OutOfFuel { budget: 10 })
        .with_plugin("thermostat")
        .with_tenant("acme");
    let msg = alloc::format!("{e}");
    assert!(msg.contains("ran out of fuel (budget 10)"), "{msg}");
    assert!(msg.contains("plugin `thermostat`, tenant `acme`"), "{msg}");
    assert!(msg.contains("raise the `fuel` limit"), "{msg}");
    assert_eq!(e.outcome(), Outcome::OutOfFuel);
}

#[test]
fn outcome_indices_match_all() {
    for (i, o) in Outcome::ALL.iter().enumerate() {
        assert_eq!(o.index(), i);
    }
}

#[test]
fn token_bucket_admits_burst_then_refills_at_rate() {
    let mut b = TokenBucket::new();
    let t0 = Instant(1_000);
    for _ in 0..5 {
        assert!(b.try_acquire(t0, 10, 5).is_ok());
    }
    let wait = b.try_acquire(t0, 10, 5).expect_err("bucket is empty");
    assert_eq!(wait, Duration::from_millis(100));
    // 100 ms later one token is back, and only one.
    let t1 = t0.saturating_add(Duration::from_millis(100));
    assert!(b.try_acquire(t1, 10, 5).is_ok());
    assert!(b.try_acquire(t1, 10, 5).is_err());
    // Zero means unlimited.
    assert!(b.try_acquire(t1, 0, 1).is_ok());
}

#[test]
fn histogram_quantiles_are_within_a_bucket() {
    let mut h = Histogram::new();
    for v in 1..=1000u64 {
        h.record(v);
    }
    let p50 = h.quantile(0.5);
    let p99 = h.quantile(0.99);
    assert!((500..=500 + 500 / 4).contains(&p50), "p50 {p50}");
    assert!((990..=1000).contains(&p99), "p99 {p99}");
    assert_eq!(h.quantile(1.0), 1000);
    assert_eq!(h.count(), 1000);
    assert_eq!(Histogram::new().quantile(0.5), 0);
}

#[test]
fn digest_hex_round_trips() {
    let d = Digest::of(b"abc");
    let hex = alloc::format!("{d}");
    assert_eq!(
        hex,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(Digest::from_hex(&hex), Some(d));
    assert_eq!(alloc::format!("{}", d.short()), "ba7816bf");
    assert_eq!(Digest::from_hex("zz"), None);
}

#[test]
fn shared_handles_can_cross_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<crate::Runtime>();
    assert_send_sync::<crate::CompiledModule>();
    assert_send_sync::<crate::Tenant>();
    assert_send_sync::<crate::Error>();
}
