//! Hostile connections: stalled headers and bodies are cut by timeouts, the connection cap
//! holds, admission happens before the body is read, and the drain answers 503.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::*;

const LIMITS: &str = "header_read_timeout_ms = 300\nbody_read_timeout_ms = 500\n";

fn raw(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads until the server closes the connection; `None` if it stays open for 5 s.
fn read_to_close(s: &mut TcpStream) -> Option<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&out).into_owned()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(String::from_utf8_lossy(&out).into_owned());
            }
            Err(_) => return None,
        }
    }
}

/// Reads one response head and its JSON body (by content-length), leaving the socket open.
fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + len {
                let status = text[9..12].parse().unwrap();
                return (status, text[end + 4..end + 4 + len].to_owned());
            }
        }
    }
}

fn code(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body).unwrap()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_stalled_header_is_disconnected_after_the_header_timeout() {
    let srv = Srv::start_with(LIMITS);
    let mut s = raw(srv.addr);
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaa")
        .unwrap();
    let started = Instant::now();
    assert!(read_to_close(&mut s).is_some(), "still open after 5 s");
    assert!(started.elapsed() < Duration::from_secs(4));
    // An idle connection that sends nothing at all is closed as well.
    let mut idle = raw(srv.addr);
    assert!(read_to_close(&mut idle).is_some(), "idle connection kept");
    assert_eq!(
        srv.client()
            .request("GET", "/healthz", &[], b"")
            .unwrap()
            .status,
        200
    );
}

#[test]
fn a_stalled_body_is_cut_after_the_body_timeout() {
    let srv = Srv::start_with(LIMITS);
    let t = srv.tenant("t", json!({"grants": ["kv.write"]}));
    let mut s = raw(srv.addr);
    write!(
        s,
        "PUT /v1/kv/k HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\nContent-Length: 100\r\n\r\nonly part"
    )
    .unwrap();
    let (status, body) = read_response(&mut s);
    assert_eq!(
        (status, code(&body).as_str()),
        (408, "body_timeout"),
        "{body}"
    );
    assert!(
        read_to_close(&mut s).is_some(),
        "connection closed after the timeout"
    );
    let auth = format!("Bearer {t}");
    let r = srv
        .client()
        .request("PUT", "/v1/kv/k", &[("authorization", &auth)], b"v")
        .unwrap();
    assert_eq!(r.status, 204);
}

#[test]
fn past_the_connection_cap_new_connections_are_refused_and_served_again_later() {
    let srv = Srv::start_with("max_connections = 2\nheader_read_timeout_ms = 60000\n");
    // Two connections, each answered once (so the server has surely taken both), then idle.
    let mut a = raw(srv.addr);
    let mut b = raw(srv.addr);
    for s in [&mut a, &mut b] {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(s).0, 200);
    }
    let mut over = raw(srv.addr);
    let Some(refused) = read_to_close(&mut over) else {
        panic!("the connection over the cap was not closed");
    };
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("too_many_connections"), "{refused}");
    // The connections already open are still served.
    a.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut a).0, 200);
    drop((a, b));
    // Once they are gone, the server serves new connections again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if srv
            .client()
            .request("GET", "/healthz", &[], b"")
            .is_ok_and(|r| r.status == 200)
        {
            break;
        }
        assert!(Instant::now() < deadline, "never served again");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_tenant_at_its_cap_gets_429_before_its_body_is_read() {
    let srv = Srv::start_with("body_read_timeout_ms = 3000\n");
    assert_eq!(srv.upload("echo", "1", &echo()).status, 201);
    let r = srv.admin_json(
        "POST",
        "/v1/admin/plugins/echo/promote",
        json!({"version": "1"}),
    );
    assert_eq!(r.status, 200);
    let t = srv.tenant(
        "t",
        json!({"plugins": ["echo"], "limits": {"max_concurrency": 1, "input_bytes": 1000}}),
    );
    let head = |len: usize| {
        format!(
            "POST /v1/plugins/echo/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    // A declared length over the tenant's cap is refused before any body byte is sent.
    let mut big = raw(srv.addr);
    big.write_all(head(5000).as_bytes()).unwrap();
    let (status, body) = read_response(&mut big);
    assert_eq!(
        (status, code(&body).as_str()),
        (413, "input_too_large"),
        "{body}"
    );
    // A stalled body holds the tenant's one slot...
    let mut stalled = raw(srv.addr);
    stalled.write_all(head(100).as_bytes()).unwrap();
    stalled.write_all(b"partial").unwrap();
    // Once complete calls are refused, the stalled one has been admitted and holds the slot.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = srv.invoke(&t, "echo", "echo", b"probe");
        if r.status == 429 {
            assert_error(&r, 429, "tenant_busy");
            break;
        }
        assert_eq!(r.status, 200);
        assert!(
            Instant::now() < deadline,
            "the stalled call was never admitted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // ...so the next call is refused from its head alone: no body is ever sent.
    let mut next = raw(srv.addr);
    next.write_all(head(10).as_bytes()).unwrap();
    let (status, body) = read_response(&mut next);
    assert_eq!(
        (status, code(&body).as_str()),
        (429, "tenant_busy"),
        "{body}"
    );
    // The stalled one is cut by the body timeout and the tenant is served again.
    let (status, body) = read_response(&mut stalled);
    assert_eq!(
        (status, code(&body).as_str()),
        (408, "body_timeout"),
        "{body}"
    );
    let r = srv.invoke(&t, "echo", "echo", b"again");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"again"[..]));
}

#[test]
fn during_the_drain_new_requests_get_503_shutting_down() {
    let mut srv = Srv::start();
    let hostile = wat::parse_str(
        r#"(module
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "spin") (param i32 i32) (result i32) (loop $l (br $l)) (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))"#,
    )
    .unwrap();
    assert_eq!(srv.upload("h", "1", &hostile).status, 201);
    let r = srv.admin_json(
        "POST",
        "/v1/admin/plugins/h/promote",
        json!({"version": "1"}),
    );
    assert_eq!(r.status, 200);
    let t = srv.tenant(
        "t",
        json!({"plugins": ["h"], "limits": {"deadline_ms": 3000, "fuel": 1000000000000u64, "max_concurrency": 2}}),
    );
    let (addr, tok) = (srv.addr, t.clone());
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
    let pid = srv.pid();
    let killed = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    // The drain has begun once health says so; from then on new calls get 503.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let h = srv.client().request("GET", "/healthz", &[], b"").unwrap();
        if h.status == 503 {
            assert_eq!(h.json()["status"], "draining");
            break;
        }
        assert!(Instant::now() < deadline, "never started draining");
        std::thread::sleep(Duration::from_millis(10));
    }
    let r = srv.invoke(&t, "h", "spin", b"");
    assert_error(&r, 503, "shutting_down");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_error(
        &srv.admin_req("GET", "/v1/admin/plugins", b""),
        503,
        "shutting_down",
    );
    // The call in flight still gets its answer, and the process exits cleanly.
    assert_error(&inflight.join().unwrap().unwrap(), 422, "deadline_exceeded");
    let status = srv.wait_exit();
    assert!(status.success(), "{status}");
    assert!(
        TcpStream::connect(addr).is_err(),
        "the listener is closed after the drain"
    );
}
