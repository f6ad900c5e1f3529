//! Unit tests of the pieces that need no guest.
#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly on purpose"
)]

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

/// A runtime on a manual clock, for the compile-path tests (here and in `registry::tests`).
pub(crate) fn runtime() -> crate::Runtime {
    crate::Runtime::builder(alloc::sync::Arc::new(crate::ManualClock::new()))
        .build()
        .expect("default runtime builds")
}

#[test]
fn signatures_are_described_in_text_format_types() {
    use wasmi::{FuncType, ValType};
    let ty = FuncType::new(
        [ValType::I32, ValType::I64, ValType::F32, ValType::F64],
        [ValType::FuncRef, ValType::ExternRef],
    );
    assert_eq!(
        crate::abi::describe(&ty),
        "(i32, i64, f32, f64) -> (funcref, externref)"
    );
    assert_eq!(crate::abi::describe(&FuncType::new([], [])), "() -> ()");
}

#[test]
fn import_signature_mismatch_names_both_signatures() {
    let wasm = wat::parse_str(
        r#"(module
             (import "palisade" "output" (func (param i64)))
             (memory (export "memory") 1)
             (func (export "palisade_alloc") (param i32) (result i32) (i32.const 0))
             (func (export "run") (param i32 i32) (result i32) (i32.const 0))
             (@custom "palisade.abi" "\01\00\00\00"))"#,
    )
    .expect("valid WAT");
    let err = runtime()
        .compile(&wasm)
        .expect_err("wrong signature is refused");
    assert_eq!(
        err.kind(),
        &ErrorKind::ContractViolation(crate::ContractViolation::ImportSignature {
            name: "output".into(),
            expected: "(i32, i32) -> ()".into(),
            found: "(i64) -> ()".into(),
        })
    );
}

#[test]
fn invalid_module_reason_depends_on_feature_messages() {
    let rt = runtime();
    let err = rt.compile(b"not wasm").expect_err("garbage is refused");
    let ErrorKind::InvalidModule { reason } = err.kind() else {
        panic!("expected InvalidModule, got {err:?}");
    };
    if cfg!(feature = "messages") {
        // wasmi's own words.
        assert!(reason.contains("magic"), "{reason}");
    } else {
        assert_eq!(reason, crate::error::INVALID_MODULE);
    }
    // The runtime keeps compiling good modules afterwards.
    let good = wat::parse_str(
        r#"(module
             (memory (export "memory") 1)
             (func (export "palisade_alloc") (param i32) (result i32) (i32.const 0))
             (func (export "run") (param i32 i32) (result i32) (i32.const 0))
             (@custom "palisade.abi" "\01\00\00\00"))"#,
    )
    .expect("valid WAT");
    assert!(rt.compile(&good).is_ok());
}
