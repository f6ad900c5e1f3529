//! What an operator meets: metrics auth, which downloads are public, JSON for every error,
//! tenant PUT semantics, limit ranges, conditional downloads, setup messages.

use std::io::{Read as _, Write as _};

use serde_json::json;

use crate::common::*;

const METRICS_TOKEN: &str = "metrics-0123456789abcdef0123456789abcdef";

fn digest_of(r: &Response) -> String {
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["digest"].as_str().unwrap().to_owned()
}

fn get(srv: &Srv, path: &str, headers: &[(&str, &str)]) -> Response {
    srv.client().request("GET", path, headers, b"").unwrap()
}

#[test]
fn metrics_need_the_admin_or_the_metrics_token() {
    let srv = Srv::start_with(&format!("metrics_token = \"{METRICS_TOKEN}\"\n"));
    let tenant = srv.tenant("acme", json!({}));
    assert_error(&get(&srv, "/metrics", &[]), 401, "unauthorized");
    let as_tenant = format!("Bearer {tenant}");
    assert_error(
        &get(&srv, "/metrics", &[("authorization", &as_tenant)]),
        403,
        "forbidden",
    );
    let bearer = format!("Bearer {METRICS_TOKEN}");
    let r = get(&srv, "/metrics", &[("authorization", &bearer)]);
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("palisade_workers 2"));
    // The metrics token is good for nothing else.
    let r = srv
        .client()
        .request(
            "GET",
            "/v1/admin/plugins",
            &[("authorization", &bearer)],
            b"",
        )
        .unwrap();
    assert_error(&r, 403, "forbidden");
    assert!(srv.metrics().contains("palisade_workers 2"));
}

#[test]
fn public_downloads_serve_released_versions_only() {
    let srv = Srv::start();
    let d1 = digest_of(&srv.upload("p", "1", &tagged("one")));
    let d2 = digest_of(&srv.upload("p", "2", &tagged("two")));
    let promote =
        |v: &str| srv.admin_json("POST", "/v1/admin/plugins/p/promote", json!({"version": v}));
    assert_eq!(promote("1").status, 200);
    let tenant = srv.tenant("acme", json!({}));

    assert_eq!(get(&srv, &format!("/v1/modules/{d1}"), &[]).status, 200);
    // Never promoted: its digest is no secret (admin API, headers), so no public download.
    let staged = format!("/v1/modules/{d2}");
    assert_error(&get(&srv, &staged, &[]), 404, "not_found");
    let admin = format!("Bearer {}", srv.admin);
    assert_eq!(get(&srv, &staged, &[("authorization", &admin)]).status, 200);
    let as_tenant = format!("Bearer {tenant}");
    assert_eq!(
        get(&srv, &staged, &[("authorization", &as_tenant)]).status,
        200
    );
    assert_error(
        &get(&srv, &staged, &[("authorization", "Bearer pt_acme.00")]),
        401,
        "invalid_token",
    );
    // Released (and kept as previous once replaced): public.
    assert_eq!(promote("2").status, 200);
    assert_eq!(get(&srv, &staged, &[]).status, 200);
    assert_eq!(get(&srv, &format!("/v1/modules/{d1}"), &[]).status, 200);
}

#[test]
fn if_none_match_uses_weak_comparison() {
    let srv = Srv::start();
    let d = digest_of(&srv.upload("p", "1", &tagged("one")));
    let promoted = srv.admin_json(
        "POST",
        "/v1/admin/plugins/p/promote",
        json!({"version": "1"}),
    );
    assert_eq!(promoted.status, 200);
    let path = format!("/v1/modules/{d}");
    for matching in [
        format!("\"{d}\""),
        format!("W/\"{d}\""),
        format!("\"other\", W/\"{d}\""),
        "*".to_owned(),
    ] {
        let r = get(&srv, &path, &[("if-none-match", &matching)]);
        assert_eq!((r.status, r.body.len()), (304, 0), "{matching}");
    }
    for other in ["\"other\"", "W/\"other\""] {
        assert_eq!(get(&srv, &path, &[("if-none-match", other)]).status, 200);
    }
}

#[test]
fn every_error_is_json() {
    let srv = Srv::start();
    let admin = format!("Bearer {}", srv.admin);
    let mut c = srv.client();
    // The router's 405, with `Allow` kept.
    let r = c
        .request(
            "DELETE",
            "/v1/admin/plugins",
            &[("authorization", &admin)],
            b"",
        )
        .unwrap();
    assert_error(&r, 405, "method_not_allowed");
    assert!(r.header("allow").is_some_and(|a| a.contains("GET")));
    // An extractor rejection (a path segment that is not UTF-8).
    let r = c
        .request(
            "POST",
            "/v1/plugins/%FF/echo",
            &[("authorization", &admin)],
            b"",
        )
        .unwrap();
    assert_error(&r, 400, "bad_request");
    // A header section over the cap.
    let big = "x".repeat(40 << 10);
    let r = c
        .request("GET", "/healthz", &[("x-big", &big)], b"")
        .unwrap();
    assert_error(&r, 431, "headers_too_large");
    // The server still serves.
    assert_eq!(
        srv.client()
            .request("GET", "/healthz", &[], b"")
            .unwrap()
            .status,
        200
    );
}

