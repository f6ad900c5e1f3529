//! Execution: limits from the tenant, admission caps with 429 + Retry-After, health, metrics,
//! and graceful shutdown that drains in-flight calls.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::*;

const HOSTILE: &str = r#"(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "spin") (param i32 i32) (result i32) (loop $l (br $l)) (i32.const 0))
  (func (export "grow") (param i32 i32) (result i32)
    (if (i32.eq (memory.grow (i32.const 1000)) (i32.const -1)) (then unreachable))
    (i32.const 0))
  (func (export "echo") (param i32 i32) (result i32)
    (call $output (local.get 0) (local.get 1)) (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))"#;

fn setup(srv: &Srv) {
    assert_eq!(
        srv.upload("h", "1", &wat::parse_str(HOSTILE).unwrap())
            .status,
        201
    );
    let r = srv.admin_json(
        "POST",
        "/v1/admin/plugins/h/promote",
        json!({"version": "1"}),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn tenant_limits_bound_every_call_and_the_server_keeps_serving() {
    let srv = Srv::start();
    setup(&srv);
    let token = srv.tenant(
        "t",
        json!({"plugins": ["h"], "limits": {"deadline_ms": 30, "fuel": 1000000000000u64, "memory_bytes": 131072, "input_bytes": 16}}),
    );
    let started = Instant::now();
    let r = srv.invoke(&token, "h", "spin", b"");
    assert_error(&r, 422, "deadline_exceeded");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(r.header("x-palisade-outcome"), Some("deadline_exceeded"));

    let fuel = srv.tenant(
        "f",
        json!({"plugins": ["h"], "limits": {"fuel": 100000, "deadline_ms": 5000}}),
    );
    assert_error(&srv.invoke(&fuel, "h", "spin", b""), 422, "out_of_fuel");

    assert_error(&srv.invoke(&token, "h", "grow", b""), 422, "memory_cap");
    assert_error(
        &srv.invoke(&token, "h", "echo", &[0; 17]),
        413,
        "input_too_large",
    );
    assert_error(&srv.invoke(&token, "h", "nope", b""), 404, "no_such_entry");
    let r = srv.invoke(&token, "h", "echo", b"still here");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"still here"[..]));

    let mut c = srv.client();
    let health = c.request("GET", "/healthz", &[], b"").unwrap();
    assert_eq!(
        (health.status, health.json()["status"].as_str()),
        (200, Some("ok"))
    );
    let m = srv.metrics();
    for needle in [
        "palisade_deadline_trips_total{plugin=\"h\",tenant=\"t\"",
        "palisade_memory_cap_hits_total{plugin=\"h\",tenant=\"t\"",
        "palisade_call_latency_microseconds_bucket{plugin=\"h\",tenant=\"t\"",
        "outcome=\"out_of_fuel\"} 1",
        "palisade_compiles_total{plugin=\"h\"",
    ] {
        assert!(m.contains(needle), "{needle} missing from\n{m}");
    }
    let line = m
        .lines()
        .find(|l| l.starts_with("palisade_deadline_trips_total{plugin=\"h\",tenant=\"t\""))
        .unwrap();
    assert!(line.ends_with(" 1"), "{line}");
    let line = m
        .lines()
        .find(|l| l.starts_with("palisade_memory_cap_hits_total{plugin=\"h\",tenant=\"t\""))
        .unwrap();
    assert!(line.ends_with(" 1"), "{line}");
}

#[test]
fn over_quota_requests_get_429_with_retry_after() {
    let srv = Srv::start();
    setup(&srv);
    let slow = srv.tenant(
        "slow",
        json!({"plugins": ["h"], "limits": {"calls_per_second": 1, "burst": 2}}),
    );
    assert_eq!(srv.invoke(&slow, "h", "echo", b"a").status, 200);
    assert_eq!(srv.invoke(&slow, "h", "echo", b"b").status, 200);
    let r = srv.invoke(&slow, "h", "echo", b"c");
    assert_error(&r, 429, "rate_limited");
    assert_eq!(r.header("retry-after"), Some("1"));

    // One call in flight is this tenant's cap: a second concurrent one is refused.
    let busy = srv.tenant("busy", json!({"plugins": ["h"], "limits": {"deadline_ms": 800, "fuel": 1000000000000u64, "max_concurrency": 1}}));
    let (addr, t) = (srv.addr, busy.clone());
    let long = std::thread::spawn(move || {
        let auth = format!("Bearer {t}");
        Client::new(addr)
            .request(
                "POST",
                "/v1/plugins/h/spin",
                &[("authorization", &auth)],
                b"",
            )
            .unwrap()
    });
    srv.wait_in_flight(1);
    let r = srv.invoke(&busy, "h", "echo", b"x");
    assert_error(&r, 429, "tenant_busy");
    assert!(r.header("retry-after").is_some());
    // Another tenant is not affected.
    let other = srv.tenant("other", json!({"plugins": ["h"]}));
    assert_eq!(srv.invoke(&other, "h", "echo", b"x").status, 200);
    assert_error(&long.join().unwrap(), 422, "deadline_exceeded");
    let m = srv.metrics();
    assert!(
        m.contains("palisade_refused_total{tenant=\"busy\",reason=\"tenant_busy\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("palisade_refused_total{tenant=\"slow\",reason=\"rate_limited\"} 1"),
        "{m}"
    );
}

#[test]
fn sigterm_drains_in_flight_calls() {
    let mut srv = Srv::start();
    setup(&srv);
    let t = srv.tenant(
        "t",
        json!({"plugins": ["h"], "limits": {"deadline_ms": 1000, "fuel": 1000000000000u64}}),
    );
    let addr = srv.addr;
    let tok = t.clone();
    let inflight = std::thread::spawn(move || {
        let auth = format!("Bearer {tok}");
        Client::new(addr).request(
            "POST",
            "/v1/plugins/h/spin",
            &[("authorization", &auth)],
            b"",
        )
    });
    srv.wait_in_flight(1);
    let status = srv.terminate();
    assert!(status.success(), "clean exit: {status}");
    // The call that was running when SIGTERM arrived still got its full answer.
    let r = inflight.join().unwrap().unwrap();
    assert_error(&r, 422, "deadline_exceeded");
    // Everything acknowledged is there after a restart.
    srv.spawn();
    assert_eq!(srv.invoke(&t, "h", "echo", b"back").body, b"back");
}
