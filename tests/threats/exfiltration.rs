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
fn forged_log_lines_are_escaped_and_tagged_by_the_host_not_the_guest() {
    // `log_forge` logs "ok\n[admin 00000000] error: forged line" (a newline, then a line shaped
    // like the host's for another tenant) and a line with ANSI escapes and a bidi override.
    // The host tags each line with the calling tenant and digest, and a text sink writes each
    // as exactly one line with the control characters visible as escapes.
    let host = host();
    let t = tenant(&host, "mallory", &["log"]);
    let m = compile(&host, hostile::LOG_FORGE);
    let out = host.runtime.call(&m, &t, "run", b"");
    assert_eq!(
        out.result.as_deref().ok(),
        Some(&b""[..]),
        "{:?}",
        out.result
    );
    let lines = host.log.lines();
    let short = m.digest().short();
    let rendered: Vec<&str> = lines.iter().map(|l| l.rendered.as_str()).collect();
    assert_eq!(
        rendered,
        [
            format!(r"[mallory {short}] info: ok\n[admin 00000000] error: forged line"),
            format!(r"[mallory {short}] info: \x1b[2J\x1b[31mcleared\u{{202e}}txt.exe"),
        ],
    );
    for line in &lines {
        assert_eq!((line.tenant.as_str(), line.digest), ("mallory", m.digest()));
        assert_eq!(line.rendered.lines().count(), 1, "{line:?}");
    }
    // Its guest error message, in the error's text (what a host logs), is escaped too.
    let failed = host.runtime.call(&m, &t, "fail", b"");
    let err = failed
        .result
        .expect_err("`fail` ends the call with a guest error");
    assert!(
        matches!(err.kind(), ErrorKind::GuestError { code: 7, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(r"ok\n[admin 00000000] error: forged line"),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");
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
