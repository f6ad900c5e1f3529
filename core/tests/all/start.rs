//! Start functions run as ordinary calls: in fuel slices, under the deadline and the interrupt.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade::abi::START_EXPORT;
use palisade::{
    ContractViolation, Digest, ErrorKind, Interrupt, Limits, LogRecord, LogSink, ManualClock,
    Outcome, Runtime, TrapKind,
};

use crate::{StepClock, assert_serves_good_guest, compile, guest, guest_with, kind_of, tenant};

/// A start function that never returns, and an entry point it never lets run.
const START_LOOP: &str = r#"(func $start (loop $l (br $l)))
    (start $start)
    (func (export "run") (param i32 i32) (result i32) (i32.const 0))"#;

/// A start function that counts to `n` in a global; `run` returns the global.
fn counting_start(n: u32) -> String {
    format!(
        r#"(global $count (mut i32) (i32.const 0))
        (func $start
          (loop $l
            (global.set $count (i32.add (global.get $count) (i32.const 1)))
            (br_if $l (i32.lt_u (global.get $count) (i32.const {n})))))
        (start $start)
        (func (export "run") (param i32 i32) (result i32)
          (i32.store (i32.const 0) (global.get $count))
          (call $output (i32.const 0) (i32.const 4))
          (i32.const 0))"#
    )
}

#[test]
fn start_loop_with_ample_fuel_is_stopped_by_the_deadline() {
    // Each clock read moves time 1 ms forward; the deadline is 100 ms, the budget 10^9.
    let runtime = Runtime::builder(Arc::new(StepClock::new(Duration::from_millis(1))))
        .build()
        .unwrap();
    let module = compile(&runtime, &guest(START_LOOP));
    let t = tenant(
        &runtime,
        "acme",
        &[],
        Limits::builder()
            .fuel(1_000_000_000)
            .fuel_slice(10_000)
            .deadline(Duration::from_millis(100))
            .build(),
    );
    let call = runtime.call(&module, &t, "run", b"");
    assert_eq!(
        kind_of(&call),
        ErrorKind::DeadlineExceeded {
            deadline: Duration::from_millis(100)
        }
    );
    assert_eq!(call.report.outcome, Outcome::DeadlineExceeded);
    // Stopped after about 100 slices, not after its budget of 10^9.
    assert!(
        call.report.fuel_used > 0 && call.report.fuel_used < 200 * 10_000,
        "fuel used {}",
        call.report.fuel_used
    );
    assert_serves_good_guest(&runtime, &t);
}

#[test]
fn start_loop_with_small_fuel_runs_out_of_fuel_and_the_budget_counts_it() {
    let h = crate::host();
    let module = compile(&h.runtime, &guest(START_LOOP));
    let budget = 1_000_000;
    let t = tenant(
        &h.runtime,
        "acme",
        &[],
        Limits::builder().fuel(budget).fuel_slice(10_000).build(),
    );
    let call = h.runtime.call(&module, &t, "run", b"input");
    assert_eq!(kind_of(&call), ErrorKind::OutOfFuel { budget });
    assert_eq!(call.report.outcome, Outcome::OutOfFuel);
    assert_eq!(call.report.fuel_used, budget);
    assert_serves_good_guest(&h.runtime, &t);
}

#[test]
fn start_function_work_is_seen_by_the_entry_point_and_costs_fuel() {
    let h = crate::host();
    let with_start = compile(&h.runtime, &guest(&counting_start(1000)));
    assert!(with_start.info().has_start);
    let t = tenant(&h.runtime, "acme", &[], Limits::default());
    let call = h.runtime.call(&with_start, &t, "run", b"input");
    assert_eq!(call.result.unwrap(), 1000u32.to_le_bytes());

    // The same entry point without the start function: the counting is what costs the fuel.
    let without = compile(
        &h.runtime,
        &guest(&counting_start(1000).replace("(start $start)", "")),
    );
    assert!(!without.info().has_start);
    let plain = h.runtime.call(&without, &t, "run", b"input");
    assert_eq!(plain.result.unwrap(), 0u32.to_le_bytes());
    assert!(
        call.report.fuel_used > plain.report.fuel_used + 1000,
        "{} vs {}",
        call.report.fuel_used,
        plain.report.fuel_used
    );
}

