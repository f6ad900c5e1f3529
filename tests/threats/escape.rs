//! Threat: escape the sandbox (crash or corrupt the host through a guest fault, or reach host
//! functions it was not given).

use palisade::{ContractViolation, ErrorKind, TrapKind};
use palisade_guest_artifacts::hostile;
use palisade_tests::{assert_serves_good_guest, compile, error_kind, host, tenant};

#[test]
fn unreachable_is_a_typed_trap() {
    let host = host();
    let t = tenant(&host, "mallory", &[]);
    let m = compile(&host, hostile::UNREACHABLE);
    let kind = error_kind(host.runtime.call(&m, &t, "run", b""));
    assert_eq!(kind, ErrorKind::Trap(TrapKind::Unreachable));
    assert_serves_good_guest(&host, &t);
}

#[test]
fn a_guest_panic_is_a_structured_guest_error() {
    let host = host();
    let t = tenant(&host, "mallory", &[]);
    let m = compile(&host, hostile::PANIC);
    match error_kind(host.runtime.call(&m, &t, "explode", b"")) {
        ErrorKind::GuestError { code, message } => {
            assert_eq!(code, 101);
            assert!(message.starts_with("panicked at "), "{message}");
            assert!(message.ends_with(": boom"), "{message}");
            assert!(message.contains("src/lib.rs:"), "{message}");
        }
        other => panic!("expected a guest error, got {other:?}"),
    }
    // A bounds-check panic carries a formatted message: the location is still reported.
    match error_kind(host.runtime.call(&m, &t, "index", b"abc")) {
        ErrorKind::GuestError { code, message } => {
            assert_eq!(code, 101);
            assert!(message.starts_with("panicked at "), "{message}");
        }
        other => panic!("expected a guest error, got {other:?}"),
    }
    assert_serves_good_guest(&host, &t);
}

#[test]
fn importing_a_function_the_host_does_not_provide_is_refused() {
    let host = host();
    let wasm = wat::parse_str(
        r#"(module
            (import "palisade" "spawn_process" (func (param i32 i32) (result i32)))
            (memory (export "memory") 1)
            (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
            (func (export "run") (param i32 i32) (result i32) (i32.const 0))
            (@custom "palisade.abi" "\01\00\00\00"))"#,
    )
    .unwrap();
    let err = host.runtime.compile(&wasm).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::ContractViolation(ContractViolation::UnknownImport {
            name: "spawn_process".into()
        })
    );
    assert_serves_good_guest(&host, &tenant(&host, "mallory", &[]));
}

#[test]
fn importing_a_host_function_with_a_forged_signature_is_refused() {
    // `log` declared as taking an i64 pointer: a signature mismatch could otherwise make the
    // host misread its arguments.
    let host = host();
    let wasm = wat::parse_str(
        r#"(module
            (import "palisade" "log" (func (param i32 i64 i32) (result i32)))
            (memory (export "memory") 1)
            (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
            (func (export "run") (param i32 i32) (result i32) (i32.const 0))
            (@custom "palisade.abi" "\01\00\00\00"))"#,
    )
    .unwrap();
    let err = host.runtime.compile(&wasm).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::ContractViolation(ContractViolation::ImportSignature { name, .. }) if name == "log"
        ),
        "{err}"
    );
    assert_serves_good_guest(&host, &tenant(&host, "mallory", &["log"]));
}
