//! Threat: exfiltrate data (through a capability the tenant was not granted, a foreign import,
//! or another tenant's log identity).

use palisade::{ContractViolation, ErrorKind};
use palisade_guest_artifacts::hostile;
use palisade_tests::{assert_serves_good_guest, compile, error_kind, host, tenant};

#[test]
fn ungranted_capability_is_denied_at_registration_and_at_call() {
    let host = host();
    let t = tenant(&host, "mallory", &["log", "kv.read"]);
    let m = compile(&host, hostile::UNGRANTED_CAPABILITY);
    let denied = ErrorKind::CapabilityDenied {
        import: "palisade.kv_set".into(),
        capability: "kv.write".into(),
    };
    // At registration, against the tenant's grants...
    let err = host.runtime.check_grants(&m, &t).unwrap_err();
    assert_eq!(err.kind(), &denied);
    assert_eq!(err.tenant(), Some("mallory"));
    // ...and again on every call, so narrowed grants take effect.
    let kind = error_kind(host.runtime.call(&m, &t, "run", b""));
    assert_eq!(kind, denied);
    assert_eq!(host.kv.used_bytes("mallory"), 0, "nothing was written");
    assert_serves_good_guest(&host, &t);
}

#[test]
fn foreign_imports_are_refused_at_registration() {
    let host = host();
    let err = host.runtime.compile(hostile::FOREIGN_IMPORT).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::ContractViolation(ContractViolation::ForeignImport {
            import: "wasi_snapshot_preview1.fd_write".into()
        })
    );
    assert_serves_good_guest(&host, &tenant(&host, "mallory", &[]));
}

#[test]
fn log_lines_are_tagged_by_the_host_not_the_guest() {
    // A guest cannot write a line that appears to come from another tenant: the host tags each
    // line with the calling tenant.
    let host = host();
    let t = tenant(&host, "mallory", &["log", "kv.read", "kv.write"]);
    let m = compile(&host, palisade_guest_artifacts::THERMOSTAT);
    let out = host.runtime.call(&m, &t, "decide", &1_000i32.to_le_bytes());
    assert!(out.result.is_ok());
    let lines = host.log.lines();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l.tenant == "mallory"), "{lines:?}");
    assert_serves_good_guest(&host, &t);
}

#[test]
fn a_tenant_without_grants_cannot_run_a_guest_that_needs_them() {
    let host = host();
    let t = tenant(&host, "mallory", &[]);
    let m = compile(&host, palisade_guest_artifacts::THERMOSTAT);
    let kind = error_kind(host.runtime.call(&m, &t, "decide", &1_000i32.to_le_bytes()));
    assert!(
        matches!(&kind, ErrorKind::CapabilityDenied { import, .. } if import.starts_with("palisade.")),
        "{kind:?}"
    );
    assert_serves_good_guest(&host, &t);
}
