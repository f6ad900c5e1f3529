//! Calls stepped one fuel slice at a time (`Runtime::start_call`, `PendingCall::step`).

use std::time::Duration;

use palisade::{Call, ErrorKind, Limits, Outcome, PendingCall, Step};

use crate::{ECHO, compile, guest, host, kind_of, tenant};

/// Counts down from 50,000 in a loop, then echoes its input.
const COUNT_THEN_ECHO: &str = r#"(func (export "count") (param $p i32) (param $n i32) (result i32)
    (local $i i32)
    (local.set $i (i32.const 50000))
    (loop $l
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br_if $l (local.get $i)))
    (call $output (local.get $p) (local.get $n))
    (i32.const 0))"#;

/// Steps `call` to the end; returns the result and how many steps it took.
fn run(mut step: Step) -> (Call, usize) {
    let mut steps = 0;
    loop {
        match step {
            Step::Pending(call) => {
                steps += 1;
                step = call.step();
            }
            Step::Done(call) => return (call, steps),
        }
    }
}

#[test]
fn a_stepped_call_ends_as_the_same_call_run_at_once() {
    let h = host();
    let module = compile(&h.runtime, &guest(&format!("{ECHO}{COUNT_THEN_ECHO}")));
    let limits = Limits::builder().fuel_slice(1_000).build();
    let t = tenant(&h.runtime, "acme", &[], limits);
    let at_once = h.runtime.call(&module, &t, "count", b"input");
    let (stepped, steps) = run(h
        .runtime
        .start_call(&module, &t, "count", b"input".to_vec(), None));
    assert_eq!(stepped.result.unwrap(), at_once.result.unwrap());
    assert_eq!(stepped.report.outcome, Outcome::Ok);
    assert_eq!(stepped.report.fuel_used, at_once.report.fuel_used);
    // 50,000 iterations at 1,000 fuel per slice: many slices, each one step.
    assert!(
        u64::try_from(steps).unwrap() >= at_once.report.fuel_used / 1_000,
        "{steps} steps for {} fuel",
        at_once.report.fuel_used
    );
}

#[test]
fn time_parked_between_steps_counts_against_the_deadline() {
    let h = host();
    let module = compile(&h.runtime, &guest(COUNT_THEN_ECHO));
    let limits = Limits::builder()
        .fuel_slice(1_000)
        .deadline(Duration::from_millis(10))
        .build();
    let t = tenant(&h.runtime, "acme", &[], limits);
    let Step::Pending(call) = h
        .runtime
        .start_call(&module, &t, "count", b"x".to_vec(), None)
    else {
        panic!("the call was refused");
    };
    let Step::Pending(call) = call.step() else {
        panic!("the call ended within one slice");
    };
    assert!(!call.expired(), "within its deadline");
    // Parked past its deadline: the next step ends it without running further.
    h.clock.advance(Duration::from_millis(11));
    assert!(
        call.expired(),
        "past its deadline, the next step ends the call"
    );
    let Step::Done(done) = call.step() else {
        panic!("the call went on past its deadline");
    };
    assert_eq!(
        kind_of(&done),
        ErrorKind::DeadlineExceeded {
            deadline: Duration::from_millis(10)
        }
    );
}

#[test]
fn an_interrupted_call_is_expired_and_its_next_step_ends_it() {
    let h = host();
    let module = compile(&h.runtime, &guest(COUNT_THEN_ECHO));
    let limits = Limits::builder().fuel_slice(1_000).build();
    let t = tenant(&h.runtime, "acme", &[], limits);
    let interrupt = palisade::Interrupt::new();
    let Step::Pending(call) =
        h.runtime
            .start_call(&module, &t, "count", b"x".to_vec(), Some(interrupt.clone()))
    else {
        panic!("the call was refused");
    };
    let Step::Pending(call) = call.step() else {
        panic!("the call ended within one slice");
    };
    assert!(!call.expired());
    interrupt.interrupt();
    assert!(call.expired(), "interrupted, the next step ends the call");
    let Step::Done(done) = call.step() else {
        panic!("the call went on after its interrupt");
    };
    assert_eq!(kind_of(&done), ErrorKind::Interrupted);
}

#[test]
fn a_refused_call_is_done_at_once_and_a_pending_call_can_cross_threads() {
    let h = host();
    let module = compile(&h.runtime, &guest(COUNT_THEN_ECHO));
    let t = tenant(
        &h.runtime,
        "acme",
        &[],
        Limits::builder().fuel_slice(1_000).build(),
    );
    let Step::Done(refused) = h
        .runtime
        .start_call(&module, &t, "missing", Vec::new(), None)
    else {
        panic!("a call of a missing entry was started");
    };
    assert!(matches!(kind_of(&refused), ErrorKind::NoSuchEntry { .. }));
    let Step::Pending(call) = h
        .runtime
        .start_call(&module, &t, "count", b"moved".to_vec(), None)
    else {
        panic!("the call was refused");
    };
    let moved: PendingCall = std::thread::spawn(move || match call.step() {
        Step::Pending(call) => call,
        Step::Done(_) => panic!("the call ended within one slice"),
    })
    .join()
    .unwrap();
    let (done, _) = run(Step::Pending(moved));
    assert_eq!(done.result.unwrap(), b"moved");
}
