//! The ABI contract: refused modules name exactly what is wrong.

use palisade::{ContractViolation, ErrorKind, Limits};

use crate::{ECHO, assert_serves_good_guest, compile, guest, guest_with, host, kind_of, tenant};

fn violation(wasm: &[u8]) -> ContractViolation {
    let h = host();
    match h
        .runtime
        .compile(wasm)
        .map(|_| ())
        .map_err(|e| e.kind().clone())
    {
        Err(ErrorKind::ContractViolation(v)) => v,
        other => panic!("expected a contract violation, got {other:?}"),
    }
}

#[test]
fn ungranted_capability_is_refused_naming_import_and_capability() {
    let h = host();
    let wasm = guest_with(
        r#"(import "palisade" "kv_get" (func $kv_get (param i32 i32 i32 i32) (result i32)))"#,
        "1",
        ECHO,
    );
    let module = compile(&h.runtime, &wasm);
    let denied = tenant(&h.runtime, "acme", &["log"], Limits::default());

    // At registration time ...
    let err = h.runtime.check_grants(&module, &denied).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::CapabilityDenied {
            import: "palisade.kv_get".into(),
            capability: "kv.read".into()
        }
    );
    let msg = err.to_string();
    assert!(msg.contains("kv.read") && msg.contains("acme"), "{msg}");

    // ... and at call time, before any guest code runs.
    let call = h.runtime.call(&module, &denied, "echo", b"x");
    assert!(matches!(kind_of(&call), ErrorKind::CapabilityDenied { .. }));
    assert_eq!(call.report.fuel_used, 0);

    let granted = tenant(&h.runtime, "beta", &["kv.read"], Limits::default());
    assert!(h.runtime.check_grants(&module, &granted).is_ok());
    assert_eq!(
        h.runtime
            .call(&module, &granted, "echo", b"x")
            .result
            .unwrap(),
        b"x"
    );
    assert_serves_good_guest(&h.runtime, &denied);
}

#[test]
fn unknown_capability_name_is_a_config_error() {
    let h = host();
    let err = h
        .runtime
        .tenant("acme")
        .grant("kv.everything")
        .build()
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config { .. }));
    assert!(
        err.to_string().contains("kv.read"),
        "lists known capabilities: {err}"
    );
}

#[test]
fn unknown_and_foreign_imports_are_refused() {
    let unknown = guest_with(
        r#"(import "palisade" "spawn" (func (param i32)))"#,
        "1",
        ECHO,
    );
    assert_eq!(
        violation(&unknown),
        ContractViolation::UnknownImport {
            name: "spawn".into()
        }
    );
    let foreign = guest_with(r#"(import "env" "abort" (func))"#, "1", ECHO);
    assert_eq!(
        violation(&foreign),
        ContractViolation::ForeignImport {
            import: "env.abort".into()
        }
    );
    let wrong_sig = guest_with(r#"(import "palisade" "log" (func (param i32)))"#, "1", ECHO);
    assert!(matches!(
        violation(&wrong_sig),
        ContractViolation::ImportSignature { name, .. } if name == "log"
    ));
}

#[test]
fn abi_version_is_required_and_checked() {
    let body = r#"(module
        (memory (export "memory") 1)
        (func (export "palisade_alloc") (param i32) (result i32) (i32.const 0))
        (func (export "run") (param i32 i32) (result i32) (i32.const 0))"#;
    let none = wat::parse_str(format!("{body})")).unwrap();
    assert_eq!(violation(&none), ContractViolation::MissingAbiVersion);
    let v2 = wat::parse_str(format!(
        r#"{body} (@custom "palisade.abi" "\02\00\00\00"))"#
    ))
    .unwrap();
    assert_eq!(
        violation(&v2),
        ContractViolation::UnsupportedAbiVersion {
            found: 2,
            min: 1,
            max: 1
        }
    );
    let short = wat::parse_str(format!(r#"{body} (@custom "palisade.abi" "\01"))"#)).unwrap();
    assert_eq!(violation(&short), ContractViolation::MalformedAbiVersion);
}

#[test]
fn the_abi_section_is_read_wherever_it_lies_and_other_custom_sections_are_not_kept() {
    let h = host();
    // The section moved before every other section, and a 256 KiB custom section (as large as a
    // big guest's `name` section) after the last one.
    let written = guest(ECHO);
    let mut section = vec![0, 17, 12];
    section.extend_from_slice(b"palisade.abi");
    section.extend_from_slice(&1u32.to_le_bytes());
    let at = written
        .windows(section.len())
        .position(|w| w == section.as_slice())
        .unwrap(); // guest() writes the section as built here

    let mut front = written[..8].to_vec();
    front.extend_from_slice(&section);
    front.extend_from_slice(&written[8..at]);
    front.extend_from_slice(&written[at + section.len()..]);
    let big = 256 * 1024;
    front.push(0);
    front.extend_from_slice(&[0x85, 0x80, 0x10]); // LEB128 of 4 + 1 + big (0x40005)
    front.extend_from_slice(&[4, b'b', b'l', b'o', b'b']);
    front.resize(front.len() + big, 0xAB);
    let wasm = front;

    let before = crate::registry::net_bytes();
    let module = compile(&h.runtime, &wasm);
    let held = crate::registry::net_bytes() - before;
    assert_eq!(module.info().abi_version, 1);
    assert!(
        held < 64 * 1024,
        "the compiled module holds {held} B: the 256 KiB custom section was kept"
    );
    let acme = tenant(&h.runtime, "acme", &[], Limits::default());
    let call = h.runtime.call(&module, &acme, "echo", b"still served");
    assert_eq!(call.result.unwrap(), b"still served");

    // Two `palisade.abi` sections, wherever they are, are malformed.
    let mut twice = guest(ECHO);
    twice.extend_from_slice(&section);
    assert_eq!(violation(&twice), ContractViolation::MalformedAbiVersion);
    assert_eq!(
        palisade::abi::abi_version(&twice),
        Err(ContractViolation::MalformedAbiVersion)
    );
    assert_eq!(palisade::abi::abi_version(&wasm), Ok(1));
    assert_eq!(
        palisade::abi::abi_version(b"not wasm"),
        Err(ContractViolation::MissingAbiVersion)
    );
}

#[test]
fn exports_are_checked() {
    let no_alloc = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func (export "run") (param i32 i32) (result i32) (i32.const 0))
             (@custom "palisade.abi" "\01\00\00\00"))"#,
    )
    .unwrap();
    assert!(matches!(
        violation(&no_alloc),
        ContractViolation::MissingExport {
            name: "palisade_alloc",
            ..
        }
    ));
    let bad_entry = guest(r#"(func (export "run") (param i32) (result i32) (i32.const 0))"#);
    assert!(matches!(
        violation(&bad_entry),
        ContractViolation::WrongExportType { name, .. } if name == "run"
    ));
    let no_entry = guest("");
    assert_eq!(violation(&no_entry), ContractViolation::NoEntryPoint);
}

#[test]
fn malformed_bytes_are_an_invalid_module() {
    let h = host();
    for bytes in [&b"not wasm at all"[..], &guest(ECHO)[..20], &[]] {
        let err = h.runtime.compile(bytes).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidModule { .. }),
            "{err:?}"
        );
    }
}

