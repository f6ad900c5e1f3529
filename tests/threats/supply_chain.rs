//! Threat: supply-chain compromise (a tampered or swapped module, or one built for another
//! contract).

use palisade::{ContractViolation, Digest, ErrorKind};
use palisade_guest_artifacts::{SHA256, THERMOSTAT};
use palisade_tests::{SHA256_ABC, assert_serves_good_guest, compile, host, tenant};

#[test]
fn every_call_reports_the_digest_of_the_code_that_ran() {
    let host = host();
    let t = tenant(&host, "acme", &[]);
    let m = compile(&host, SHA256);
    let call = host.runtime.call(&m, &t, "digest", b"abc");
    assert_eq!(call.result.unwrap(), SHA256_ABC);
    assert_eq!(call.report.digest, Digest::of(SHA256));
}

#[test]
fn a_changed_module_reports_its_own_digest_never_the_original() {
    // One extra custom section: still a valid module that behaves the same, but not the code
    // that was reviewed. Every call must report the digest of the bytes that actually ran, so
    // the registry (which keys on it) and the audit trail tell the two apart.
    let host = host();
    let t = tenant(&host, "acme", &[]);
    let mut changed = SHA256.to_vec();
    changed.extend_from_slice(&[0, 4, 3, b'e', b'v', b'l']);
    let original = compile(&host, SHA256);
    let other = compile(&host, &changed);
    let call = host.runtime.call(&other, &t, "digest", b"abc");
    assert_eq!(call.result.unwrap(), SHA256_ABC);
    assert_eq!(call.report.digest, Digest::of(&changed));
    assert_ne!(call.report.digest, original.digest());
    assert_eq!(
        host.runtime
            .call(&original, &t, "digest", b"abc")
            .report
            .digest,
        Digest::of(SHA256)
    );
}

#[test]
fn a_truncated_module_is_invalid() {
    let host = host();
    let err = host
        .runtime
        .compile(&THERMOSTAT[..THERMOSTAT.len() / 2])
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidModule { .. }),
        "{err}"
    );
    assert_serves_good_guest(&host, &tenant(&host, "acme", &[]));
}

/// Rewrites the payload of the `palisade.abi` custom section (4 bytes after its name).
fn with_abi_version(module: &[u8], version: u32) -> Vec<u8> {
    let name = b"\x0cpalisade.abi";
    let at = module
        .windows(name.len())
        .position(|w| w == name)
        .expect("the SDK emits the section")
        + name.len();
    let mut out = module.to_vec();
    out[at..at + 4].copy_from_slice(&version.to_le_bytes());
    out
}

#[test]
fn a_module_built_for_another_abi_version_is_refused() {
    let host = host();
    let err = host
        .runtime
        .compile(&with_abi_version(SHA256, 2))
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::ContractViolation(ContractViolation::UnsupportedAbiVersion {
            found: 2,
            min: 1,
            max: 1
        })
    );
    // The untouched module is accepted: the SDK declares version 1.
    assert_eq!(
        compile(&host, &with_abi_version(SHA256, 1))
            .info()
            .abi_version,
        1
    );
    assert_serves_good_guest(&host, &tenant(&host, "acme", &[]));
}

#[test]
fn a_module_without_an_abi_declaration_is_refused() {
    let host = host();
    let wasm = wat::parse_str(
        r#"(module
            (memory (export "memory") 1)
            (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
            (func (export "run") (param i32 i32) (result i32) (i32.const 0)))"#,
    )
    .unwrap();
    let err = host.runtime.compile(&wasm).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::ContractViolation(ContractViolation::MissingAbiVersion)
    );
    assert_serves_good_guest(&host, &tenant(&host, "acme", &[]));
}
