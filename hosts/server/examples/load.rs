//! Load tool: fairness under a hostile tenant, and the cost of the sandbox.
//!
//! ```text
//! cargo run --release -p palisade-server --example load [-- SECONDS_PER_PHASE [FOREGROUND_SLICES]]
//! ```
//!
//! `FOREGROUND_SLICES` is the server's `foreground_slices` (default 4); a large value (say
//! 1000000) keeps every call in the foreground lane, as the pool was before long calls moved
//! to background workers, for a comparison in the same session.
//!
//! Starts a server in-process on 127.0.0.1 (port 0, a fresh temporary data directory) and
//! drives it over HTTP from client threads on the same machine. Every phase is bounded in
//! time (default 3 s each, 4 phases). It reports:
//!
//! 1. the good tenant's p50/p99 alone (thermostat `decide`, 2 closed-loop clients);
//! 2. the same with a hostile tenant running infinite loops (`hostile/infinite_loop`) at its
//!    maximum rate: its one permitted call always running, refused calls retried after 5 ms
//!    (targets: p99 within 1.5x of alone, zero good-tenant errors); then the same while the
//!    hostile client also ignores 429s and floods the server with retries (reported, no target).
//!    The three conditions alternate in four rounds of a quarter phase each (alone, at max
//!    rate, flood, alone, ...), and each condition's samples are pooled, so that the machine's
//!    bursts of load and the cost of the first seconds after start-up do not land on one
//!    condition only;
//! 3. requests/s of the thermostat sandboxed vs the same rule compiled natively into an axum
//!    handler, reading and writing the same KV store (target: ratio >= 0.8), alternating
//!    native and sandboxed in four half-length rounds.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a benchmark tool: fail loudly"
)]

// The tests' thin `ureq` helper, shared rather than restated.
#[path = "../tests/all/client.rs"]
#[expect(
    dead_code,
    reason = "the load generator reads only status and body; the tests use the rest"
)]
mod client;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use palisade_guest_artifacts::{THERMOSTAT, hostile::INFINITE_LOOP};
use palisade_server::{Config, Server};
use serde_json::json;

use crate::client::Client;

const GOOD_CLIENTS: usize = 2;
const HOSTILE_CLIENTS: usize = 2;
const THROUGHPUT_CLIENTS: usize = 4;
/// Rounds the fairness conditions alternate in (each a quarter of a phase).
const ROUNDS: u32 = 4;

/// The thermostat rule of `guests/examples/thermostat`, natively, on the same KV store.
fn native_decide(kv: &dyn palisade::KvStore, tenant: &str, input: &[u8]) -> Result<u8, String> {
    const KEY: &[u8] = b"thermostat";
    let read = |b: &[u8]| b.try_into().ok().map(i32::from_le_bytes);
    let (temp, setpoint) = match input.len() {
        4 => (read(input), Some(21_000)),
        8 => (read(&input[..4]), read(&input[4..])),
        _ => (None, None),
    };
    let (Some(temp), Some(setpoint)) = (temp, setpoint) else {
        return Err("bad input".into());
    };
    let mut buf = [0u8; 9];
    let mut len = 0;
    kv.get(tenant, KEY, &mut |v| {
        len = v.len();
        if let Some(dst) = buf.get_mut(..v.len()) {
            dst.copy_from_slice(v);
        }
    })
    .map_err(|e| format!("{e:?}"))?;
    let (mode, last, readings) = if len == 9 {
        (
            buf[0],
            i32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]),
            u32::from_le_bytes([buf[5], buf[6], buf[7], buf[8]]),
        )
    } else {
        (0, 0, 0)
    };
    let new_mode = match mode {
        1 if temp < setpoint => 1,
        2 if temp > setpoint => 2,
        _ if temp < setpoint.saturating_sub(500) => 1,
        _ if temp > setpoint.saturating_add(500) => 2,
        _ => 0,
    };
    let jump = readings > 0 && temp.abs_diff(last) > 5_000;
    let alarm = !(5_000..=35_000).contains(&temp) || jump;
    if new_mode != mode {
        tracing::info!(tenant, "thermostat: mode {new_mode}");
    }
    let [l0, l1, l2, l3] = temp.to_le_bytes();
    let [r0, r1, r2, r3] = readings.saturating_add(1).to_le_bytes();
    kv.set(tenant, KEY, &[new_mode, l0, l1, l2, l3, r0, r1, r2, r3])
        .map_err(|e| format!("{e:?}"))?;
    Ok(match new_mode {
        1 => 1,
        2 => 2,
        _ => 0,
    } | if alarm { 4 } else { 0 })
}

async fn native_handler(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(palisade_server::auth::bearer);
    let tenant = match server.authenticate(token) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    // Blocking work (SQLite) goes off the reactor, as any well-behaved axum handler does.
    let decided =
        tokio::task::spawn_blocking(move || native_decide(server.kv(), &tenant.id, &body)).await;
    match decided {
        Ok(Ok(flags)) => (StatusCode::OK, vec![flags]).into_response(),
        Ok(Err(e)) => (StatusCode::UNPROCESSABLE_ENTITY, e).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u64>,
    errors: u64,
    elapsed: Duration,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
        self.elapsed += other.elapsed;
    }

    fn pct(&self, q: f64) -> u64 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "an index into a small vector"
        )]
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
        v[i]
    }

    #[expect(clippy::cast_precision_loss, reason = "a rate for display")]
    fn rps(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }
}