#[test]
fn slice_size_does_not_change_what_a_start_function_does_or_costs() {
    let h = crate::host();
    let module = compile(&h.runtime, &guest(&counting_start(50_000)));
    let run = |slice: u64, fuel: u64| {
        let t = tenant(
            &h.runtime,
            "acme",
            &[],
            Limits::builder()
                .fuel(fuel)
                .fuel_slice(slice)
                .calls_per_second(0)
                .build(),
        );
        h.runtime.call(&module, &t, "run", b"")
    };
    let budget = 10_000_000;
    let sliced = run(1_000, budget);
    let whole = run(budget, budget);
    assert_eq!(sliced.result.unwrap(), 50_000u32.to_le_bytes());
    assert_eq!(whole.result.unwrap(), 50_000u32.to_le_bytes());
    assert_eq!(sliced.report.fuel_used, whole.report.fuel_used);

    // Out of fuel inside the start function: the same outcome and fuel either way.
    let small = 100_000;
    let sliced = run(1_000, small);
    let whole = run(small, small);
    assert_eq!(kind_of(&sliced), ErrorKind::OutOfFuel { budget: small });
    assert_eq!(kind_of(&whole), ErrorKind::OutOfFuel { budget: small });
    assert_eq!(sliced.report.fuel_used, whole.report.fuel_used);
}

struct Lines(Mutex<Vec<String>>);

impl LogSink for Lines {
    fn log(&self, record: &LogRecord<'_>) {
        self.0
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(record.message).into_owned());
    }
}

#[test]
fn start_function_may_call_host_functions() {
    let lines = Arc::new(Lines(Mutex::new(Vec::new())));
    let runtime = Runtime::builder(Arc::new(ManualClock::new()))
        .log_sink(lines.clone())
        .build()
        .unwrap();
    let wasm = guest_with(
        r#"(import "palisade" "log" (func $log (param i32 i32 i32) (result i32)))"#,
        "1",
        r#"(data (i32.const 16) "starting")
           (func $start (drop (call $log (i32.const 2) (i32.const 16) (i32.const 8))))
           (start $start)
           (func (export "run") (param i32 i32) (result i32) (i32.const 0))"#,
    );
    let module = compile(&runtime, &wasm);
    let t = tenant(&runtime, "acme", &["log"], Limits::default());
    let call = runtime.call(&module, &t, "run", b"");
    assert_eq!(call.result.unwrap(), b"");
    assert_eq!(call.report.log_bytes, 8);
    assert_eq!(*lines.0.lock().unwrap(), ["starting"]);
}

#[test]
fn start_function_that_traps_fails_the_call_as_a_trap() {
    let h = crate::host();
    let module = compile(
        &h.runtime,
        &guest(
            r#"(func $start unreachable)
               (start $start)
               (func (export "run") (param i32 i32) (result i32) (i32.const 0))"#,
        ),
    );
    let t = tenant(&h.runtime, "acme", &[], Limits::default());
    let call = h.runtime.call(&module, &t, "run", b"");
    assert_eq!(kind_of(&call), ErrorKind::Trap(TrapKind::Unreachable));
    assert_eq!(call.report.outcome, Outcome::Trap);
    assert_serves_good_guest(&h.runtime, &t);
}

#[test]
fn module_exporting_the_reserved_start_name_is_refused() {
    assert!(START_EXPORT.starts_with(palisade::abi::RESERVED_PREFIX));
    let h = crate::host();
    let reserved = ErrorKind::ContractViolation(ContractViolation::ReservedExport {
        name: START_EXPORT.into(),
    });
    // With a start function (the rewrite would clash with it) ...
    let with_start = guest(&format!(
        r#"(func $start)
           (start $start)
           (func (export "{START_EXPORT}"))
           (func (export "run") (param i32 i32) (result i32) (i32.const 0))"#
    ));
    let err = h.runtime.compile(&with_start).unwrap_err();
    assert_eq!(err.kind(), &reserved);
    assert!(err.to_string().contains(START_EXPORT), "{err}");
    // ... and without one (a reserved `palisade_` name like any other).
    let without = guest(&format!(
        r#"(func (export "{START_EXPORT}"))
           (func (export "run") (param i32 i32) (result i32) (i32.const 0))"#
    ));
    assert_eq!(h.runtime.compile(&without).unwrap_err().kind(), &reserved);
    // Raw modules (no contract) are refused too when the names would clash.
    assert_eq!(
        h.runtime.compile_raw(&with_start).unwrap_err().kind(),
        &reserved
    );
}