#[test]
fn oversized_modules_are_refused_before_compiling() {
    let clock = std::sync::Arc::new(palisade::ManualClock::new());
    let runtime = palisade::Runtime::builder(clock)
        .max_module_bytes(64)
        .build()
        .unwrap();
    // 65 bytes that are not a module: parsed, they would be `InvalidModule`.
    let err = runtime.compile(&[0xFF; 65]).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::ContractViolation(ContractViolation::ModuleTooLarge { len: 65, cap: 64 })
    );
}

#[test]
fn embedder_capabilities_are_denied_by_default_and_work_when_granted() {
    let clock = std::sync::Arc::new(palisade::ManualClock::new());
    let runtime = palisade::Runtime::builder(clock)
        .host_func(
            "app.document",
            "doc_len",
            |mut caller: palisade::wasmi::Caller<'_, palisade::CallState>| {
                palisade::charge(&mut caller, 10)?;
                Ok(42i32)
            },
        )
        .build()
        .unwrap();
    let wasm = guest_with(
        r#"(import "palisade" "doc_len" (func $doc_len (result i32)))"#,
        "1",
        r#"(func (export "run") (param i32 i32) (result i32)
             (i32.store (i32.const 0) (call $doc_len))
             (call $output (i32.const 0) (i32.const 4))
             (i32.const 0))"#,
    );
    let module = runtime.compile(&wasm).unwrap();
    assert_eq!(
        runtime.capability_of_import("doc_len"),
        Some("app.document")
    );
    let plain = tenant(&runtime, "plain", &[], Limits::default());
    assert_eq!(
        kind_of(&runtime.call(&module, &plain, "run", b"")),
        ErrorKind::CapabilityDenied {
            import: "palisade.doc_len".into(),
            capability: "app.document".into()
        }
    );
    let app = tenant(&runtime, "app", &["app.document"], Limits::default());
    assert_eq!(
        runtime.call(&module, &app, "run", b"").result.unwrap(),
        42i32.to_le_bytes()
    );
}

/// A code section that declares no function bodies but has 1,000 bytes or more after that
/// count, whole, cut short, or after a valid code section: wasmi 2.0's parser divided by the
/// zero count under Palisade's strict limits and panicked (found by the `register` fuzz
/// target; fuzz/regressions/register/).
#[test]
fn empty_code_section_with_bytes_is_an_invalid_module_not_a_panic() {
    let h = host();
    // Header, then section 10 (code) of 1,001 bytes (LEB128 0xe9 0x07): a count of 0, then
    // 1,000 bytes, wasmi's `req_funcs_bytes` for `min_avg_bytes_per_function`.
    let mut whole = b"\0asm\x01\0\0\0\x0a\xe9\x07\x00".to_vec();
    let truncated = whole.clone();
    whole.resize(whole.len() + 1_000, 0);
    let mut with_exports = guest(ECHO);
    with_exports.extend_from_slice(&truncated[8..]);
    for bytes in [&whole[..], &truncated[..], &with_exports[..]] {
        let err = h.runtime.compile(bytes).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidModule { .. }),
            "{err:?}"
        );
        let raw = h.runtime.compile_raw(bytes).map(|_| ()).unwrap_err();
        assert!(
            matches!(raw.kind(), ErrorKind::InvalidModule { .. }),
            "{raw:?}"
        );
    }
    let t = tenant(&h.runtime, "acme", &[], Limits::default());
    assert_serves_good_guest(&h.runtime, &t);
}
