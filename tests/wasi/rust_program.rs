//! `guests/examples/wasi-tour`: an ordinary Rust `wasm32-wasip1` program (`fn main()`, the
//! standard library, no Palisade SDK) run as a WASI command.

use std::time::Duration;

use palisade::{ErrorKind, Limits, Outcome, Tenant, TrapKind, wasi};
use palisade_guest_artifacts::WASI_TOUR;

use crate::{Host, host, host_seeded};

fn tenant(host: &Host, grants: &[&str], args: &[&str]) -> Tenant {
    host.runtime
        .tenant("t")
        .grant_all(grants.iter().copied())
        .wasi_args(args)
        .wasi_env([("GREETING", "hi"), ("COLOR", "blue")])
        .build()
        .unwrap()
}

#[test]
fn echo_sees_its_args_and_environment_and_upper_cases_stdin() {
    let host = host();
    let m = host.compile(WASI_TOUR);
    assert_eq!(
        m.info().wasi.as_ref().map(|w| w.kind),
        Some(palisade::abi::WasiKind::Command)
    );
    let t = tenant(&host, &[], &["wasi_tour", "echo", "two words"]);
    let call = host.runtime.call(&m, &t, wasi::START, b"hello, wasi\n");
    assert_eq!(
        String::from_utf8(call.result.unwrap()).unwrap(),
        "args: wasi_tour echo two words\nenv: COLOR=blue,GREETING=hi\nHELLO, WASI\n"
    );
    assert_eq!(call.report.outcome, Outcome::Ok);
    assert!(call.report.fuel_used > 0);
}

#[test]
fn with_nothing_configured_it_sees_no_args_and_no_environment() {
    let host = host();
    let m = host.compile(WASI_TOUR);
    let t = host.tenant(&[]);
    let out = host.runtime.call(&m, &t, wasi::START, b"x").result.unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "args: \nenv: \nX");
}

#[test]
fn clock_reads_the_host_clock_and_sleeps_on_it() {
    let host = host();
    host.clock.advance(Duration::from_secs(5));
    let m = host.compile(WASI_TOUR);
    // The 250 ms sleep does not fit the default 100 ms deadline: the call ends at once.
    let t = tenant(&host, &["clock"], &["wasi_tour", "clock"]);
    let kind = host
        .runtime
        .call(&m, &t, wasi::START, b"")
        .result
        .unwrap_err()
        .kind()
        .clone();
    assert_eq!(
        kind,
        ErrorKind::DeadlineExceeded {
            deadline: Limits::DEFAULT_DEADLINE
        }
    );
    let t = host
        .runtime
        .tenant("t")
        .grant("clock")
        .limits(Limits::builder().deadline(Duration::from_secs(1)).build())
        .wasi_args(["wasi_tour", "clock"])
        .build()
        .unwrap();
    let out = host.runtime.call(&m, &t, wasi::START, b"").result.unwrap();
    // Realtime (the host clock has no date: its monotonic time), then a 250 ms sleep that the
    // manual clock took exactly.
    assert_eq!(String::from_utf8(out).unwrap(), "5000000000 250000000\n");
}

#[test]
fn clock_without_the_capability_makes_the_standard_library_abort() {
    let host = host();
    let m = host.compile(WASI_TOUR);
    let t = tenant(&host, &["log"], &["wasi_tour", "clock"]);
    let call = host.runtime.call(&m, &t, wasi::START, b"");
    assert_eq!(
        *call.result.unwrap_err().kind(),
        ErrorKind::Trap(TrapKind::Unreachable)
    );
    // Rust's std panics on ENOTCAPABLE (76) and says so on stderr, which the log received.
    let lines: Vec<String> = host
        .log
        .lines()
        .iter()
        .map(|l| String::from_utf8_lossy(&l.message).into_owned())
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("76")),
        "stderr lines: {lines:?}"
    );
}

#[test]
fn random_comes_from_the_host_source() {
    let run = |seed: u64| {
        let host = host_seeded(seed);
        let m = host.compile(WASI_TOUR);
        let t = tenant(&host, &["random"], &["wasi_tour", "random"]);
        String::from_utf8(host.runtime.call(&m, &t, wasi::START, b"").result.unwrap()).unwrap()
    };
    let (a, b, c) = (run(1), run(1), run(2));
    assert_eq!(a.len(), 17, "{a:?}");
    assert!(a.ends_with('\n') && a[..16].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(a, b, "the same seed gives the same keys");
    assert_ne!(a, c, "another seed gives other keys");
}

#[test]
fn exit_codes_become_the_outcome() {
    let host = host();
    let m = host.compile(WASI_TOUR);
    let t = tenant(&host, &[], &["wasi_tour", "exit"]);
    let kind = host
        .runtime
        .call(&m, &t, wasi::START, b"3")
        .result
        .unwrap_err()
        .kind()
        .clone();
    assert_eq!(
        kind,
        ErrorKind::GuestError {
            code: 3,
            message: "exiting with 3\n".into()
        }
    );
    let call = host.runtime.call(&m, &t, wasi::START, b"0");
    assert_eq!(call.result.unwrap(), b"");
    assert_eq!(call.report.outcome, Outcome::Ok);
}
