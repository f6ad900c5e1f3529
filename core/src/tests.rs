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

/// A runtime on a manual clock, for the compile-path tests below.
fn runtime() -> crate::Runtime {
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

/// A guest whose `echo` outputs `tag`.
fn tagged(tag: &str) -> alloc::vec::Vec<u8> {
    wat::parse_str(alloc::format!(
        r#"(module
             (import "palisade" "output" (func $output (param i32 i32)))
             (memory (export "memory") 1)
             (data (i32.const 16) "{tag}")
             (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
             (func (export "echo") (param i32 i32) (result i32)
               (call $output (i32.const 16) (i32.const {len})) (i32.const 0))
             (@custom "palisade.abi" "\01\00\00\00"))"#,
        len = tag.len()
    ))
    .expect("valid WAT")
}

#[test]
fn rollback_clears_a_canary_of_the_version_rolled_back_to() {
    let registry = crate::Registry::new(runtime());
    let tenant = registry
        .with_runtime(|r| r.tenant("t").build())
        .expect("tenant");
    let meta = |v: &str| crate::ModuleMeta::named("p", v);
    let one = registry.register(&tagged("one"), meta("1")).expect("v1");
    let two = registry.register(&tagged("two"), meta("2")).expect("v2");
    registry
        .promote("p", one.digest, &tenant)
        .expect("promote 1");
    registry
        .promote("p", two.digest, &tenant)
        .expect("promote 2");
    registry
        .set_canary("p", one.digest, 5_000, &tenant)
        .expect("canary 1");
    assert_eq!(registry.rollback("p").expect("rollback"), one.digest);
    let status = registry.plugin("p").expect("plugin");
    assert_eq!((status.active, status.canary), (one.digest, None));
    // The module stays registered (it is active) and serves every key.
    for key in [&b"a"[..], b"b", b"c", b"d"] {
        let call = registry.call("p", &tenant, "echo", b"", key);
        assert_eq!(call.result.expect("call"), b"one");
    }
}

#[test]
fn restore_plugin_sets_the_whole_state_and_releases_what_it_drops() {
    let registry = crate::Registry::new(runtime());
    let tenant = registry
        .with_runtime(|r| r.tenant("t").build())
        .expect("tenant");
    let meta = |v: &str| crate::ModuleMeta::named("p", v);
    let one = registry
        .register(&tagged("one"), meta("1"))
        .expect("v1")
        .digest;
    let two = registry
        .register(&tagged("two"), meta("2"))
        .expect("v2")
        .digest;
    let three = registry
        .register(&tagged("three"), meta("3"))
        .expect("v3")
        .digest;
    registry.promote("p", one, &tenant).expect("promote 1");
    // As another replica acknowledged it: active 3, rollback target 2, canary 1 at 100 %.
    let canary = crate::registry::Canary {
        digest: one,
        basis_points: crate::registry::BASIS_POINTS,
    };
    registry
        .restore_plugin("p", three, &[two], Some(canary))
        .expect("restore");
    let status = registry.plugin("p").expect("plugin");
    assert_eq!(
        (status.active, status.previous.clone(), status.canary),
        (three, alloc::vec![two], Some(canary))
    );
    assert_eq!(
        registry
            .call("p", &tenant, "echo", b"", b"k")
            .result
            .expect("call"),
        b"one"
    );
    // Replaced by a state without 1: its module is released and evicted; a canary equal to
    // the active version is dropped.
    let same = crate::registry::Canary {
        digest: two,
        basis_points: 10,
    };
    registry
        .restore_plugin("p", two, &[three], Some(same))
        .expect("restore again");
    let status = registry.plugin("p").expect("plugin");
    assert_eq!((status.active, status.canary), (two, None));
    assert!(registry.module(one).is_none(), "1 was released");
    assert!(registry.rollback("p").is_ok_and(|d| d == three));
    // An unknown digest changes nothing.
    let unknown = crate::Digest::of(b"nothing");
    assert!(registry.restore_plugin("p", unknown, &[], None).is_err());
    assert_eq!(registry.plugin("p").map(|s| s.active), Some(three));
}

#[test]
fn the_caller_s_smoke_test_gates_and_restore_skips_the_gate() {
    let registry = crate::Registry::new(runtime());
    let tenant = registry
        .with_runtime(|r| r.tenant("t").build())
        .expect("tenant");
    let bytes = tagged("ok");
    // First registration: a smoke test that passes; the same bytes again later carry none.
    let meta = crate::ModuleMeta::named("a", "1").with_smoke("echo", b"", b"ok");
    let digest = registry.register(&bytes, meta).expect("register").digest;
    let failing = crate::Smoke {
        entry: "echo".into(),
        input: alloc::vec::Vec::new(),
        expected: b"not ok".to_vec(),
    };
    let err = registry
        .promote_with_smoke("b", digest, &tenant, Some(&failing))
        .expect_err("the caller's smoke test fails");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Registry(crate::RegistryError::SmokeFailed { .. })
        ),
        "{err:?}"
    );
    assert!(
        registry.plugin("b").is_none(),
        "a failed gate changes nothing"
    );
    // Restoring acknowledged state does not run the gate.
    registry.restore_active("b", digest).expect("restore");
    assert_eq!(registry.plugin("b").map(|s| s.active), Some(digest));
    registry
        .promote_with_smoke("a", digest, &tenant, None)
        .expect("no smoke test: the gate is the grants only");
}
