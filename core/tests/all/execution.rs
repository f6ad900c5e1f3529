//! One call: input in, output out, errors as data, nothing carried between calls.

use std::sync::Arc;

use palisade::{ErrorKind, Limits, ManualClock, Outcome, Runtime, StackLimits};

use crate::{ECHO, assert_serves_good_guest, compile, guest, host, kind_of, tenant};

#[test]
fn echo_round_trips_input_and_reports_the_digest() {
    let h = host();
    let wasm = guest(ECHO);
    let module = compile(&h.runtime, &wasm);
    let t = tenant(&h.runtime, "acme", &[], Limits::default());
    let call = h.runtime.call(&module, &t, "echo", b"hello, palisade");
    assert_eq!(call.result.unwrap(), b"hello, palisade");
    assert_eq!(call.report.outcome, Outcome::Ok);
    assert_eq!(call.report.digest, palisade::Digest::of(&wasm));
    assert_eq!(call.report.memory_high_water, 64 * 1024);
    assert!(call.report.fuel_used > 0);

    // Empty input: the allocator is not called and the entry sees (0, 0).
    assert_eq!(
        h.runtime.call(&module, &t, "echo", b"").result.unwrap(),
        b""
    );
}

#[test]
fn guest_error_returns_code_and_message() {
    let h = host();
    let module = compile(
        &h.runtime,
        &guest(
            r#"(data (i32.const 16) "temperature out of range")
               (func (export "status") (param i32 i32) (result i32)
                 (call $output (i32.const 16) (i32.const 24))
                 (i32.const 7))
               (func (export "abort") (param i32 i32) (result i32)
                 (call $fail (i32.const 42) (i32.const 16) (i32.const 11))
                 (i32.const 0))"#,
        ),
    );
    let t = tenant(&h.runtime, "acme", &[], Limits::default());
    let call = h.runtime.call(&module, &t, "status", b"");
    assert_eq!(
        kind_of(&call),
        ErrorKind::GuestError {
            code: 7,
            message: "temperature out of range".into()
        }
    );
    assert_eq!(call.report.outcome, Outcome::GuestError);
    assert_eq!(
        kind_of(&h.runtime.call(&module, &t, "abort", b"")),
        ErrorKind::GuestError {
            code: 42,
            message: "temperature".into()
        }
    );
}

#[test]
fn nothing_written_in_one_call_is_visible_to_the_next() {
    let h = host();
    // Increments a global and a memory cell, and returns both: always 1 in a fresh instance.
    let module = compile(
        &h.runtime,
        &guest(
            r#"(global $count (mut i32) (i32.const 0))
               (func (export "bump") (param i32 i32) (result i32)
                 (global.set $count (i32.add (global.get $count) (i32.const 1)))
                 (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
                 (i32.store (i32.const 4) (global.get $count))
                 (call $output (i32.const 0) (i32.const 8))
                 (i32.const 0))"#,
        ),
    );
    let t = tenant(&h.runtime, "acme", &[], Limits::default());
    for _ in 0..3 {
        let out = h.runtime.call(&module, &t, "bump", b"").result.unwrap();
        assert_eq!(out, [1, 0, 0, 0, 1, 0, 0, 0]);
    }
}

#[test]
fn output_outside_memory_is_a_typed_error() {
    let h = host();
    let module = compile(
        &h.runtime,
        &guest(
            r#"(func (export "far") (param i32 i32) (result i32)
                 (call $output (i32.const 65000) (i32.const 1000))
                 (i32.const 0))
               (func (export "huge") (param i32 i32) (result i32)
                 (call $output (i32.const 0) (i32.const -1))
                 (i32.const 0))"#,
        ),
    );
    let t = tenant(
        &h.runtime,
        "acme",
        &[],
        Limits::builder().output_bytes(4096).build(),
    );
    let call = h.runtime.call(&module, &t, "far", b"");
    assert_eq!(
        kind_of(&call),
        ErrorKind::OutputOutOfBounds {
            ptr: 65000,
            len: 1000,
            memory_bytes: 65536
        }
    );
    assert_eq!(call.report.outcome, Outcome::BadOutput);
    assert_eq!(
        kind_of(&h.runtime.call(&module, &t, "huge", b"")),
        ErrorKind::OutputTooLarge {
            len: u32::MAX as usize,
            cap: 4096
        }
    );
    assert_serves_good_guest(&h.runtime, &t);
}

#[test]
fn host_function_given_a_bad_pointer_traps_without_harming_the_host() {
    let h = host();
    let wasm = crate::guest_with(
        r#"(import "palisade" "log" (func $log (param i32 i32 i32) (result i32)))"#,
        "1",
        r#"(func (export "run") (param i32 i32) (result i32)
             (drop (call $log (i32.const 2) (i32.const 65530) (i32.const 100)))
             (i32.const 0))"#,
    );
    let module = compile(&h.runtime, &wasm);
    let t = tenant(&h.runtime, "acme", &["log"], Limits::default());
    assert_eq!(
        kind_of(&h.runtime.call(&module, &t, "run", b"")),
        ErrorKind::GuestMemoryOutOfBounds {
            ptr: 65530,
            len: 100
        }
    );
    assert_serves_good_guest(&h.runtime, &t);
}