#[test]
fn start_function_of_the_wrong_type_is_still_invalid() {
    let h = crate::host();
    // A start function must take and return nothing; exporting it must not hide that.
    let wasm = guest(
        r#"(func $start (param i32))
           (start $start)
           (func (export "run") (param i32 i32) (result i32) (i32.const 0))"#,
    );
    assert!(matches!(
        h.runtime.compile(&wasm).unwrap_err().kind(),
        ErrorKind::InvalidModule { .. }
    ));
    // `ref.func` of a function that only the start section names is undeclared, as written.
    let undeclared =
        wat::parse_str(r#"(module (func $f) (start $f) (func (drop (ref.func $f))))"#).unwrap();
    assert!(matches!(
        h.runtime.compile_raw(&undeclared).unwrap_err().kind(),
        ErrorKind::InvalidModule { .. }
    ));
}

#[test]
fn a_module_with_a_start_function_keeps_the_digest_of_its_own_bytes() {
    let h = crate::host();
    let wasm = guest(&counting_start(3));
    let module = compile(&h.runtime, &wasm);
    assert_eq!(module.digest(), Digest::of(&wasm));
    assert_eq!(module.size(), wasm.len());
    // The hoisted export is the host's: it is not an entry point.
    assert_eq!(module.info().entries, vec![Box::<str>::from("run")]);
    let t = tenant(&h.runtime, "acme", &[], Limits::default());
    assert_eq!(
        kind_of(&h.runtime.call(&module, &t, START_EXPORT, b"")),
        ErrorKind::NoSuchEntry {
            entry: START_EXPORT.into()
        }
    );
}

#[test]
fn interrupt_stops_a_start_function() {
    let h = crate::host();
    let module = compile(&h.runtime, &guest(START_LOOP));
    let t = tenant(
        &h.runtime,
        "acme",
        &[],
        Limits::builder()
            .fuel(u64::MAX / 2)
            .fuel_slice(10_000)
            .build(),
    );
    let interrupt = Interrupt::new();
    let call = std::thread::scope(|s| {
        let running = s.spawn(|| {
            h.runtime
                .call_interruptible(&module, &t, "run", b"", &interrupt)
        });
        std::thread::sleep(Duration::from_millis(20));
        interrupt.interrupt();
        running.join().unwrap()
    });
    assert_eq!(kind_of(&call), ErrorKind::Interrupted);
    assert_serves_good_guest(&h.runtime, &t);
}

#[test]
fn raw_store_runs_start_functions_under_fuel() {
    let h = crate::host();
    let counting = wat::parse_str(
        r#"(module
             (global $g (export "g") (mut i32) (i32.const 0))
             (func $start (global.set $g (i32.const 7)))
             (start $start))"#,
    )
    .unwrap();
    let module = h.runtime.compile_raw(&counting).unwrap();
    assert!(module.has_start());
    let mut store = h.runtime.raw_store(Limits::builder().fuel(10_000).build());
    let instance = store.instantiate(&module).unwrap();
    assert_eq!(
        store.get_global(instance, "g").and_then(|v| v.i32()),
        Some(7)
    );

    let looping =
        wat::parse_str("(module (func $start (loop $l (br $l))) (start $start))").unwrap();
    let module = h.runtime.compile_raw(&looping).unwrap();
    let budget = 100_000;
    let mut store = h.runtime.raw_store(Limits::builder().fuel(budget).build());
    assert_eq!(
        store.instantiate(&module).unwrap_err().kind(),
        &ErrorKind::OutOfFuel { budget }
    );
}

#[test]
fn registry_smoke_call_of_a_start_loop_is_stopped_by_the_deadline() {
    // Promotion runs the smoke call like any call: the start function cannot hold the
    // registry (or the promoting thread) past the tenant's deadline.
    let runtime = Runtime::builder(Arc::new(StepClock::new(Duration::from_millis(1))))
        .build()
        .unwrap();
    let t = tenant(
        &runtime,
        "acme",
        &[],
        Limits::builder()
            .fuel(u64::MAX / 2)
            .fuel_slice(10_000)
            .deadline(Duration::from_millis(100))
            .calls_per_second(0)
            .build(),
    );
    let registry = palisade::Registry::new(runtime);
    let digest = registry
        .register(
            &guest(START_LOOP),
            palisade::ModuleMeta::named("looper", "1").with_smoke("run", b"", b""),
        )
        .unwrap()
        .digest;
    let err = registry.promote("looper", digest, &t).unwrap_err();
    match err.kind() {
        ErrorKind::Registry(palisade::RegistryError::SmokeFailed { reason }) => {
            assert!(reason.contains("deadline"), "{reason}")
        }
        other => panic!("expected SmokeFailed, got {other:?}"),
    }
    assert!(registry.plugin("looper").is_none());
}
