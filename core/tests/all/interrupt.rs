//! Stopping a running call from another thread: `Interrupt`, `call_interruptible`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use palisade::wasmi::Caller;
use palisade::{
    CallState, ErrorKind, Interrupt, Limits, ManualClock, ModuleMeta, Outcome, Registry, Runtime,
};

use crate::{ECHO, assert_serves_good_guest, compile, guest, guest_with, kind_of, tenant};

/// Loops forever after telling the host (through `test.started`) that it runs.
const STARTED_THEN_SPIN: &str = r#"(func (export "spin") (param i32 i32) (result i32)
    (call $started)
    (loop $l (br $l))
    (i32.const 0))"#;

/// Fuel for "forever", and a manual clock that never moves: only the interrupt can stop it.
fn endless() -> Limits {
    Limits::builder()
        .fuel(u64::MAX / 2)
        .fuel_slice(10_000)
        .calls_per_second(0)
        .build()
}

/// A runtime with host function `palisade.started` (capability `test.started`), which
/// raises `flag` when the guest calls it.
fn runtime_with_started_flag(flag: &Arc<AtomicBool>) -> Runtime {
    let flag = flag.clone();
    Runtime::builder(Arc::new(ManualClock::new()))
        .host_func(
            "test.started",
            "started",
            move |mut caller: Caller<'_, CallState>| {
                palisade::charge(&mut caller, 1)?;
                flag.store(true, Ordering::Release);
                Ok(())
            },
        )
        .build()
        .unwrap()
}

fn spin_guest() -> Vec<u8> {
    guest_with(
        r#"(import "palisade" "started" (func $started))"#,
        "1",
        STARTED_THEN_SPIN,
    )
}

/// Waits until the guest has told the host it runs.
fn wait_for(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        thread::yield_now();
    }
}

#[test]
fn interrupt_from_another_thread_stops_an_infinite_loop() {
    let started = Arc::new(AtomicBool::new(false));
    let runtime = runtime_with_started_flag(&started);
    let module = compile(&runtime, &spin_guest());
    let t = tenant(&runtime, "acme", &["test.started"], endless());
    let interrupt = Interrupt::new();

    let call = thread::scope(|s| {
        let running = s.spawn(|| runtime.call_interruptible(&module, &t, "spin", b"", &interrupt));
        wait_for(&started);
        let handle = interrupt.clone();
        s.spawn(move || handle.interrupt()).join().unwrap();
        running.join().unwrap()
    });

    assert_eq!(kind_of(&call), ErrorKind::Interrupted);
    assert_eq!(call.report.outcome, Outcome::Interrupted);
    let err = call.result.unwrap_err();
    assert_eq!(err.tenant(), Some("acme"));
    assert!(err.to_string().contains("interrupted"), "{err}");
    assert!(call.report.fuel_used > 0);
    assert_serves_good_guest(&runtime, &t);
}

#[test]
fn interrupt_raised_before_the_call_stops_it_before_any_guest_code_runs() {
    let started = Arc::new(AtomicBool::new(false));
    let runtime = runtime_with_started_flag(&started);
    let module = compile(&runtime, &spin_guest());
    let t = tenant(&runtime, "acme", &["test.started"], endless());
    let interrupt = Interrupt::new();
    interrupt.interrupt();

    let call = runtime.call_interruptible(&module, &t, "spin", b"input", &interrupt);
    assert_eq!(kind_of(&call), ErrorKind::Interrupted);
    assert_eq!(call.report.outcome, Outcome::Interrupted);
    assert_eq!(call.report.fuel_used, 0);
    assert!(!started.load(Ordering::Acquire), "the guest ran");

    // A fresh interrupt is not raised: the same runtime serves an interruptible call.
    let echo = compile(&runtime, &guest(ECHO));
    let call = runtime.call_interruptible(&echo, &t, "echo", b"hi", &Interrupt::new());
    assert_eq!(call.result.unwrap(), b"hi");
}

#[test]
fn interrupt_stops_a_guest_looping_over_host_calls() {
    // Every host call `charge`s, which checks the interrupt too.
    let started = Arc::new(AtomicBool::new(false));
    let runtime = runtime_with_started_flag(&started);
    let wasm = guest_with(
        r#"(import "palisade" "started" (func $started))"#,
        "1",
        r#"(func (export "spin") (param i32 i32) (result i32)
             (loop $l (call $started) (br $l))
             (i32.const 0))"#,
    );
    let module = compile(&runtime, &wasm);
    let t = tenant(&runtime, "acme", &["test.started"], endless());
    let interrupt = Interrupt::new();
    let call = thread::scope(|s| {
        let running = s.spawn(|| runtime.call_interruptible(&module, &t, "spin", b"", &interrupt));
        wait_for(&started);
        interrupt.interrupt();
        running.join().unwrap()
    });
    assert_eq!(kind_of(&call), ErrorKind::Interrupted);
    assert_serves_good_guest(&runtime, &t);
}

#[test]
fn registry_call_interruptible_stops_the_call_and_counts_it() {
    let started = Arc::new(AtomicBool::new(false));
    let runtime = runtime_with_started_flag(&started);
    let t = tenant(&runtime, "acme", &["test.started"], endless());
    let registry = Registry::new(runtime);
    let digest = registry
        .register(&spin_guest(), ModuleMeta::named("spin", "1"))
        .unwrap()
        .digest;
    registry.promote("spin", digest, &t).unwrap();
    let interrupt = Interrupt::new();

    let call = thread::scope(|s| {
        let running =
            s.spawn(|| registry.call_interruptible("spin", &t, "spin", b"", b"key", &interrupt));
        wait_for(&started);
        interrupt.interrupt();
        running.join().unwrap()
    });

    assert_eq!(kind_of(&call), ErrorKind::Interrupted);
    assert_eq!(call.result.unwrap_err().plugin(), Some("spin"));
    let metrics = registry.metrics("spin", "acme").unwrap();
    assert_eq!(metrics.calls(Outcome::Interrupted), 1);
    assert_eq!(metrics.interrupts, 1);
    // The registry keeps serving: an uninterrupted call of the same plugin runs, and is cut by
    // its fuel budget (`spin` never returns).
    let small = registry.with_runtime(|r| {
        tenant(
            r,
            "small",
            &["test.started"],
            Limits::builder().fuel(100_000).build(),
        )
    });
    let call = registry.call("spin", &small, "spin", b"", b"key");
    assert_eq!(kind_of(&call), ErrorKind::OutOfFuel { budget: 100_000 });
}
