//! Fuel budgets and the thread-free deadline.

use std::sync::Arc;
use std::time::Duration;

use palisade::{ErrorKind, Limits, Outcome, Runtime};

use crate::{
    StepClock, assert_serves_good_guest, compile, guest, guest_with, host, kind_of, tenant,
};

const SPIN: &str = r#"(func (export "spin") (param i32 i32) (result i32)
    (loop $l (br $l))
    (i32.const 0))"#;

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let h = host();
    let module = compile(&h.runtime, &guest(SPIN));
    let budget = 1_000_000;
    let t = tenant(
        &h.runtime,
        "acme",
        &[],
        Limits::builder().fuel(budget).fuel_slice(10_000).build(),
    );
    let call = h.runtime.call(&module, &t, "spin", b"");
    assert_eq!(kind_of(&call), ErrorKind::OutOfFuel { budget });
    assert_eq!(call.report.outcome, Outcome::OutOfFuel);
    assert!(
        call.report.fuel_used > budget - 100 && call.report.fuel_used <= budget,
        "fuel used {}",
        call.report.fuel_used
    );
    assert_serves_good_guest(&h.runtime, &t);
}

#[test]
fn infinite_loop_hits_the_deadline_when_fuel_is_ample() {
    // Each clock read moves time forward 1 ms; the deadline is 20 ms.
    let runtime = Runtime::builder(Arc::new(StepClock::new(Duration::from_millis(1))))
        .build()
        .unwrap();
    let module = compile(&runtime, &guest(SPIN));
    let t = tenant(
        &runtime,
        "acme",
        &[],
        Limits::builder()
            .fuel(u64::MAX / 2)
            .fuel_slice(10_000)
            .deadline(Duration::from_millis(20))
            .build(),
    );
    let call = runtime.call(&module, &t, "spin", b"");
    assert_eq!(
        kind_of(&call),
        ErrorKind::DeadlineExceeded {
            deadline: Duration::from_millis(20)
        }
    );
    assert_eq!(call.report.outcome, Outcome::DeadlineExceeded);
    // The guest was stopped after about 20 slices, not after its (huge) fuel budget.
    assert!(
        call.report.fuel_used < 30 * 10_000,
        "{}",
        call.report.fuel_used
    );
    assert!(call.report.wall_time >= Duration::from_millis(20));
    assert_serves_good_guest(&runtime, &t);
}

#[test]
fn busy_loop_over_a_cheap_host_call_runs_out_of_fuel() {
    let h = host();
    let wasm = guest_with(
        r#"(import "palisade" "clock_now" (func $now (result i64)))"#,
        "1",
        r#"(func (export "spin") (param i32 i32) (result i32)
             (loop $l (drop (call $now)) (br $l))
             (i32.const 0))"#,
    );
    let module = compile(&h.runtime, &wasm);
    let budget = 100_000;
    let t = tenant(
        &h.runtime,
        "acme",
        &["clock"],
        Limits::builder().fuel(budget).fuel_slice(1_000).build(),
    );
    let call = h.runtime.call(&module, &t, "spin", b"");
    assert_eq!(kind_of(&call), ErrorKind::OutOfFuel { budget });
    assert!(call.report.fuel_used >= budget - 100);
}

#[test]
fn slice_size_does_not_change_results_or_fuel() {
    let h = host();
    // Sums 0..200_000 and returns the sum: needs far more than one small slice.
    let module = compile(
        &h.runtime,
        &guest(
            r#"(func (export "sum") (param i32 i32) (result i32)
                 (local $i i32) (local $acc i64)
                 (loop $l
                   (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $i))))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $l (i32.lt_u (local.get $i) (i32.const 200000))))
                 (i64.store (i32.const 0) (local.get $acc))
                 (call $output (i32.const 0) (i32.const 8))
                 (i32.const 0))"#,
        ),
    );
    let mut seen = Vec::new();
    for slice in [7, 1_000, 100_000, 10_000_000] {
        let t = tenant(
            &h.runtime,
            &format!("t{slice}"),
            &[],
            Limits::builder().fuel_slice(slice).build(),
        );
        let call = h.runtime.call(&module, &t, "sum", b"");
        let out = call.result.unwrap();
        assert_eq!(out, 19_999_900_000u64.to_le_bytes());
        seen.push(call.report.fuel_used);
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "fuel per slice size: {seen:?}"
    );
}

#[test]
fn a_looping_start_function_is_bounded_by_fuel() {
    let h = host();
    let wasm = guest(
        r#"(func $start (loop $l (br $l)))
           (start $start)
           (func (export "run") (param i32 i32) (result i32) (i32.const 0))"#,
    );
    let module = compile(&h.runtime, &wasm);
    let t = tenant(
        &h.runtime,
        "acme",
        &[],
        Limits::builder().fuel(50_000).build(),
    );
    assert_eq!(
        kind_of(&h.runtime.call(&module, &t, "run", b"")),
        ErrorKind::OutOfFuel { budget: 50_000 }
    );
    assert_serves_good_guest(&h.runtime, &t);
}
