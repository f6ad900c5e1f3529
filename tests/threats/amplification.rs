//! Threat: resource amplification (a small input or a cheap call that makes the host do, store
//! or return much more).

use palisade::{ErrorKind, Limits, MemoryKv};
use palisade_guest_artifacts::hostile;
use palisade_tests::{
    StepClock, assert_serves_good_guest, attack_limits, compile, error_kind, host, host_with,
    tenant, tenant_with,
};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn log_flood_is_capped_per_call_and_paid_for_in_fuel() {
    let host = host();
    let t = tenant(&host, "mallory", &["log"]);
    let m = compile(&host, hostile::LOG_FLOOD);
    let call = host.runtime.call(&m, &t, "run", b"");
    assert!(call.report.log_bytes <= Limits::DEFAULT_LOG_BYTES);
    assert!(call.report.log_dropped > 0, "{:?}", call.report);
    assert_eq!(
        error_kind(call),
        ErrorKind::OutOfFuel {
            budget: attack_limits().fuel
        }
    );
    assert!(host.log.bytes_for("mallory") <= Limits::DEFAULT_LOG_BYTES);
    // The next call gets a fresh budget, and only that.
    let _ = host.runtime.call(&m, &t, "run", b"");
    assert!(host.log.bytes_for("mallory") <= 2 * Limits::DEFAULT_LOG_BYTES);
    assert_serves_good_guest(&host, &t);
}

#[test]
fn kv_flood_is_refused_by_the_per_call_write_budget_and_the_tenant_quota() {
    let quota = ErrorKind::GuestError {
        code: -3,
        message: "kv flood refused".into(),
    };
    // Each write is an 8-byte key and a 1000-byte value: 1008 bytes.
    // Per call: 8 KiB of writes admits 8 of them; every call rewrites the same 8 keys.
    let host = host();
    let limits = Limits::builder()
        .kv_write_bytes(8 << 10)
        .calls_per_second(0)
        .build();
    let t = tenant_with(&host, "mallory", &["kv.write"], limits);
    let m = compile(&host, hostile::KV_FLOOD);
    for _ in 0..3 {
        assert_eq!(error_kind(host.runtime.call(&m, &t, "run", b"")), quota);
        // The guest ends in an error, so its admitted writes are discarded (KV call scope,
        // docs/ABI.md): the refusal is what the error reports.
        assert_eq!(host.kv.used_bytes("mallory"), 0);
    }
    assert_serves_good_guest(&host, &t);

    // Per tenant: a 4 KiB store quota admits 4, whatever the per-call budget.
    let host = host_with(
        Arc::new(StepClock::new(Duration::from_micros(1))),
        MemoryKv::with_quota(4 << 10),
    );
    let t = tenant(&host, "mallory", &["kv.write"]);
    let m = compile(&host, hostile::KV_FLOOD);
    assert_eq!(error_kind(host.runtime.call(&m, &t, "run", b"")), quota);
    assert_eq!(
        host.kv.used_bytes("mallory"),
        0,
        "a failed call's writes are discarded"
    );
    assert_eq!(host.kv.used_bytes("alice"), 0);
    assert_serves_good_guest(&host, &t);
}

#[test]
fn huge_output_is_refused_by_the_output_cap() {
    let host = host();
    let limits = Limits::builder()
        .output_bytes(4096)
        .calls_per_second(0)
        .build();
    let t = tenant_with(&host, "mallory", &[], limits);
    let m = compile(&host, hostile::AMPLIFY_OUTPUT);
    let kind = error_kind(host.runtime.call(&m, &t, "run", b""));
    assert!(
        matches!(kind, ErrorKind::OutputTooLarge { len, cap: 4096 } if len > 4096),
        "{kind:?}"
    );
    let m = compile(&host, hostile::OUTPUT_OUT_OF_BOUNDS);
    let kind = error_kind(host.runtime.call(&m, &t, "over_cap", b""));
    assert_eq!(
        kind,
        ErrorKind::OutputTooLarge {
            len: 0x7FFF_FFFF,
            cap: 4096
        }
    );
    assert_serves_good_guest(&host, &t);
}

#[test]
fn huge_input_is_refused_before_the_guest_runs() {
    let host = host();
    let limits = Limits::builder()
        .input_bytes(1024)
        .calls_per_second(0)
        .build();
    let t = tenant_with(&host, "mallory", &[], limits);
    let m = compile(&host, palisade_guest_artifacts::SHA256);
    let call = host.runtime.call(&m, &t, "digest", &[0u8; 1025]);
    assert_eq!(call.report.fuel_used, 0);
    assert_eq!(
        error_kind(call),
        ErrorKind::InputTooLarge {
            len: 1025,
            cap: 1024
        }
    );
    assert_serves_good_guest(&host, &t);
}
