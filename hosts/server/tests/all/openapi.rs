//! `GET /v1/openapi.json`: the API's OpenAPI description covers every route with its auth and
//! its error answers, and the answers the server gives match it.

use serde_json::{Value, json};

use crate::common::*;

/// Every route of `http::router`, with the security scheme it takes (`None`: public).
const ROUTES: &[(&str, &str, Option<&str>)] = &[
    ("get", "/healthz", None),
    ("get", "/metrics", Some("admin_token")),
    ("get", "/v1/openapi.json", None),
    ("get", "/v1/modules/{digest}", Some("tenant_token")),
    ("post", "/v1/plugins/{plugin}/{entry}", Some("tenant_token")),
    ("get", "/v1/kv/{key}", Some("tenant_token")),
    ("put", "/v1/kv/{key}", Some("tenant_token")),
    ("delete", "/v1/kv/{key}", Some("tenant_token")),
    ("get", "/v1/admin/plugins", Some("admin_token")),
    ("get", "/v1/admin/plugins/{plugin}", Some("admin_token")),
    (
        "post",
        "/v1/admin/plugins/{plugin}/versions",
        Some("admin_token"),
    ),
    (
        "post",
        "/v1/admin/plugins/{plugin}/promote",
        Some("admin_token"),
    ),
    (
        "put",
        "/v1/admin/plugins/{plugin}/canary",
        Some("admin_token"),
    ),
    (
        "delete",
        "/v1/admin/plugins/{plugin}/canary",
        Some("admin_token"),
    ),
    (
        "post",
        "/v1/admin/plugins/{plugin}/rollback",
        Some("admin_token"),
    ),
    ("put", "/v1/admin/tenants/{tenant}", Some("admin_token")),
    ("get", "/v1/admin/tenants", Some("admin_token")),
    ("post", "/v1/admin/token/rotate", Some("admin_token")),
];

fn spec(srv: &Srv) -> Value {
    let r = srv
        .client()
        .request("GET", "/v1/openapi.json", &[], b"")
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.json()
}

#[test]
fn the_description_covers_every_route_with_its_auth_and_errors() {
    let srv = Srv::start();
    let spec = spec(&srv);
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        spec["openapi"]
    );
    let paths = spec["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        ROUTES.len(),
        "a route is missing from ROUTES or the description"
    );
    for (method, path, scheme) in ROUTES {
        let op = &spec["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not described");
        let security = op["security"].as_array().cloned().unwrap_or_default();
        match scheme {
            Some(s) => {
                assert!(
                    security.iter().any(|r| r.get(*s).is_some()),
                    "{method} {path} takes {s}: {security:?}"
                );
                let unauthorized = &op["responses"]["401"]["content"]["application/json"]["schema"];
                assert_eq!(
                    unauthorized["$ref"], "#/components/schemas/ErrorBody",
                    "{method} {path}"
                );
            }
            None => assert!(security.is_empty(), "{method} {path} is public"),
        }
        for status in ["431", "500", "503"] {
            assert!(
                op["responses"][status].is_object(),
                "{method} {path} lacks {status}"
            );
        }
    }
    // Admin routes never accept a tenant token, and tenant routes never the admin's.
    for (method, path, scheme) in ROUTES {
        let schemes: Vec<String> = spec["paths"][path][method]["security"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r.as_object().unwrap().keys().cloned())
            .collect();
        if path.starts_with("/v1/admin") {
            assert_eq!(schemes, ["admin_token"], "{method} {path}");
        }
        if *scheme == Some("tenant_token") && !path.starts_with("/v1/modules") {
            assert_eq!(schemes, ["tenant_token"], "{method} {path}");
        }
    }
    let bearer = &spec["components"]["securitySchemes"]["admin_token"];
    assert_eq!(
        bearer,
        &json!({"type": "http", "scheme": "bearer", "description": bearer["description"]})
    );
    let error = &spec["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], json!(["error"]));
}

#[test]
fn the_description_needs_no_token_and_is_stable() {
    let srv = Srv::start();
    let a = spec(&srv);
    let b = spec(&srv);
    assert_eq!(a, b);
    // A token that is sent is not checked here: the description is public.
    let r = srv
        .client()
        .request(
            "GET",
            "/v1/openapi.json",
            &[("authorization", "Bearer nope")],
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 200);
}

/// Found by schemathesis (`negative_data_rejection`): the description said `int32` for `u32`
/// limits (the server took 2^31), and required the input and KV bodies (empty ones are valid).
#[test]
fn the_description_states_the_ranges_and_bodies_the_server_takes() {
    let srv = Srv::start();
    let spec = spec(&srv);
    let limits = &spec["components"]["schemas"]["TenantLimits"]["properties"];
    assert_eq!(
        limits["log_lines_per_second"]["format"], "u-int32",
        "{limits}"
    );
    assert_eq!(limits["fuel"]["format"], "u-int64", "{limits}");
    let tenant = srv.tenant(
        "wide",
        json!({"limits": {"log_lines_per_second": 4_000_000_000_u32}}),
    );
    assert!(tenant.starts_with("pt_wide."));
    for (method, path) in [
        ("post", "/v1/plugins/{plugin}/{entry}"),
        ("put", "/v1/kv/{key}"),
    ] {
        let body = &spec["paths"][path][method]["requestBody"];
        assert_ne!(body["required"], true, "{method} {path}: {body}");
    }
    let body = &spec["paths"]["/v1/admin/plugins/{plugin}/versions"]["post"]["requestBody"];
    assert_eq!(body["required"], true, "{body}");
}
