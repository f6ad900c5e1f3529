//! Retention: a plugin keeps its live versions (active, rollback targets, canary), the versions
//! calls are running, and its `keep_versions` newest uploads; the rest are deleted with their
//! module bytes. On both backends.

use serde_json::json;

use crate::common::*;

/// `spin` loops until its deadline.
const SPIN: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "spin") (param i32 i32) (result i32) (loop $l (br $l)) (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))"#;

fn listed(srv: &Srv, plugin: &str) -> Vec<String> {
    let r = srv.admin_req("GET", &format!("/v1/admin/plugins/{plugin}"), b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let mut v: Vec<String> = r.json()["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

fn ok(r: &Response) {
    assert!(
        r.status == 200 || r.status == 201,
        "{} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
}

fn promote(srv: &Srv, v: &str) -> Response {
    srv.admin_json(
        "POST",
        "/v1/admin/plugins/p/promote",
        json!({ "version": v }),
    )
}

fn upload(srv: &Srv, v: &str) -> String {
    let r = srv.upload("p", v, &tagged(&format!("v{v}")));
    ok(&r);
    r.json()["digest"].as_str().unwrap().to_owned()
}

fn download(srv: &Srv, digest: &str) -> u16 {
    srv.admin_req("GET", &format!("/v1/modules/{digest}"), b"")
        .status
}

fn keeps_live_and_newest_versions(backend: Backend) {
    let srv = Srv::start_on(backend, "keep_versions = 2\n");
    let mut digests = std::collections::HashMap::new();
    for v in ["1", "2"] {
        digests.insert(v, upload(&srv, v));
    }
    ok(&promote(&srv, "1"));
    ok(&promote(&srv, "2")); // active 2, rollback target 1
    for v in ["3", "4", "5", "6"] {
        digests.insert(v, upload(&srv, v));
    }
    // Newest two (5, 6) and the live ones (1, 2); 3 and 4 are gone, bytes and all.
    assert_eq!(listed(&srv, "p"), ["1", "2", "5", "6"]);
    assert_eq!(download(&srv, &digests["3"]), 404);
    assert_eq!(download(&srv, &digests["1"]), 200);
    if backend == Backend::Sqlite {
        let files = srv.module_files();
        assert!(!files.iter().any(|f| f.starts_with(&digests["3"])));
        assert!(files.iter().any(|f| f.starts_with(&digests["1"])));
    }

    let r = srv.admin_json(
        "PUT",
        "/v1/admin/plugins/p/canary",
        json!({"version": "5", "fraction": 0.5}),
    );
    ok(&r);
    for v in ["7", "8"] {
        digests.insert(v, upload(&srv, v));
    }
    // The canary stays though it is no longer among the newest.
    assert_eq!(listed(&srv, "p"), ["1", "2", "5", "7", "8"]);

    // A rollback drops 2 from the live set: the retention run it triggers deletes it.
    ok(&srv.admin_req("POST", "/v1/admin/plugins/p/rollback", b""));
    assert_eq!(listed(&srv, "p"), ["1", "5", "7", "8"]);
    let token = srv.tenant("acme", json!({"plugins": ["p"]}));
    let r = srv.invoke_with(&token, "p", "echo", b"", &[("x-palisade-key", "k")]);
    assert_eq!(r.status, 200);
    assert!(r.body == b"v1" || r.body == b"v5");
}

fn never_deletes_a_version_a_call_is_running(backend: Backend) {
    let mut srv = Srv::start_on(backend, "keep_versions = 1\nworkers = 2\n");
    ok(&srv.upload("p", "1", &tagged("one")));
    ok(&promote(&srv, "1"));
    ok(&srv.upload("p", "spin", &wat::parse_str(SPIN).unwrap()));
    ok(&promote(&srv, "spin"));
    let token = srv.tenant(
        "acme",
        json!({"plugins": ["p"], "limits": {"deadline_ms": 3000, "fuel": 18000000000000000000u64}}),
    );
    let spinning = {
        let (addr, token) = (srv.addr, token.clone());
        std::thread::spawn(move || {
            let auth = format!("Bearer {token}");
            Client::new(addr)
                .request(
                    "POST",
                    "/v1/plugins/p/spin",
                    &[("authorization", &auth)],
                    b"",
                )
                .unwrap()
        })
    };
    srv.wait_in_flight(1);
    // A newer upload, and a rollback from `spin` while its call runs: `spin` is neither live
    // nor the newest any more, but in flight.
    ok(&srv.upload("p", "3", &tagged("three")));
    ok(&srv.admin_req("POST", "/v1/admin/plugins/p/rollback", b""));
    assert_eq!(listed(&srv, "p"), ["1", "3", "spin"]);
    assert_error(&spinning.join().unwrap(), 422, "deadline_exceeded");
    // The call is over: the next retention run (any rollout change) deletes it.
    ok(&promote(&srv, "1"));
    assert_eq!(listed(&srv, "p"), ["1", "3"]);
    // A restart keeps what is left.
    srv.restart_with("keep_versions = 1\nworkers = 2\n");
    assert_eq!(listed(&srv, "p"), ["1", "3"]);
    assert_eq!(srv.invoke(&token, "p", "echo", b"").body, b"one");
}

crate::on_both_backends!(
    keeps_live_and_newest_versions,
    never_deletes_a_version_a_call_is_running
);
