//! Rollout state across restarts: smoke tests per (plugin, version), a fresh KV namespace per
//! smoke call, rollback keeping the canary apart from the active version, revoked signers.

use serde_json::json;

use crate::common::*;

/// A second signing key, trusted or not depending on the test.
const OTHER: [u8; 32] = [7; 32];

/// `once` answers `first` the first time it runs in a KV namespace, `again` afterwards.
const STATEFUL: &str = r#"(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (import "palisade" "kv_get" (func $kv_get (param i32 i32 i32 i32) (result i32)))
  (import "palisade" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "k")
  (data (i32.const 32) "first")
  (data (i32.const 48) "again")
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "once") (param i32 i32) (result i32)
    (if (i32.eq (call $kv_get (i32.const 16) (i32.const 1) (i32.const 64) (i32.const 8)) (i32.const -1))
      (then
        (drop (call $kv_set (i32.const 16) (i32.const 1) (i32.const 32) (i32.const 5)))
        (call $output (i32.const 32) (i32.const 5)))
      (else (call $output (i32.const 48) (i32.const 5))))
    (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))"#;

fn upload_bundle(srv: &Srv, plugin: &str, bytes: &[u8]) -> Response {
    srv.admin_req(
        "POST",
        &format!("/v1/admin/plugins/{plugin}/versions"),
        bytes,
    )
}

fn promote(srv: &Srv, plugin: &str, version: &str) -> Response {
    srv.admin_json(
        "POST",
        &format!("/v1/admin/plugins/{plugin}/promote"),
        json!({ "version": version }),
    )
}

