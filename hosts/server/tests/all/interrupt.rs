//! Calls are interrupted when their client goes away or the shutdown grace time ends, and
//! the in-flight gauge counts every call a worker runs.

use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::*;

const LOOP: &str = r#"(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "spin") (param i32 i32) (result i32) (loop $l (br $l)) (i32.const 0))
  (func (export "echo") (param i32 i32) (result i32)
    (call $output (local.get 0) (local.get 1)) (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))"#;

/// Uploads the looping guest and creates a tenant whose calls loop for 10 minutes.
fn setup(srv: &Srv) -> String {
    assert_eq!(
        srv.upload("h", "1", &wat::parse_str(LOOP).unwrap()).status,
        201
    );
    let r = srv.admin_json(
        "POST",
        "/v1/admin/plugins/h/promote",
        json!({"version": "1"}),
    );
    assert_eq!(r.status, 200);
    srv.tenant(
        "t",
        json!({"plugins": ["h"], "limits": {"deadline_ms": 600000, "fuel": 18000000000000000000u64, "max_concurrency": 2}}),
    )
}

#[test]
fn a_call_whose_client_disconnects_frees_its_worker() {
    let srv = Srv::start_with("workers = 1\n");
    let t = setup(&srv);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    write!(
        s,
        "POST /v1/plugins/h/spin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    srv.wait_in_flight(1);
    // The one worker is running the loop: health says so.
    let h = srv.client().request("GET", "/healthz", &[], b"").unwrap();
    assert_eq!(
        (
            h.status,
            h.json()["status"].as_str(),
            h.json()["busy_workers"].as_u64()
        ),
        (200, Some("busy"), Some(1))
    );
    drop(s);
    // The worker stops the call at its next fuel slice and the gauge drops back to 0...
    srv.wait_in_flight(0);
    // ...and the one worker serves the next call.
    let r = srv.invoke(&t, "h", "echo", b"next");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"next"[..]));
    let m = srv.metrics();
    assert!(
        m.lines().any(
            |l| l.starts_with("palisade_calls_total{plugin=\"h\",tenant=\"t\"")
                && l.contains("outcome=\"interrupted\"} 1")
        ),
        "{m}"
    );
    let h = srv.client().request("GET", "/healthz", &[], b"").unwrap();
    assert_eq!(h.json()["status"], "ok");
}

#[test]
fn shutdown_with_a_looping_call_ends_within_the_grace_time() {
    let mut srv = Srv::start_with("shutdown_grace_ms = 1000\n");
    let t = setup(&srv);
    let (addr, tok) = (srv.addr, t.clone());
    let looping = std::thread::spawn(move || {
        let auth = format!("Bearer {tok}");
        Client::new(addr).request(
            "POST",
            "/v1/plugins/h/spin",
            &[("authorization", &auth)],
            b"",
        )
    });
    srv.wait_in_flight(1);
    let started = Instant::now();
    let killed = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(srv.pid().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let Some(status) = srv.wait_exit_within(Duration::from_secs(20)) else {
        panic!("the server did not exit after its grace time (the call's deadline is 10 min)");
    };
    assert!(status.success(), "{status}");
    // Grace 1 s + at most the 1 s the interrupted calls get to answer; a generous bound.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    // The looping call's client got a clear answer.
    let r = looping.join().unwrap().unwrap();
    assert_error(&r, 503, "interrupted");
    assert_eq!(r.header("x-palisade-outcome"), Some("interrupted"));
}

#[test]
fn a_looping_start_function_ends_at_the_deadline_and_the_workers_stay_free() {
    let srv = Srv::start();
    let start_loop = wat::parse_str(
        r#"(module
  (memory (export "memory") 1)
  (func $start (loop $l (br $l)))
  (start $start)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "run") (param i32 i32) (result i32) (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))"#,
    )
    .unwrap();
    assert_eq!(srv.upload("s", "1", &start_loop).status, 201);
    let r = srv.admin_json(
        "POST",
        "/v1/admin/plugins/s/promote",
        json!({"version": "1"}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(srv.upload("echo", "1", &echo()).status, 201);
    let r = srv.admin_json(
        "POST",
        "/v1/admin/plugins/echo/promote",
        json!({"version": "1"}),
    );
    assert_eq!(r.status, 200);
    let t = srv.tenant(
        "t",
        json!({"plugins": ["s", "echo"], "limits": {"deadline_ms": 50, "fuel": 18000000000000000000u64, "max_concurrency": 2}}),
    );
    // Two calls at once, one per worker, as in the report: both end at their deadline.
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let (addr, tok) = (srv.addr, t.clone());
            std::thread::spawn(move || {
                let auth = format!("Bearer {tok}");
                Client::new(addr)
                    .request(
                        "POST",
                        "/v1/plugins/s/run",
                        &[("authorization", &auth)],
                        b"",
                    )
                    .unwrap()
            })
        })
        .collect();
    for c in calls {
        assert_error(&c.join().unwrap(), 422, "deadline_exceeded");
    }
    srv.wait_in_flight(0);
    let r = srv.invoke(&t, "echo", "echo", b"free");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"free"[..]));
}
