//! Threat: exhaust memory.

use palisade::ErrorKind;
use palisade_guest_artifacts::hostile;
use palisade_tests::{assert_serves_good_guest, attack_limits, compile, error_kind, host, tenant};

#[test]
fn memory_grow_bomb_is_stopped_at_the_cap() {
    let host = host();
    let t = tenant(&host, "mallory", &[]);
    let m = compile(&host, hostile::MEMORY_GROW_BOMB);
    let call = host.runtime.call(&m, &t, "run", b"");
    let cap = attack_limits().memory_bytes;
    assert!(call.report.memory_cap_hits >= 1, "{:?}", call.report);
    assert!(call.report.memory_high_water <= cap, "{:?}", call.report);
    assert_eq!(error_kind(call), ErrorKind::MemoryCap { cap_bytes: cap });
    assert_serves_good_guest(&host, &t);
}

#[test]
fn huge_initial_memory_is_refused_at_instantiation() {
    let host = host();
    let t = tenant(&host, "mallory", &[]);
    let m = compile(&host, hostile::HUGE_INITIAL_MEMORY);
    let call = host.runtime.call(&m, &t, "run", b"");
    assert!(call.report.memory_high_water <= attack_limits().memory_bytes);
    assert_eq!(
        error_kind(call),
        ErrorKind::MemoryCap {
            cap_bytes: attack_limits().memory_bytes
        }
    );
    assert_serves_good_guest(&host, &t);
}

#[test]
fn a_guest_that_fits_its_cap_runs_and_reports_its_high_water() {
    // The thermostat declares exactly 4096 bytes (1-byte pages): a 4 KiB cap is enough.
    let host = host();
    let limits = palisade::Limits::builder()
        .memory_bytes(4096)
        .calls_per_second(0)
        .build();
    let t = palisade_tests::tenant_with(&host, "board", &["log", "kv.read", "kv.write"], limits);
    let m = compile(&host, palisade_guest_artifacts::THERMOSTAT);
    let call = host
        .runtime
        .call(&m, &t, "decide", &21_000i32.to_le_bytes());
    assert_eq!(call.result.unwrap(), [0]);
    assert_eq!(call.report.memory_high_water, 4096);
    // One byte less and the same module is refused at instantiation.
    let small = palisade_tests::tenant_with(
        &host,
        "board",
        &["log", "kv.read", "kv.write"],
        palisade::Limits::builder()
            .memory_bytes(4095)
            .calls_per_second(0)
            .build(),
    );
    let kind = error_kind(
        host.runtime
            .call(&m, &small, "decide", &21_000i32.to_le_bytes()),
    );
    assert_eq!(kind, ErrorKind::MemoryCap { cap_bytes: 4095 });
    // The 4 KiB tenant keeps running the thermostat, and the runtime keeps serving others.
    let again = host
        .runtime
        .call(&m, &t, "decide", &21_000i32.to_le_bytes());
    assert_eq!(again.result.unwrap(), [0]);
    assert_serves_good_guest(&host, &palisade_tests::tenant(&host, "other", &[]));
}