/// Closed-loop clients posting `input` to `path` for `secs`.
fn drive(addr: std::net::SocketAddr, token: &str, path: &str, clients: usize, secs: f64) -> Stats {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (token, path) = (token.to_owned(), path.to_owned());
            std::thread::spawn(move || {
                let auth = format!("Bearer {token}");
                let mut client = Client::new(addr);
                let mut lat = Vec::new();
                let mut errors = 0;
                let mut t: i32 = 18_000 + i32::try_from(c).unwrap_or(0) * 100;
                while Instant::now() < deadline {
                    t = if t > 25_000 { 18_000 } else { t + 250 };
                    let mut input = t.to_le_bytes().to_vec();
                    input.extend_from_slice(&21_000i32.to_le_bytes());
                    let start = Instant::now();
                    match client.request("POST", &path, &[("authorization", &auth)], &input) {
                        Ok(r) if r.status == 200 && r.body.len() == 1 => {
                            lat.push(
                                u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
                            );
                        }
                        Ok(r) => {
                            errors += 1;
                            if errors <= 3 {
                                eprintln!(
                                    "error {}: {}",
                                    r.status,
                                    String::from_utf8_lossy(&r.body)
                                );
                            }
                        }
                        Err(e) => {
                            errors += 1;
                            eprintln!("transport error: {e}");
                        }
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let mut stats = Stats {
        latencies_us: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for t in threads {
        let (lat, errors) = t.join().unwrap();
        stats.latencies_us.extend(lat);
        stats.errors += errors;
    }
    stats.elapsed = started.elapsed();
    stats
}

/// Hostile clients calling an infinite loop until `stop`. With `backoff`, a refused call is
/// retried after 5 ms (so its one permitted loop is always running: its maximum rate);
/// without, 429s are ignored and retried at once (an HTTP flood on top).
fn hostile(
    addr: std::net::SocketAddr,
    token: &str,
    stop: &Arc<AtomicBool>,
    backoff: bool,
) -> (
    Vec<std::thread::JoinHandle<()>>,
    Arc<AtomicU64>,
    Arc<AtomicU64>,
) {
    let ran = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let threads = (0..HOSTILE_CLIENTS)
        .map(|_| {
            let (token, stop, ran, refused) =
                (token.to_owned(), stop.clone(), ran.clone(), refused.clone());
            std::thread::spawn(move || {
                let auth = format!("Bearer {token}");
                let mut client = Client::new(addr);
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(r) = client.request(
                        "POST",
                        "/v1/plugins/spin/run",
                        &[("authorization", &auth)],
                        b"",
                    ) {
                        if r.status == 429 {
                            refused.fetch_add(1, Ordering::Relaxed);
                            if backoff {
                                std::thread::sleep(Duration::from_millis(5));
                            }
                        } else {
                            ran.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    (threads, ran, refused)
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let foreground_slices: u32 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(palisade_server::config::DEFAULT_FOREGROUND_SLICES);
    let dir = std::env::temp_dir().join(format!("palisade-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config {
        data_dir: dir.clone(),
        workers: 2,
        foreground_slices,
        max_in_flight: 32,
        allow_unsigned: true,
        ..Config::default()
    };
    let server = Server::open(config).expect("server opens");
    let admin = std::fs::read_to_string(dir.join("admin-token"))
        .unwrap()
        .trim()
        .to_owned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = palisade_server::http::router(server.clone()).merge(
        axum::Router::new()
            .route(
                "/native/thermostat/decide",
                axum::routing::post(native_handler),
            )
            .with_state(server.clone()),
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = rt.spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
    });

    // Setup through the API.
    let mut c = Client::new(addr);
    let auth = format!("Bearer {admin}");
    let mut admin_call = |method: &str, path: &str, body: &[u8]| {
        let r = c
            .request(method, path, &[("authorization", &auth)], body)
            .unwrap();
        assert!(
            r.status < 300,
            "{method} {path}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        r.json()
    };
    admin_call(
        "POST",
        "/v1/admin/plugins/thermostat/versions?version=1",
        THERMOSTAT,
    );
    admin_call(
        "POST",
        "/v1/admin/plugins/thermostat/promote",
        json!({"version": "1"}).to_string().as_bytes(),
    );
    admin_call(
        "POST",
        "/v1/admin/plugins/spin/versions?version=1",
        INFINITE_LOOP,
    );
    admin_call(
        "POST",
        "/v1/admin/plugins/spin/promote",
        json!({"version": "1"}).to_string().as_bytes(),
    );
    let good = admin_call(
        "PUT",
        "/v1/admin/tenants/good",
        json!({"plugins": ["thermostat"], "grants": ["log", "kv.read", "kv.write"],
               "limits": {"calls_per_second": 0, "max_concurrency": 4}})
        .to_string()
        .as_bytes(),
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let evil = admin_call(
        "PUT",
        "/v1/admin/tenants/evil",
        json!({"plugins": ["spin"], "limits": {"deadline_ms": 50, "fuel": 1_000_000_000_000u64, "max_concurrency": 1}})
            .to_string()
            .as_bytes(),
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();

    println!(
        "palisade-server load test: {secs} s per phase, loopback {addr}, 2 guest workers, \
         foreground_slices {foreground_slices}"
    );
    drive(
        addr,
        &good,
        "/v1/plugins/thermostat/decide",
        GOOD_CLIENTS,
        secs.min(1.0),
    ); // warm-up
    // Alternate the three conditions in ROUNDS rounds of a quarter phase each, so that a burst
    // of load from the shared machine, or whatever the first seconds after start-up cost, falls
    // on every condition alike instead of on whichever phase it happens to meet; the samples of
    // each condition are pooled across rounds.
    let round_secs = secs / f64::from(ROUNDS);
    let mut alone = Stats::default();
    let mut attacked = [Stats::default(), Stats::default()];
    let mut hostile_ran = [0u64; 2];
    let mut hostile_refused = [0u64; 2];
    for _ in 0..ROUNDS {
        alone.merge(drive(
            addr,
            &good,
            "/v1/plugins/thermostat/decide",
            GOOD_CLIENTS,
            round_secs,
        ));
        for (i, backoff) in [true, false].into_iter().enumerate() {
            let stop = Arc::new(AtomicBool::new(false));
            let (threads, ran, refused) = hostile(addr, &evil, &stop, backoff);
            std::thread::sleep(Duration::from_millis(200));
            attacked[i].merge(drive(
                addr,
                &good,
                "/v1/plugins/thermostat/decide",
                GOOD_CLIENTS,
                round_secs,
            ));
            stop.store(true, Ordering::Relaxed);
            for t in threads {
                t.join().unwrap();
            }
            hostile_ran[i] += ran.load(Ordering::Relaxed);
            hostile_refused[i] += refused.load(Ordering::Relaxed);
        }
    }
    println!(
        "good tenant alone:        p50 {:>6} us  p99 {:>6} us  {:>8.0} req/s  errors {}",
        alone.pct(0.5),
        alone.pct(0.99),
        alone.rps(),
        alone.errors
    );
    let mut ratios = [0f64; 2];
    let mut good_errors = alone.errors;
    for (i, label) in ["hostile at max rate", "hostile + 429 flood"]
        .into_iter()
        .enumerate()
    {
        let attacked = &attacked[i];
        #[expect(clippy::cast_precision_loss, reason = "a ratio for display")]
        let ratio = attacked.pct(0.99) as f64 / alone.pct(0.99).max(1) as f64;
        ratios[i] = ratio;
        good_errors += attacked.errors;
        println!(
            "good tenant, {label}: p50 {:>6} us  p99 {:>6} us  {:>8.0} req/s  errors {}  (p99 {:.2}x alone; hostile: {} loops ran to their deadline, {} refused with 429)",
            attacked.pct(0.5),
            attacked.pct(0.99),
            attacked.rps(),
            attacked.errors,
            ratio,
            hostile_ran[i],
            hostile_refused[i],
        );
    }
    // The target is for the hostile tenant at its maximum rate; the flood is reported only.
    let ratio = ratios[0];

    // Alternate the two in four half-length rounds, so that drift in the machine's load
    // (it is shared) does not favour whichever runs first.
    let mut sandboxed = Stats::default();
    let mut native = Stats::default();
    for round in 0..4 {
        let (path, into) = if round % 2 == 0 {
            ("/native/thermostat/decide", &mut native)
        } else {
            ("/v1/plugins/thermostat/decide", &mut sandboxed)
        };
        into.merge(drive(addr, &good, path, THROUGHPUT_CLIENTS, secs / 2.0));
    }
    println!(
        "thermostat sandboxed:     {:>8.0} req/s  p50 {:>6} us  p99 {:>6} us  errors {}",
        sandboxed.rps(),
        sandboxed.pct(0.5),
        sandboxed.pct(0.99),
        sandboxed.errors
    );
    println!(
        "thermostat native:        {:>8.0} req/s  p50 {:>6} us  p99 {:>6} us  errors {}",
        native.rps(),
        native.pct(0.5),
        native.pct(0.99),
        native.errors
    );
    println!(
        "sandboxed / native:       {:.2} (target >= 0.8)",
        sandboxed.rps() / native.rps().max(1.0)
    );
    println!(
        "verdict: fairness p99 {} (ratio {:.2}, target <= 1.5), good-tenant errors {} (target 0), throughput {} (target >= 0.8)",
        if ratio <= 1.5 { "met" } else { "MISSED" },
        ratio,
        good_errors,
        if sandboxed.rps() / native.rps().max(1.0) >= 0.8 {
            "met"
        } else {
            "MISSED"
        },
    );

    let _ = stop_tx.send(());
    let _ = rt.block_on(serving);
    server.shutdown_workers();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
