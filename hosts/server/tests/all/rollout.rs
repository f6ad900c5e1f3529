//! Upload -> promote -> canary -> rollback, end to end, surviving a clean restart.

use std::collections::HashMap;

use serde_json::json;

use crate::common::*;

fn digest_of(r: &Response) -> String {
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["digest"].as_str().unwrap().to_owned()
}

fn upload_promote_canary_rollback(backend: Backend) {
    let mut srv = Srv::start_on(backend, "");
    let d1 = digest_of(&srv.upload("greet", "1", &tagged("one")));
    let d2 = digest_of(&srv.upload("greet", "2", &tagged("two")));
    let d3 = digest_of(&srv.admin_req(
        "POST",
        "/v1/admin/plugins/greet/versions",
        &bundle("greet", "3", &tagged("three")),
    ));
    let token = srv.tenant("acme", json!({"plugins": ["greet"]}));

    // Uploaded but not promoted: nothing serves yet.
    assert_error(
        &srv.invoke(&token, "greet", "echo", b""),
        404,
        "unknown_plugin",
    );

    let promote = |v: &str| {
        srv.admin_json(
            "POST",
            "/v1/admin/plugins/greet/promote",
            json!({"version": v}),
        )
    };
    assert_eq!(promote("1").status, 200);
    let r = srv.invoke(&token, "greet", "echo", b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"one"[..]));
    assert_eq!(r.header("x-palisade-digest"), Some(d1.as_str()));
    assert_eq!(r.header("x-palisade-outcome"), Some("ok"));
    assert!(r.header("x-palisade-fuel").unwrap().parse::<u64>().unwrap() > 0);
    assert!(r.header("x-palisade-time-us").is_some());

    assert_eq!(promote("2").status, 200);
    assert_eq!(srv.invoke(&token, "greet", "echo", b"").body, b"two");

    // Canary: half the request keys go to version 3; a key always reaches the same version.
    let r = srv.admin_json(
        "PUT",
        "/v1/admin/plugins/greet/canary",
        json!({"version": "3", "fraction": 0.5}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let mut seen: HashMap<String, usize> = HashMap::new();
    for i in 0..64 {
        let key = format!("user-{i}");
        let r = srv.invoke_with(&token, "greet", "echo", b"", &[("x-palisade-key", &key)]);
        let again = srv.invoke_with(&token, "greet", "echo", b"", &[("x-palisade-key", &key)]);
        assert_eq!(r.body, again.body, "a key sticks to its version");
        let digest = r.header("x-palisade-digest").unwrap().to_owned();
        assert!(digest == d2 || digest == d3);
        *seen.entry(String::from_utf8(r.body).unwrap()).or_default() += 1;
    }
    assert!(seen["two"] >= 16 && seen["three"] >= 16, "split {seen:?}");
    assert_error(
        &srv.admin_json(
            "PUT",
            "/v1/admin/plugins/greet/canary",
            json!({"version": "3", "fraction": 1.5}),
        ),
        400,
        "bad_fraction",
    );

    // The rollout state survives a clean restart.
    assert!(srv.terminate().success());
    srv.spawn();
    let state = srv.admin_req("GET", "/v1/admin/plugins/greet", b"").json();
    assert_eq!(state["active"]["version"], "2");
    assert_eq!(state["canary"]["version"], "3");
    assert_eq!(state["previous"][0]["version"], "1");

    // Rollback: O(1) back to version 1; then nothing is left to roll back to.
    let r = srv.admin_req("POST", "/v1/admin/plugins/greet/rollback", b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = srv.admin_json("DELETE", "/v1/admin/plugins/greet/canary", json!({}));
    assert_eq!(r.status, 200);
    let r = srv.invoke_with(
        &token,
        "greet",
        "echo",
        b"",
        &[("x-palisade-key", "user-1")],
    );
    assert_eq!(
        (r.body.as_slice(), r.header("x-palisade-digest")),
        (&b"one"[..], Some(d1.as_str()))
    );
    assert_error(
        &srv.admin_req("POST", "/v1/admin/plugins/greet/rollback", b""),
        409,
        "no_previous_version",
    );
    assert_error(
        &srv.admin_json(
            "POST",
            "/v1/admin/plugins/greet/promote",
            json!({"version": "9"}),
        ),
        404,
        "unknown_version",
    );

    // Metrics carry plugin, tenant and digest.
    let m = srv.metrics();
    assert!(
        m.contains(&format!("palisade_calls_total{{plugin=\"greet\",tenant=\"acme\",digest=\"{d1}\",outcome=\"ok\"}}")),
        "{m}"
    );
}

crate::on_both_backends!(upload_promote_canary_rollback);