#[test]
fn traps_map_to_their_kind() {
    let h = host();
    let module = compile(
        &h.runtime,
        &guest(
            r#"(func (export "oob") (param i32 i32) (result i32)
                 (i32.load (i32.const 70000)))
               (func (export "unreachable") (param i32 i32) (result i32)
                 unreachable)
               (func $rec (param i32) (result i32) (call $rec (local.get 0)))
               (func (export "recurse") (param i32 i32) (result i32)
                 (call $rec (i32.const 0)))
               (func (export "div") (param i32 i32) (result i32)
                 (i32.div_u (i32.const 1) (local.get 1)))"#,
        ),
    );
    let t = tenant(&h.runtime, "acme", &[], Limits::default());
    use palisade::TrapKind::*;
    for (entry, trap) in [
        ("oob", MemoryOutOfBounds),
        ("unreachable", Unreachable),
        ("recurse", StackOverflow),
        ("div", IntegerDivisionByZero),
    ] {
        let call = h.runtime.call(&module, &t, entry, b"");
        assert_eq!(kind_of(&call), ErrorKind::Trap(trap), "{entry}");
        assert_eq!(call.report.outcome, Outcome::Trap);
    }
    assert_serves_good_guest(&h.runtime, &t);
}

#[test]
fn unknown_entry_and_oversized_input_are_rejected_before_running() {
    let h = host();
    let module = compile(&h.runtime, &guest(ECHO));
    let t = tenant(
        &h.runtime,
        "acme",
        &[],
        Limits::builder().input_bytes(8).build(),
    );
    let call = h.runtime.call(&module, &t, "nope", b"");
    assert_eq!(
        kind_of(&call),
        ErrorKind::NoSuchEntry {
            entry: "nope".into()
        }
    );
    assert_eq!(call.report.outcome, Outcome::Rejected);
    assert_eq!(
        kind_of(&h.runtime.call(&module, &t, "echo", b"123456789")),
        ErrorKind::InputTooLarge { len: 9, cap: 8 }
    );
    let err = h
        .runtime
        .call(&module, &t, "echo", b"123456789")
        .result
        .unwrap_err();
    assert!(err.to_string().contains("input_bytes"), "{err}");
}

#[test]
fn modules_from_another_runtime_are_refused_not_panicked_on() {
    let a = host();
    let b = host();
    let module = compile(&a.runtime, &guest(ECHO));
    let t = tenant(&b.runtime, "acme", &[], Limits::default());
    let call = b.runtime.call(&module, &t, "echo", b"x");
    match kind_of(&call) {
        ErrorKind::Config { reason } => assert!(
            reason.contains("compiled by another runtime") && reason.contains("compile it with"),
            "says what happened and what to do: {reason}"
        ),
        other => panic!("expected a Config error, got {other:?}"),
    }
}

#[test]
fn small_footprint_stacks_still_trap_deep_recursion() {
    let runtime = Runtime::builder(Arc::new(ManualClock::new()))
        .stack_limits(StackLimits::small_footprint())
        .build()
        .unwrap();
    let module = compile(
        &runtime,
        &guest(
            r#"(func $down (param i32) (result i32)
                 (if (result i32) (i32.eqz (local.get 0))
                   (then (i32.const 0))
                   (else (call $down (i32.sub (local.get 0) (i32.const 1))))))
               (func (export "depth") (param i32 i32) (result i32)
                 (call $down (i32.load8_u (local.get 0))))"#,
        ),
    );
    let t = tenant(&runtime, "acme", &[], Limits::default());
    // Well inside the 64 nested calls of the preset: runs.
    assert!(runtime.call(&module, &t, "depth", &[40]).result.is_ok());
    // Past it: a stack overflow trap, not a crash and not heap exhaustion.
    let call = runtime.call(&module, &t, "depth", &[200]);
    assert_eq!(
        kind_of(&call),
        ErrorKind::Trap(palisade::TrapKind::StackOverflow)
    );
    assert_eq!(call.report.outcome, Outcome::Trap);
    assert_serves_good_guest(&runtime, &t);
}

#[test]
fn inconsistent_stack_limits_are_a_config_error() {
    let limits = StackLimits {
        initial_bytes: 4096,
        max_bytes: 1024,
        ..StackLimits::new()
    };
    let err = Runtime::builder(Arc::new(ManualClock::new()))
        .stack_limits(limits)
        .build()
        .err()
        .unwrap();
    assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{err:?}");
    let zero_depth = StackLimits {
        max_recursion_depth: 0,
        ..StackLimits::new()
    };
    let err = Runtime::builder(Arc::new(ManualClock::new()))
        .stack_limits(zero_depth)
        .build()
        .err()
        .unwrap();
    assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{err:?}");
    // Below wasmi's default initial height on both ends: accepted (setter order matters).
    let tiny = StackLimits {
        initial_bytes: 64,
        max_bytes: 512,
        ..StackLimits::new()
    };
    assert!(
        Runtime::builder(Arc::new(ManualClock::new()))
            .stack_limits(tiny)
            .build()
            .is_ok()
    );
}
