//! Refused uploads: each gets a 4xx JSON error with its own code, and nothing is stored.

use crate::common::*;

const KV_GUEST: &str = r#"(module
  (import "palisade" "kv_get" (func $kv_get (param i32 i32 i32 i32) (result i32)))
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "get") (param i32 i32) (result i32) (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))"#;

const ABI_V2: &str = r#"(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "echo") (param i32 i32) (result i32) (i32.const 0))
  (@custom "palisade.abi" "\02\00\00\00"))"#;

fn state(srv: &Srv) -> (Vec<String>, serde_json::Value) {
    let list = srv.admin_req("GET", "/v1/admin/plugins", b"");
    assert_eq!(list.status, 200);
    (srv.module_files(), list.json())
}

#[test]
fn bad_uploads_get_their_own_code_and_store_nothing() {
    let srv = Srv::start_with("upload_capabilities = [\"log\"]\n");
    let before = state(&srv);

    let mut forged = bundle("echo", "1.0.0", &echo());
    // Flip a bit in the module bytes' digest field would be caught as a digest mismatch; a
    // flipped signature byte is a forged signature.
    let sig_at = forged.len() - echo().len() - 40;
    forged[sig_at] ^= 1;
    let other_key = palisade::BundleBuilder::new("echo", "1.0.0", &echo())
        .sign(&[7; 32])
        .unwrap();
    let mut truncated = bundle("echo", "1.0.0", &echo());
    truncated.truncate(20);

    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "malformed wasm",
            b"\0asm\x01\0\0\0\x01\xff\xff".to_vec(),
            400,
            "invalid_module",
        ),
        ("oversize", vec![0u8; 70_000], 413, "payload_too_large"),
        ("forged signature", forged, 400, "bad_signature"),
        ("untrusted key", other_key, 403, "untrusted_key"),
        ("malformed bundle", truncated, 400, "malformed_bundle"),
        (
            "ungranted import",
            wat::parse_str(KV_GUEST).unwrap(),
            422,
            "ungranted_import",
        ),
        (
            "unsupported abi",
            wat::parse_str(ABI_V2).unwrap(),
            422,
            "unsupported_abi",
        ),
    ];
    for (what, body, status, code) in cases {
        let r = srv.upload("echo", "1.0.0", &body);
        assert_eq!(
            r.status,
            status,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_error(&r, status, code);
        assert_eq!(state(&srv), before, "{what} stored something");
    }

    // The server still serves, and a good upload of the same name and version succeeds.
    let r = srv.upload("echo", "1.0.0", &echo());
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(srv.module_files().len(), 3, "identity, br and gzip");
    // Same version, other bytes: versions are immutable.
    assert_error(
        &srv.upload("echo", "1.0.0", &tagged("x")),
        409,
        "version_exists",
    );
    // The same bytes again: idempotent, and a compile-cache hit.
    let r = srv.upload("echo", "1.0.0", &echo());
    assert_eq!(
        (r.status, r.json()["cache_hit"].as_bool()),
        (200, Some(true))
    );
}

#[test]
fn signed_bundles_are_required_unless_policy_allows_bare_modules() {
    let srv = Srv::start_with("allow_unsigned = false\n");
    assert_error(
        &srv.upload("echo", "1.0.0", &echo()),
        400,
        "signature_required",
    );
    let unsigned = palisade::BundleBuilder::new("echo", "1.0.0", &echo())
        .build_unsigned()
        .unwrap();
    assert_error(
        &srv.upload("echo", "1.0.0", &unsigned),
        400,
        "signature_required",
    );
    let r = srv.admin_req(
        "POST",
        "/v1/admin/plugins/echo/versions",
        &bundle("echo", "1.0.0", &echo()),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["version"], "1.0.0");
    let wrong_name = srv.admin_req(
        "POST",
        "/v1/admin/plugins/other/versions",
        &bundle("echo", "1.0.1", &echo()),
    );
    assert_error(&wrong_name, 400, "name_mismatch");
}
