//! Unit tests of the registry: rollback, restoring state, the caller's smoke test.
#![expect(clippy::expect_used, reason = "tests fail loudly on purpose")]

use crate::ErrorKind;
use crate::tests::runtime;

use super::{BASIS_POINTS, Canary, ModuleMeta, Registry, RegistryError, Smoke};

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
    let registry = Registry::new(runtime());
    let tenant = registry
        .with_runtime(|r| r.tenant("t").build())
        .expect("tenant");
    let meta = |v: &str| ModuleMeta::named("p", v);
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
    let registry = Registry::new(runtime());
    let tenant = registry
        .with_runtime(|r| r.tenant("t").build())
        .expect("tenant");
    let meta = |v: &str| ModuleMeta::named("p", v);
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
    let canary = Canary {
        digest: one,
        basis_points: BASIS_POINTS,
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
    let same = Canary {
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
    let registry = Registry::new(runtime());
    let tenant = registry
        .with_runtime(|r| r.tenant("t").build())
        .expect("tenant");
    let bytes = tagged("ok");
    // First registration: a smoke test that passes; the same bytes again later carry none.
    let meta = ModuleMeta::named("a", "1").with_smoke("echo", b"", b"ok");
    let digest = registry.register(&bytes, meta).expect("register").digest;
    let failing = Smoke {
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
            ErrorKind::Registry(RegistryError::SmokeFailed { .. })
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
