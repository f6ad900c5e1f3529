//! Replicas: two server processes on loopback sharing one PostgreSQL database. Whatever one
//! acknowledges, the other serves within 1 s; limits are enforced per replica, KV quotas
//! across them.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::*;

/// How soon a change made on one replica must be served by the other.
const PROPAGATION: Duration = Duration::from_secs(1);

/// Polls `ok` every 5 ms until it holds; fails the test if that takes longer than `limit`.
/// Returns how long it took.
#[track_caller]
fn within(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if ok() {
            let took = start.elapsed();
            eprintln!("propagated in {:>4} ms: {what}", took.as_millis());
            return took;
        }
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn serves(srv: &Srv, token: &str, body: &[u8]) -> bool {
    let r = srv.invoke(token, "greet", "echo", b"");
    r.status == 200 && r.body == body
}

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
fn a_change_on_either_replica_is_served_by_the_other_within_a_second() {
    let url = fresh_database();
    let a = Srv::start_shared(&url, "", None);
    let b = Srv::start_shared(&url, "", Some(&a.admin));
    for (v, tag) in [("1", "one"), ("2", "two"), ("3", "three")] {
        assert_eq!(a.upload("greet", v, &tagged(tag)).status, 201);
    }
    // Both replicas list what A stored.
    let listed = b.admin_req("GET", "/v1/admin/plugins/greet", b"");
    assert_eq!(
        listed.status,
        200,
        "{}",
        String::from_utf8_lossy(&listed.body)
    );
    assert_eq!(listed.json()["versions"].as_array().unwrap().len(), 3);

    let token = a.tenant(
        "acme",
        json!({"plugins": ["greet"], "grants": ["kv.read", "kv.write"]}),
    );
    let mut worst = Duration::ZERO;
    // A tenant made on A can call B (404 until the plugin is promoted, 401 before).
    worst = worst.max(within(PROPAGATION, "tenant A -> B", || {
        b.invoke(&token, "greet", "echo", b"").status != 401
    }));

    let promote = |srv: &Srv, v: &str| {
        let r = srv.admin_json(
            "POST",
            "/v1/admin/plugins/greet/promote",
            json!({"version": v}),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    };
    promote(&a, "1");
    worst = worst.max(within(PROPAGATION, "promote on A, served by B", || {
        serves(&b, &token, b"one")
    }));
    promote(&b, "2");
    worst = worst.max(within(PROPAGATION, "promote on B, served by A", || {
        serves(&a, &token, b"two")
    }));
    let r = b.admin_json(
        "PUT",
        "/v1/admin/plugins/greet/canary",
        json!({"version": "3", "fraction": 1.0}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    worst = worst.max(within(PROPAGATION, "canary on B, served by A", || {
        serves(&a, &token, b"three")
    }));
    assert_eq!(
        a.admin_req("DELETE", "/v1/admin/plugins/greet/canary", b"")
            .status,
        200
    );
    worst = worst.max(within(
        PROPAGATION,
        "canary cleared on A, seen by B",
        || serves(&b, &token, b"two"),
    ));
    assert_eq!(
        b.admin_req("POST", "/v1/admin/plugins/greet/rollback", b"")
            .status,
        200
    );
    worst = worst.max(within(PROPAGATION, "rollback on B, served by A", || {
        serves(&a, &token, b"one")
    }));
    // Both replicas report the same state.
    let state = |srv: &Srv| srv.admin_req("GET", "/v1/admin/plugins/greet", b"").json();
    assert_eq!(state(&a)["active"], state(&b)["active"]);
    assert_eq!(state(&a)["active"]["version"], "1");

    // Tenant KV written through A is read through B, at once (one database).
    assert_eq!(kv(&a, &token, "PUT", "colour", b"green").status, 204);
    let r = kv(&b, &token, "GET", "colour", b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"green"[..]));
    eprintln!("slowest propagation: {} ms", worst.as_millis());

    // Each replica compiled each digest it serves once, whatever the number of changes.
    for srv in [&a, &b] {
        let m = srv.metrics();
        let compiles: Vec<&str> = m
            .lines()
            .filter(|l| l.starts_with("palisade_compiles_total{"))
            .collect();
        assert!(
            compiles.iter().all(|l| l.ends_with(" 1")),
            "a digest compiled twice: {compiles:?}"
        );
    }
}

#[test]
fn rate_limits_are_per_replica_and_kv_quotas_are_shared() {
    let url = fresh_database();
    let a = Srv::start_shared(&url, "", None);
    let b = Srv::start_shared(&url, "", Some(&a.admin));
    assert_eq!(a.upload("greet", "1", &tagged("one")).status, 201);
    let r = a.admin_json(
        "POST",
        "/v1/admin/plugins/greet/promote",
        json!({"version": "1"}),
    );
    assert_eq!(r.status, 200);
    let token = a.tenant(
        "acme",
        json!({"plugins": ["greet"], "grants": ["kv.read", "kv.write"],
               "limits": {"calls_per_second": 1, "burst": 2, "kv_quota_bytes": 100}}),
    );
    // Wait for B to know the tenant without spending its tokens: a plugin the tenant may not
    // call is refused (403) before the rate check. The tenant was made after the promotion,
    // so a B that knows it serves the promoted version too.
    within(PROPAGATION, "tenant A -> B", || {
        b.invoke(&token, "other", "echo", b"").status == 403
    });
    // Each replica has its own bucket of `burst` tokens: both serve a burst.
    for srv in [&a, &b] {
        let start = Instant::now();
        let ok = (0..4).filter(|_| serves(srv, &token, b"one")).count();
        let refilled = usize::try_from(start.elapsed().as_secs()).unwrap() + 1;
        assert!(
            (2..=2 + refilled).contains(&ok),
            "{ok} of 4 calls served in {:?}",
            start.elapsed()
        );
    }
    // The KV quota counts the tenant's bytes in the database: 60 through A and 60 through B
    // do not fit in 100. (The rate bucket refills at 1/s; wait for a token, bounded.)
    let put = |srv: &Srv, key: &str| {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = kv(srv, &token, "PUT", key, &[b'x'; 59]);
            if r.status != 429 || Instant::now() > deadline {
                return r;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert_eq!(put(&a, "k").status, 204);
    assert_error(&put(&b, "j"), 507, "kv_quota");
}

#[test]
fn a_replica_killed_mid_upload_restarts_consistent_while_the_other_serves() {
    let url = fresh_database();
    // Every acknowledged version must stay listed: retention is kept out of the way.
    let keep = "keep_versions = 100000\n";
    let mut a = Srv::start_shared(&url, keep, None);
    let b = Srv::start_shared(&url, keep, Some(&a.admin));
    assert_eq!(a.upload("greet", "1", &tagged("one")).status, 201);
    let r = a.admin_json(
        "POST",
        "/v1/admin/plugins/greet/promote",
        json!({"version": "1"}),
    );
    assert_eq!(r.status, 200);
    let token = a.tenant("acme", json!({"plugins": ["greet"]}));
    within(PROPAGATION, "promotion A -> B", || {
        serves(&b, &token, b"one")
    });

    // Uploads on A, killed with SIGKILL while they go on.
    let (addr, admin) = (a.addr, a.admin.clone());
    let uploader = std::thread::spawn(move || {
        let auth = format!("Bearer {admin}");
        let mut c = Client::new(addr);
        let mut acked = 0;
        for i in 2.. {
            let path = format!("/v1/admin/plugins/greet/versions?version={i}");
            match c.request(
                "POST",
                &path,
                &[("authorization", &auth)],
                &tagged(&format!("v{i}")),
            ) {
                Ok(r) if r.status == 201 => acked += 1,
                _ => return acked,
            }
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(150));
    a.kill();
    let acked = uploader.join().unwrap();
    assert!(serves(&b, &token, b"one"), "B serves while A is down");

    a.spawn();
    assert!(serves(&a, &token, b"one"), "A restarts with the live set");
    let versions = |srv: &Srv| {
        srv.admin_req("GET", "/v1/admin/plugins/greet", b"").json()["versions"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(versions(&a), versions(&b));
    assert!(versions(&a) > acked, "every acknowledged upload is listed");
    // And a promotion on the restarted A reaches B.
    let r = a.admin_json(
        "POST",
        "/v1/admin/plugins/greet/promote",
        json!({"version": "2"}),
    );
    if acked > 0 {
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        within(PROPAGATION, "promotion on restarted A -> B", || {
            serves(&b, &token, b"v2")
        });
    }
}

#[test]
fn an_unreachable_database_is_a_clear_error_at_start() {
    let dir = std::env::temp_dir().join(format!("palisade-pg-unreachable-{}", std::process::id()));
    let mut config = palisade_server::config::Config {
        data_dir: dir.clone(),
        database: Some("postgres://palisade:hunter2@127.0.0.1:1/none".into()),
        ..Default::default()
    };
    let e = palisade_server::Server::open(config.clone()).err().unwrap();
    assert!(e.starts_with("database: connect"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
    config.database = Some("postgres://palisade@127.0.0.1:port/none".into());
    let e = palisade_server::Server::open(config).err().unwrap();
    assert!(
        e.contains("`database`") && e.contains("postgres://USER"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
