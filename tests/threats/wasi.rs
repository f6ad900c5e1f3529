//! Threat: a WASI program (`docs/WASI.md`) reaching for files, flooding stdio, sleeping past its
//! deadline, never returning, or exiting from deep inside its stack. Each ends with its exact
//! error kind, and the same runtime and tenant then serve a good guest.

use std::sync::Arc;
use std::time::Duration;

use palisade::{ErrorKind, Limits, MemoryKv, wasi};
use palisade_guest_artifacts::hostile;
use palisade_tests::{
    StepClock, assert_serves_good_guest, attack_limits, compile, error_kind, host, host_with,
    tenant, tenant_with,
};

#[test]
fn path_open_of_etc_passwd_gets_enotcapable() {
    let host = host();
    // Every capability a desktop grants: none of them reaches a file.
    let t = tenant(&host, "mallory", &["log", "clock", "random", "kv.read"]);
    let m = compile(&host, hostile::WASI_PATH_OPEN);
    let kind = error_kind(host.runtime.call(&m, &t, wasi::START, b""));
    assert_eq!(
        kind,
        ErrorKind::GuestError {
            code: wasi::errno::NOTCAPABLE,
            message: String::new()
        }
    );
    assert_serves_good_guest(&host, &t);
}

#[test]
fn stdout_flood_hits_the_output_cap() {
    let host = host();
    let limits = Limits::builder()
        .fuel(2_000_000)
        .output_bytes(100_000)
        .calls_per_second(0)
        .build();
    let t = tenant_with(&host, "mallory", &[], limits);
    let m = compile(&host, hostile::WASI_STDOUT_FLOOD);
    let kind = error_kind(host.runtime.call(&m, &t, wasi::START, b""));
    // The second 60,000-byte write would pass the 100,000-byte cap.
    assert_eq!(
        kind,
        ErrorKind::OutputTooLarge {
            len: 120_000,
            cap: 100_000
        }
    );
    assert_serves_good_guest(&host, &t);
}

/// A host whose clock stands still: only fuel can stop a flood (with a moving clock the
/// deadline may come first; each write reads the clock).
fn still_host() -> palisade_tests::Host {
    host_with(Arc::new(palisade::ManualClock::new()), MemoryKv::new())
}

#[test]
fn stderr_flood_is_capped_by_the_log_budget_and_ends_out_of_fuel() {
    let host = still_host();
    let t = tenant(&host, "mallory", &["log"]);
    let m = compile(&host, hostile::WASI_STDERR_FLOOD);
    let call = host.runtime.call(&m, &t, wasi::START, b"");
    let report = call.report;
    assert_eq!(
        error_kind(call),
        ErrorKind::OutOfFuel {
            budget: attack_limits().fuel
        }
    );
    let cap = attack_limits().log_bytes;
    // 99 bytes per line (the newline ends the line, it is not logged).
    assert_eq!(report.log_bytes, cap / 99 * 99);
    assert_eq!(host.log.bytes_for("mallory"), report.log_bytes);
    assert!(report.log_dropped > 0, "{report:?}");
    assert_serves_good_guest(&host, &t);
}

#[test]
fn stderr_without_the_log_capability_reaches_no_log() {
    let host = still_host();
    let t = tenant(&host, "mallory", &[]);
    let m = compile(&host, hostile::WASI_STDERR_FLOOD);
    let call = host.runtime.call(&m, &t, wasi::START, b"");
    assert_eq!(call.report.log_bytes, 0);
    assert!(matches!(error_kind(call), ErrorKind::OutOfFuel { .. }));
    assert!(host.log.lines().is_empty());
    assert_serves_good_guest(&host, &t);
}

#[test]
fn ten_second_sleep_ends_at_the_deadline_without_blocking() {
    let host = host();
    let t = tenant(&host, "mallory", &["clock"]);
    let m = compile(&host, hostile::WASI_SLEEP);
    let started = std::time::Instant::now();
    let kind = error_kind(host.runtime.call(&m, &t, wasi::START, b""));
    assert_eq!(
        kind,
        ErrorKind::DeadlineExceeded {
            deadline: Limits::DEFAULT_DEADLINE
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the host must not wait for a sleep that passes the deadline"
    );
    assert_serves_good_guest(&host, &t);
}

#[test]
fn loop_in_start_runs_out_of_fuel() {
    let host = host();
    let t = tenant(&host, "mallory", &[]);
    let m = compile(&host, hostile::WASI_LOOP);
    let kind = error_kind(host.runtime.call(&m, &t, wasi::START, b""));
    assert_eq!(
        kind,
        ErrorKind::OutOfFuel {
            budget: attack_limits().fuel
        }
    );
    assert_serves_good_guest(&host, &t);
}

#[test]
fn loop_in_start_with_ample_fuel_hits_the_deadline() {
    let host = host_with(
        Arc::new(StepClock::new(Duration::from_millis(1))),
        MemoryKv::new(),
    );
    let limits = Limits::builder()
        .fuel(u64::MAX / 2)
        .deadline(Duration::from_millis(10))
        .calls_per_second(0)
        .build();
    let t = tenant_with(&host, "mallory", &[], limits);
    let m = compile(&host, hostile::WASI_LOOP);
    let call = host.runtime.call(&m, &t, wasi::START, b"");
    assert!(call.report.fuel_used < 10 * Limits::DEFAULT_FUEL_SLICE + 1);
    assert_eq!(
        error_kind(call),
        ErrorKind::DeadlineExceeded {
            deadline: Duration::from_millis(10)
        }
    );
    assert_serves_good_guest(&host, &t);
}

#[test]
fn proc_exit_from_deep_recursion_ends_the_call_with_its_status() {
    let host = host();
    let t = tenant(&host, "mallory", &["log"]);
    let m = compile(&host, hostile::WASI_EXIT_DEEP);
    let kind = error_kind(host.runtime.call(&m, &t, wasi::START, b""));
    assert_eq!(
        kind,
        ErrorKind::GuestError {
            code: 7,
            message: "deep\n".into()
        }
    );
    assert_serves_good_guest(&host, &t);
}
