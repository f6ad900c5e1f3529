//! Tokens: missing, wrong and other-tenant tokens are refused; tokens are stored hashed.

use serde_json::json;

use crate::common::*;

#[test]
fn missing_wrong_and_other_tenant_tokens_are_refused() {
    let srv = Srv::start();
    assert_eq!(srv.upload("echo", "1.0.0", &echo()).status, 201);
    let r = srv.admin_json(
        "POST",
        "/v1/admin/plugins/echo/promote",
        json!({"version": "1.0.0"}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let alice = srv.tenant("alice", json!({"plugins": ["echo"]}));
    let bob = srv.tenant("bob", json!({"plugins": []}));

    // Missing token: 401 on tenant and admin routes.
    let mut c = srv.client();
    let r = c
        .request("POST", "/v1/plugins/echo/echo", &[], b"x")
        .unwrap();
    assert_error(&r, 401, "unauthorized");
    let r = c.request("GET", "/v1/admin/plugins", &[], b"").unwrap();
    assert_error(&r, 401, "unauthorized");

    // Wrong tokens: a forged secret for a real tenant, garbage, and an unknown tenant.
    let forged = format!("{}0", &alice[..alice.len() - 1]);
    let forged = if forged == alice {
        format!("{}1", &alice[..alice.len() - 1])
    } else {
        forged
    };
    for bad in [forged.as_str(), "nonsense", "pt_mallory.00"] {
        assert_error(&srv.invoke(bad, "echo", "echo", b"x"), 401, "invalid_token");
    }

    // A tenant token is not an admin token.
    let auth = format!("Bearer {alice}");
    let r = c
        .request("GET", "/v1/admin/plugins", &[("authorization", &auth)], b"")
        .unwrap();
    assert_error(&r, 403, "forbidden");

    // Bob is a valid tenant but was not granted `echo`.
    assert_error(
        &srv.invoke(&bob, "echo", "echo", b"x"),
        403,
        "plugin_not_granted",
    );

    // Alice is, and the server kept serving through all of the above.
    let r = srv.invoke(&alice, "echo", "echo", b"hello");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));

    // Tokens are stored hashed: the database never contains them.
    let db = std::fs::read(srv.data_dir().join("palisade.db")).unwrap();
    let wal = std::fs::read(srv.data_dir().join("palisade.db-wal")).unwrap_or_default();
    for t in [&alice, &bob, &srv.admin] {
        let secret = t.rsplit(['.', '_']).next().unwrap().as_bytes();
        for file in [&db, &wal] {
            assert!(
                !file.windows(secret.len()).any(|w| w == secret),
                "token stored in clear"
            );
        }
    }
}

#[test]
fn tenants_see_only_their_own_kv_namespace() {
    let srv = Srv::start();
    let kv = json!({"grants": ["kv.read", "kv.write"]});
    let alice = srv.tenant("alice", kv.clone());
    let bob = srv.tenant("bob", kv);
    let mut c = srv.client();
    let a = format!("Bearer {alice}");
    let b = format!("Bearer {bob}");
    let r = c
        .request("PUT", "/v1/kv/secret", &[("authorization", &a)], b"alice's")
        .unwrap();
    assert_eq!(r.status, 204);
    let r = c
        .request("GET", "/v1/kv/secret", &[("authorization", &b)], b"")
        .unwrap();
    assert_error(&r, 404, "not_found");
    let r = c
        .request("DELETE", "/v1/kv/secret", &[("authorization", &b)], b"")
        .unwrap();
    assert_error(&r, 404, "not_found");
    let r = c
        .request("GET", "/v1/kv/secret", &[("authorization", &a)], b"")
        .unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"alice's"[..]));
    let r = c.request("GET", "/v1/kv/secret", &[], b"").unwrap();
    assert_error(&r, 401, "unauthorized");
}
