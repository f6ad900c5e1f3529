//! Threat: exhaust CPU. (That each loop stops at exactly its fuel budget is checked for every
//! hostile guest by `every_guest.rs`; the WAT forms are in the core's `tests/all/fuel.rs`.)

use std::sync::Arc;
use std::time::Duration;

use palisade::{ContractViolation, ErrorKind, Limits, MemoryKv, Runtime, TrapKind};
use palisade_guest_artifacts::{LARGE, hostile};
use palisade_tests::{
    StepClock, assert_serves_good_guest, attack_limits, compile, error_kind, host, host_with,
    tenant, tenant_with,
};

#[test]
fn infinite_loop_with_a_huge_budget_hits_the_deadline() {
    // 1 ms per clock reading: the 10 ms deadline passes after a handful of fuel slices.
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
    let m = compile(&host, hostile::INFINITE_LOOP);
    let call = host.runtime.call(&m, &t, "run", b"");
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
fn start_function_that_loops_runs_out_of_fuel() {
    let host = host();
    let t = tenant(&host, "mallory", &[]);
    let m = compile(&host, hostile::START_LOOP);
    let kind = error_kind(host.runtime.call(&m, &t, "run", b""));
    assert_eq!(
        kind,
        ErrorKind::OutOfFuel {
            budget: attack_limits().fuel
        }
    );
    assert_serves_good_guest(&host, &t);
}

#[test]
fn start_loop_under_a_deadline_with_unlimited_fuel_hits_the_deadline() {
    // The start function runs in fuel slices like an entry point: with fuel for ever, the
    // deadline stops it (1 ms per clock reading: after about 100 slices).
    let host = host_with(
        Arc::new(StepClock::new(Duration::from_millis(1))),
        MemoryKv::new(),
    );
    let limits = Limits::builder()
        .fuel(u64::MAX / 2)
        .deadline(Duration::from_millis(100))
        .calls_per_second(0)
        .build();
    let t = tenant_with(&host, "mallory", &[], limits);
    let m = compile(&host, hostile::START_LOOP);
    let call = host.runtime.call(&m, &t, "run", b"");
    assert!(
        call.report.fuel_used < 200 * Limits::DEFAULT_FUEL_SLICE,
        "{:?}",
        call.report
    );
    assert_eq!(
        error_kind(call),
        ErrorKind::DeadlineExceeded {
            deadline: Duration::from_millis(100)
        }
    );
    assert_serves_good_guest(&host, &t);
}

#[test]
fn deep_recursion_overflows_the_interpreter_stack_as_a_trap() {
    let host = host();
    let limits = Limits::builder()
        .fuel(u64::MAX / 2)
        .calls_per_second(0)
        .build();
    let t = tenant_with(&host, "mallory", &[], limits);
    let m = compile(&host, hostile::DEEP_RECURSION);
    let kind = error_kind(host.runtime.call(&m, &t, "run", b""));
    assert_eq!(kind, ErrorKind::Trap(TrapKind::StackOverflow));
    assert_serves_good_guest(&host, &t);
}

#[test]
fn compile_bomb_is_refused_before_translation() {
    let host = host();
    let err = host.runtime.compile(hostile::COMPILE_BOMB).unwrap_err();
    match err.kind() {
        ErrorKind::InvalidModule { reason } => {
            assert!(reason.contains("function"), "names the limit: {reason}");
        }
        other => panic!("expected InvalidModule, got {other:?}"),
    }
    assert_serves_good_guest(&host, &tenant(&host, "mallory", &[]));
}

#[test]
fn module_over_the_size_cap_is_refused_unread() {
    let log = Arc::new(palisade_tests::RecordingLog::default());
    let runtime = Runtime::builder(Arc::new(StepClock::new(Duration::from_micros(1))))
        .log_sink(log.clone())
        .max_module_bytes(1 << 20)
        .build()
        .unwrap();
    // Over the cap and not a module at all (no `\0asm`): had a single byte been parsed, this
    // would be `InvalidModule`.
    let mut bytes = LARGE.to_vec();
    bytes[..4].copy_from_slice(b"junk");
    let err = runtime.compile(&bytes).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::ContractViolation(ContractViolation::ModuleTooLarge {
            len: LARGE.len(),
            cap: 1 << 20
        })
    );
    let host = palisade_tests::Host {
        runtime,
        log,
        kv: Arc::new(MemoryKv::new()),
    };
    assert_serves_good_guest(&host, &tenant(&host, "mallory", &[]));
}

#[test]
fn call_flood_is_rate_limited() {
    let clock = Arc::new(palisade::ManualClock::new());
    let host = host_with(clock.clone(), MemoryKv::new());
    let limits = Limits::builder().calls_per_second(5).burst(5).build();
    let t = tenant_with(&host, "mallory", &[], limits);
    let m = compile(&host, palisade_guest_artifacts::SHA256);
    for _ in 0..5 {
        host.runtime.call(&m, &t, "digest", b"x").result.unwrap();
    }
    let kind = error_kind(host.runtime.call(&m, &t, "digest", b"x"));
    assert_eq!(
        kind,
        ErrorKind::RateLimited {
            retry_after: Duration::from_millis(200)
        }
    );
    // Another tenant is not affected by mallory's flood, and mallory is served again once the
    // bucket refills.
    assert_serves_good_guest(&host, &tenant(&host, "alice", &[]));
    clock.advance(Duration::from_millis(200));
    assert_serves_good_guest(&host, &t);
}