fn plugin_state(srv: &Srv, plugin: &str) -> serde_json::Value {
    let r = srv.admin_req("GET", &format!("/v1/admin/plugins/{plugin}"), b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn a_smoke_test_belongs_to_its_version_not_to_the_first_upload_of_its_bytes(backend: Backend) {
    let mut srv = Srv::start_on(backend, "");
    let module = tagged("ok");
    let good = bundle_with(
        &SECRET,
        "good",
        "1",
        &module,
        Some(("echo", b"", b"ok")),
        &[],
    );
    // The same bytes as another plugin, with a smoke test they fail.
    let bad = bundle_with(
        &SECRET,
        "bad",
        "1",
        &module,
        Some(("echo", b"", b"not ok")),
        &[],
    );
    assert_eq!(upload_bundle(&srv, "good", &good).status, 201);
    assert_eq!(promote(&srv, "good", "1").status, 200);
    let r = upload_bundle(&srv, "bad", &bad);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["cache_hit"], true, "the module is shared");
    assert_error(&promote(&srv, "bad", "1"), 422, "smoke_failed");

    let token = srv.tenant("acme", json!({"plugins": ["good", "bad"]}));
    assert_eq!(srv.invoke(&token, "good", "echo", b"").body, b"ok");

    // After a restart the healthy plugin still serves and can be promoted again.
    assert!(srv.terminate().success());
    srv.spawn();
    let r = srv.invoke(&token, "good", "echo", b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
    assert_eq!(plugin_state(&srv, "good")["active"]["version"], "1");
    assert_eq!(promote(&srv, "good", "1").status, 200);
    assert_error(
        &srv.invoke(&token, "bad", "echo", b""),
        404,
        "unknown_plugin",
    );
}

fn every_smoke_call_gets_a_fresh_kv_namespace(backend: Backend) {
    let mut srv = Srv::start_on(backend, "");
    let module = wat::parse_str(STATEFUL).unwrap();
    let caps = ["kv.read", "kv.write"];
    let smoke = Some(("once", &b""[..], &b"first"[..]));
    for plugin in ["p1", "p2"] {
        let b = bundle_with(&SECRET, plugin, "1", &module, smoke, &caps);
        let r = upload_bundle(&srv, plugin, &b);
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    // Each promotion's smoke call sees an empty namespace: what p1's smoke call wrote is gone
    // when p2's runs, and when p1 is promoted again.
    for plugin in ["p1", "p2", "p1"] {
        let r = promote(&srv, plugin, "1");
        assert_eq!(
            r.status,
            200,
            "{plugin}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let token = srv.tenant(
        "acme",
        json!({"plugins": ["p1", "p2"], "grants": ["kv.read", "kv.write"]}),
    );

    // A restart restores both without re-running the (stateful) smoke test, and the smoke
    // calls left nothing in any tenant's namespace.
    assert!(srv.terminate().success());
    srv.spawn();
    let r = srv.invoke(&token, "p1", "once", b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"first"[..]));
    assert_eq!(srv.invoke(&token, "p1", "once", b"").body, b"again");
    assert_eq!(srv.invoke(&token, "p2", "once", b"").status, 200);
    for plugin in ["p1", "p2"] {
        assert_eq!(plugin_state(&srv, plugin)["active"]["version"], "1");
        assert_eq!(promote(&srv, plugin, "1").status, 200);
    }
}

fn rollback_never_leaves_the_canary_equal_to_the_active_version(backend: Backend) {
    let mut srv = Srv::start_on(backend, "");
    assert_eq!(srv.upload("greet", "1", &tagged("one")).status, 201);
    assert_eq!(srv.upload("greet", "2", &tagged("two")).status, 201);
    assert_eq!(promote(&srv, "greet", "1").status, 200);
    assert_eq!(promote(&srv, "greet", "2").status, 200);
    let r = srv.admin_json(
        "PUT",
        "/v1/admin/plugins/greet/canary",
        json!({"version": "1", "fraction": 0.5}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    let r = srv.admin_req("POST", "/v1/admin/plugins/greet/rollback", b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["canary"].is_null(), "{}", r.json());

    // The state survives a restart as acknowledged, and rollouts still work.
    assert!(srv.terminate().success());
    srv.spawn();
    let state = plugin_state(&srv, "greet");
    assert_eq!(state["active"]["version"], "1", "{state}");
    assert!(state["canary"].is_null(), "{state}");
    let token = srv.tenant("acme", json!({"plugins": ["greet"]}));
    for i in 0..16 {
        let key = format!("user-{i}");
        let r = srv.invoke_with(&token, "greet", "echo", b"", &[("x-palisade-key", &key)]);
        assert_eq!((r.status, r.body.as_slice()), (200, &b"one"[..]));
    }
    let r = srv.admin_json(
        "PUT",
        "/v1/admin/plugins/greet/canary",
        json!({"version": "2", "fraction": 0.5}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

fn a_revoked_signer_no_longer_serves_or_promotes(backend: Backend) {
    let both = format!(
        "trusted_keys = [\"{}\", \"{}\"]\n",
        public_hex(&SECRET),
        public_hex(&OTHER)
    );
    let mut srv = Srv::start_on(backend, &both);
    for (plugin, version, secret, tag) in [
        ("rule", "1", &SECRET, "one"),
        ("rule", "2", &OTHER, "two"),
        ("rule", "3", &OTHER, "three"),
        ("solo", "1", &OTHER, "solo"),
    ] {
        let b = bundle_with(secret, plugin, version, &tagged(tag), None, &[]);
        assert_eq!(upload_bundle(&srv, plugin, &b).status, 201);
    }
    for (plugin, version) in [("rule", "1"), ("rule", "2"), ("solo", "1")] {
        assert_eq!(promote(&srv, plugin, version).status, 200);
    }
    let token = srv.tenant("acme", json!({"plugins": ["rule", "solo"]}));
    assert_eq!(srv.invoke(&token, "rule", "echo", b"").body, b"two");

    // OTHER is removed from `trusted_keys`.
    srv.restart_with(&format!("trusted_keys = [\"{}\"]\n", public_hex(&SECRET)));
    // The active version it signed is deactivated: the plugin falls back to the most recent
    // previous version that is still trusted, and the admin API says so.
    let r = srv.invoke(&token, "rule", "echo", b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"one"[..]));
    let state = plugin_state(&srv, "rule");
    assert_eq!(state["active"]["version"], "1", "{state}");
    assert_eq!(state["previous"], json!([]), "{state}");
    // A plugin with no trusted version left stops serving.
    assert_error(
        &srv.invoke(&token, "solo", "echo", b""),
        404,
        "unknown_plugin",
    );
    assert!(plugin_state(&srv, "solo")["active"].is_null());
    // Versions it signed can no longer be promoted or canaried.
    for version in ["2", "3"] {
        assert_error(&promote(&srv, "rule", version), 403, "untrusted_key");
    }
    assert_error(
        &srv.admin_json(
            "PUT",
            "/v1/admin/plugins/rule/canary",
            json!({"version": "3", "fraction": 0.5}),
        ),
        403,
        "untrusted_key",
    );
    assert_error(&promote(&srv, "solo", "1"), 403, "untrusted_key");
    assert_eq!(srv.invoke(&token, "rule", "echo", b"").body, b"one");
}

crate::on_both_backends!(
    a_smoke_test_belongs_to_its_version_not_to_the_first_upload_of_its_bytes,
    every_smoke_call_gets_a_fresh_kv_namespace,
    rollback_never_leaves_the_canary_equal_to_the_active_version,
    a_revoked_signer_no_longer_serves_or_promotes
);