#[test]
fn a_truncated_body_is_a_400_not_a_413() {
    let srv = Srv::start();
    let mut s = std::net::TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /v1/admin/plugins/p/versions?version=1 HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-length: 1000\r\n\r\n",
        srv.admin
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(b"\0asm\x01\0\0\0").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"truncated_body\""), "{answer}");
    assert_eq!(
        srv.client()
            .request("GET", "/healthz", &[], b"")
            .unwrap()
            .status,
        200
    );
}

#[test]
fn tenant_put_keeps_what_it_does_not_name() {
    let srv = Srv::start();
    let token = srv.tenant(
        "acme",
        json!({"plugins": ["p"], "grants": ["log"], "limits": {"fuel": 5000, "max_concurrency": 3}}),
    );
    let r = srv.admin_json(
        "PUT",
        "/v1/admin/tenants/acme",
        json!({"limits": {"deadline_ms": 50}}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["token"].is_null(), "the token is kept");
    let tenants = srv.admin_req("GET", "/v1/admin/tenants", b"").json();
    let config = &tenants["tenants"][0]["config"];
    assert_eq!(config["plugins"], json!(["p"]), "{config}");
    assert_eq!(config["grants"], json!(["log"]), "{config}");
    assert_eq!(config["limits"]["fuel"], 5000, "{config}");
    assert_eq!(config["limits"]["max_concurrency"], 3, "{config}");
    assert_eq!(config["limits"]["deadline_ms"], 50, "{config}");
    // A field it names replaces the old value; an unknown field is refused by name.
    let r = srv.admin_json("PUT", "/v1/admin/tenants/acme", json!({"plugins": []}));
    assert_eq!(r.status, 200);
    assert_error(
        &srv.invoke(&token, "p", "echo", b""),
        403,
        "plugin_not_granted",
    );
    let r = srv.admin_json("PUT", "/v1/admin/tenants/acme", json!({"plugin": ["p"]}));
    assert_error(&r, 400, "bad_json");
    assert!(String::from_utf8_lossy(&r.body).contains("plugin"));
}

#[test]
fn limits_out_of_range_are_refused_with_the_field_and_range() {
    let srv = Srv::start();
    for (field, value, range) in [
        ("max_concurrency", 0u64, "1..=65536"),
        ("fuel", 0, "1..="),
        ("deadline_ms", 0, "1..=600000"),
        ("deadline_ms", 600_001, "1..=600000"),
        ("memory_bytes", 0, "1..="),
        ("burst", 0, "1..="),
    ] {
        let r = srv.admin_json(
            "PUT",
            "/v1/admin/tenants/acme",
            json!({"limits": {field: value}}),
        );
        assert_error(&r, 400, "bad_limit");
        let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains(&format!("limits.{field}")) && message.contains(range),
            "{message}"
        );
    }
    let tenants = srv.admin_req("GET", "/v1/admin/tenants", b"").json();
    assert_eq!(tenants["tenants"], json!([]), "nothing was stored");
    let r = srv.admin_json(
        "PUT",
        "/v1/admin/tenants/acme",
        json!({"limits": {"max_concurrency": 2}}),
    );
    assert_eq!(r.status, 201);
}

#[test]
fn a_promote_naming_a_version_and_another_digest_is_refused() {
    let srv = Srv::start();
    let d1 = digest_of(&srv.upload("p", "1", &tagged("one")));
    let d2 = digest_of(&srv.upload("p", "2", &tagged("two")));
    let r = srv.admin_json(
        "POST",
        "/v1/admin/plugins/p/promote",
        json!({"version": "1", "digest": d2}),
    );
    assert_error(&r, 409, "version_digest_mismatch");
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains(&d1) && message.contains(&d2), "{message}");
    let state = srv.admin_req("GET", "/v1/admin/plugins/p", b"").json();
    assert!(state["active"].is_null(), "nothing was promoted: {state}");
    let r = srv.admin_json(
        "POST",
        "/v1/admin/plugins/p/promote",
        json!({"version": "1", "digest": d1}),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn the_zero_setup_upload_errors_say_what_to_do() {
    let srv = Srv::start_with("allow_unsigned = false\ntrusted_keys = []\n");
    let r = srv.upload("p", "1", &tagged("one"));
    assert_error(&r, 400, "signature_required");
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("palisade pack")
            && message.contains("--key")
            && !message.contains("--sign"),
        "{message}"
    );
    let r = srv.admin_req(
        "POST",
        "/v1/admin/plugins/p/versions",
        &bundle("p", "1", &tagged("one")),
    );
    assert_error(&r, 403, "untrusted_key");
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("trusted_keys") && message.contains("palisade keygen"),
        "{message}"
    );
}
