//! KV is namespaced per tenant: a guest can never name another tenant's key.

use palisade::Limits;

use crate::{compile, guest_with, host, tenant};

const KV_IMPORTS: &str = r#"
  (import "palisade" "kv_get" (func $kv_get (param i32 i32 i32 i32) (result i32)))
  (import "palisade" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))"#;

/// `put`: stores its input under "secret". `get`: reads "secret", outputs the status (4 bytes)
/// followed by the bytes read.
const KV_BODY: &str = r#"
  (data (i32.const 0) "secret")
  (func (export "put") (param $p i32) (param $n i32) (result i32)
    (i32.store (i32.const 16) (call $kv_set (i32.const 0) (i32.const 6) (local.get $p) (local.get $n)))
    (call $output (i32.const 16) (i32.const 4))
    (i32.const 0))
  (func (export "get") (param i32 i32) (result i32)
    (local $r i32)
    (local.set $r (call $kv_get (i32.const 0) (i32.const 6) (i32.const 36) (i32.const 64)))
    (i32.store (i32.const 32) (local.get $r))
    (call $output (i32.const 32)
      (i32.add (i32.const 4) (select (local.get $r) (i32.const 0) (i32.gt_s (local.get $r) (i32.const 0)))))
    (i32.const 0))"#;

#[test]
fn tenant_a_cannot_read_tenant_b_keys() {
    let h = host();
    let module = compile(&h.runtime, &guest_with(KV_IMPORTS, "1", KV_BODY));
    let grants = ["kv.read", "kv.write"];
    let a = tenant(&h.runtime, "tenant-a", &grants, Limits::default());
    let b = tenant(&h.runtime, "tenant-b", &grants, Limits::default());

    let put = h
        .runtime
        .call(&module, &a, "put", b"a's data")
        .result
        .unwrap();
    assert_eq!(put, 0i32.to_le_bytes());

    // Same module, same key name, other tenant: NOT_FOUND.
    let got_b = h.runtime.call(&module, &b, "get", b"").result.unwrap();
    assert_eq!(got_b, palisade::capability::code::NOT_FOUND.to_le_bytes());

    // The owner reads its value back.
    let got_a = h.runtime.call(&module, &a, "get", b"").result.unwrap();
    assert_eq!(&got_a[..4], 8i32.to_le_bytes());
    assert_eq!(&got_a[4..], b"a's data");
}

#[test]
fn kv_writes_per_call_are_capped() {
    let h = host();
    let module = compile(&h.runtime, &guest_with(KV_IMPORTS, "1", KV_BODY));
    let t = tenant(
        &h.runtime,
        "acme",
        &["kv.read", "kv.write"],
        Limits::builder().kv_value_bytes(16).build(),
    );
    let out = h
        .runtime
        .call(&module, &t, "put", &[7u8; 17])
        .result
        .unwrap();
    assert_eq!(out, palisade::capability::code::TOO_LARGE.to_le_bytes());
    let out = h
        .runtime
        .call(&module, &t, "put", &[7u8; 16])
        .result
        .unwrap();
    assert_eq!(out, 0i32.to_le_bytes());
}
