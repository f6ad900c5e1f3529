//! The `/v1/kv` routes obey the tenant's `kv.*` grants and its rate limit.

use serde_json::json;

use crate::common::*;

fn kv(srv: &Srv, token: &str, method: &str, key: &str, body: &[u8]) -> Response {
    let auth = format!("Bearer {token}");
    srv.client()
        .request(
            method,
            &format!("/v1/kv/{key}"),
            &[("authorization", &auth)],
            body,
        )
        .unwrap()
}

#[test]
fn kv_routes_need_the_kv_grants() {
    let srv = Srv::start();
    let none = srv.tenant("none", json!({}));
    let reader = srv.tenant("reader", json!({"grants": ["kv.read"]}));
    let writer = srv.tenant("writer", json!({"grants": ["kv.write"]}));

    for (method, body) in [("PUT", &b"v"[..]), ("DELETE", b"")] {
        for t in [&none, &reader] {
            let r = kv(&srv, t, method, "k", body);
            assert_error(&r, 403, "capability_denied");
            assert!(
                r.json()["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("kv.write")
            );
        }
    }
    for t in [&none, &writer] {
        let r = kv(&srv, t, "GET", "k", b"");
        assert_error(&r, 403, "capability_denied");
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("kv.read")
        );
    }
    // Granted requests work (each tenant in its own namespace).
    assert_eq!(kv(&srv, &writer, "PUT", "k", b"v").status, 204);
    assert_eq!(kv(&srv, &writer, "DELETE", "k", b"").status, 204);
    assert_error(&kv(&srv, &reader, "GET", "k", b""), 404, "not_found");
}

#[test]
fn kv_routes_count_against_the_rate_limit() {
    let srv = Srv::start();
    let t = srv.tenant(
        "t",
        json!({"grants": ["kv.read", "kv.write"], "limits": {"calls_per_second": 1, "burst": 2}}),
    );
    assert_eq!(kv(&srv, &t, "PUT", "k", b"v").status, 204);
    assert_eq!(kv(&srv, &t, "GET", "k", b"").status, 200);
    let r = kv(&srv, &t, "PUT", "k", b"w");
    assert_error(&r, 429, "rate_limited");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_error(&kv(&srv, &t, "GET", "k", b""), 429, "rate_limited");
    // The refused write did not happen; another tenant is not affected.
    let other = srv.tenant("other", json!({"grants": ["kv.read"]}));
    assert_error(&kv(&srv, &other, "GET", "k", b""), 404, "not_found");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = kv(&srv, &t, "GET", "k", b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"v"[..]));
}
