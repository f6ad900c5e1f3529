//! `guests/c/wasi/wasi_stdio.c`: a plain C program on Debian's wasi-libc (stdio, `argv`,
//! `getenv`, `clock_gettime`, `getentropy`, `exit`), run unchanged as a WASI command.

use palisade::{ErrorKind, Outcome, Tenant, wasi};
use palisade_guest_artifacts::languages::wasi::C_WASI_STDIO;

use crate::{Host, host};

fn tenant(host: &Host, grants: &[&str], args: &[&str], env: &[(&str, &str)]) -> Tenant {
    host.runtime
        .tenant("t")
        .grant_all(grants.iter().copied())
        .wasi_args(args)
        .wasi_env(env.iter().copied())
        .build()
        .unwrap()
}

fn guest_error(host: &Host, t: &Tenant, input: &[u8]) -> (i32, String) {
    let m = host.compile(C_WASI_STDIO);
    match host.runtime.call(&m, t, wasi::START, input).result {
        Err(e) => match e.kind() {
            ErrorKind::GuestError { code, message } => (*code, message.clone()),
            other => panic!("expected a guest error, got {other:?}"),
        },
        Ok(out) => panic!(
            "expected an exit status, got {:?}",
            String::from_utf8_lossy(&out)
        ),
    }
}

#[test]
fn stdio_args_env_clock_and_random_reach_a_c_program() {
    let host = host();
    let m = host.compile(C_WASI_STDIO);
    assert_eq!(
        m.info().wasi.as_ref().map(|w| w.kind),
        Some(palisade::abi::WasiKind::Command)
    );
    let t = tenant(
        &host,
        &["clock", "random"],
        &["c_wasi_stdio", "one", "two words"],
        &[("GREETING", "hi")],
    );
    let call = host.runtime.call(&m, &t, wasi::START, b"hello, wasi\n");
    assert_eq!(
        String::from_utf8(call.result.unwrap()).unwrap(),
        "args: 2\narg[1]: one\narg[2]: two words\nenv GREETING: hi\nstdin: 12 bytes\n\
         HELLO, WASI\nclock: ok\nrandom: ok\ndone\n"
    );
    assert_eq!(call.report.outcome, Outcome::Ok);
}

#[test]
fn with_nothing_configured_it_sees_no_args_no_env_and_no_input() {
    let host = host();
    let m = host.compile(C_WASI_STDIO);
    let t = tenant(&host, &["clock", "random"], &[], &[]);
    let out = host.runtime.call(&m, &t, wasi::START, b"").result.unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "args: 0\nenv GREETING: (unset)\nstdin: 0 bytes\nclock: ok\nrandom: ok\ndone\n"
    );
}

#[test]
fn exit_with_a_status_is_a_guest_error_carrying_stderr() {
    let host = host();
    let t = tenant(
        &host,
        &["clock", "random"],
        &["c_wasi_stdio", "exit", "3"],
        &[],
    );
    assert_eq!(
        guest_error(&host, &t, b""),
        (3, "exiting with 3\n".to_owned())
    );
}

#[test]
fn an_ungranted_clock_or_random_source_is_enotcapable_to_libc() {
    let host = host();
    let t = tenant(&host, &["random"], &[], &[]);
    assert_eq!(
        guest_error(&host, &t, b""),
        (
            5,
            "clock_gettime failed: Capabilities insufficient\n".to_owned()
        )
    );
    let t = tenant(&host, &["clock"], &[], &[]);
    assert_eq!(
        guest_error(&host, &t, b""),
        (
            6,
            "getentropy failed: Capabilities insufficient\n".to_owned()
        )
    );
}
