//! The profile, function by function: stdio, args and environment, clocks, randomness, sleeps,
//! exits, preopens, reactors, and the `ENOTCAPABLE` stubs that let ordinary binaries load.

use std::fmt::Write as _;
use std::time::Duration;

use palisade::wasmi::ValType;
use palisade::{Clock, ContractViolation, ErrorKind, Outcome, RandomSource, SeededRandom, wasi};

use crate::{FD_READ, FD_WRITE, PROC_EXIT, command, host};

/// Writes `len` bytes at `ptr` to stdout (iovec at 0x100, nwritten at 0x108).
fn write_out(ptr: u32, len: &str) -> String {
    format!(
        "(i32.store (i32.const 0x100) (i32.const {ptr}))
         (i32.store (i32.const 0x104) {len})
         (drop (call $fd_write (i32.const 1) (i32.const 0x100) (i32.const 1) (i32.const 0x108)))"
    )
}

/// The errno `call` (an expression) returns, through `proc_exit`: 0 is a successful call.
fn errno_of(grants: &[&str], import: &str, call: &str) -> i32 {
    let host = host();
    let t = host.tenant(grants);
    let m = host.compile(&command(
        &format!("{import} {PROC_EXIT}"),
        &format!("(call $proc_exit {call})"),
    ));
    match host.runtime.call(&m, &t, wasi::START, b"").result {
        Ok(_) => 0,
        Err(e) => match e.kind() {
            ErrorKind::GuestError { code, .. } => *code,
            other => panic!("expected an exit status, got {other:?}"),
        },
    }
}

#[test]
fn stdin_is_the_input_then_eof_and_stdout_the_output() {
    let host = host();
    let t = host.tenant(&[]);
    // Reads 7 bytes at a time until EOF, echoing each piece to stdout.
    let body = format!(
        "(block $done (loop $more
           (i32.store (i32.const 0) (i32.const 1024))
           (i32.store (i32.const 4) (i32.const 7))
           (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
           (br_if $done (i32.eqz (i32.load (i32.const 16))))
           {}
           (br $more)))",
        write_out(1024, "(i32.load (i32.const 16))")
    );
    let m = host.compile(&command(&format!("{FD_READ} {FD_WRITE}"), &body));
    assert_eq!(m.info().entries.len(), 1);
    let input = b"the quick brown fox jumps over the lazy dog";
    let call = host.runtime.call(&m, &t, wasi::START, input);
    assert_eq!(call.result.unwrap(), input);
    assert_eq!(call.report.outcome, Outcome::Ok);
    // A second call reads its own input from the start: a fresh instance and a fresh stdin.
    let call = host.runtime.call(&m, &t, wasi::START, b"again");
    assert_eq!(call.result.unwrap(), b"again");
}

#[test]
fn reading_and_writing_the_wrong_fds_is_ebadf() {
    let bad_read = "(call $fd_read (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 16))";
    assert_eq!(errno_of(&[], FD_READ, bad_read), wasi::errno::BADF);
    let bad_write = "(call $fd_write (i32.const 5) (i32.const 0) (i32.const 0) (i32.const 16))";
    assert_eq!(errno_of(&[], FD_WRITE, bad_write), wasi::errno::BADF);
    let too_many = "(call $fd_write (i32.const 1) (i32.const 0) (i32.const 1025) (i32.const 16))";
    assert_eq!(errno_of(&[], FD_WRITE, too_many), wasi::errno::INVAL);
}

#[test]
fn proc_exit_zero_is_success_with_the_output_so_far() {
    let host = host();
    let t = host.tenant(&[]);
    let body = format!(
        "{} (call $proc_exit (i32.const 0)) unreachable",
        write_out(0x200, "(i32.const 7)")
    );
    let wasm = command(
        &format!("{FD_WRITE} {PROC_EXIT} (data (i32.const 0x200) \"partial\")"),
        &body,
    );
    let m = host.compile(&wasm);
    assert_eq!(
        host.runtime.call(&m, &t, wasi::START, b"").result.unwrap(),
        b"partial"
    );
}

#[test]
fn args_and_environment_come_from_the_tenant_and_are_empty_by_default() {
    const ARGS: &str = r#"(import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "args_get" (func $get (param i32 i32) (result i32)))"#;
    const ENV: &str = r#"(import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "environ_get" (func $get (param i32 i32) (result i32)))"#;
    // Writes count and size (8 bytes), the two first pointers (8 bytes), then the strings.
    let body = format!(
        "(drop (call $sizes (i32.const 0) (i32.const 4)))
         (drop (call $get (i32.const 8) (i32.const 64)))
         {}",
        write_out(0, "(i32.add (i32.const 64) (i32.load (i32.const 4)))")
    );
    let host = host();
    for (imports, expected) in [
        (ARGS, b"prog\0-v\0".as_slice()),
        (ENV, b"LANG=C\0EMPTY=\0".as_slice()),
    ] {
        let m = host.compile(&command(&format!("{imports} {FD_WRITE}"), &body));
        let t = host
            .runtime
            .tenant("t")
            .wasi_args(["prog", "-v"])
            .wasi_env([("LANG", "C"), ("EMPTY", "")])
            .build()
            .unwrap();
        let out = host.runtime.call(&m, &t, wasi::START, b"").result.unwrap();
        let mut want = Vec::new();
        want.extend_from_slice(&2u32.to_le_bytes());
        want.extend_from_slice(&u32::try_from(expected.len()).unwrap().to_le_bytes());
        let second = 64 + expected.iter().position(|b| *b == 0).unwrap() + 1;
        want.extend_from_slice(&64u32.to_le_bytes());
        want.extend_from_slice(&u32::try_from(second).unwrap().to_le_bytes());
        // Bytes 16..64 are untouched (zero), then the strings.
        want.extend_from_slice(&[0; 48]);
        want.extend_from_slice(expected);
        assert_eq!(out, want);

        // A tenant that configured nothing: no arguments, no environment.
        let bare = host.tenant(&[]);
        let out = host
            .runtime
            .call(&m, &bare, wasi::START, b"")
            .result
            .unwrap();
        assert_eq!(out[..8], [0; 8]);
        assert_eq!(out.len(), 64);
    }
}

#[test]
fn arguments_a_guest_could_not_read_back_are_refused() {
    let host = host();
    let nul = host.runtime.tenant("t").wasi_args(["a\0b"]).build();
    assert!(matches!(nul.unwrap_err().kind(), ErrorKind::Config { .. }));
    let key = host.runtime.tenant("t").wasi_env([("A=B", "c")]).build();
    assert!(matches!(key.unwrap_err().kind(), ErrorKind::Config { .. }));
    let empty = host.runtime.tenant("t").wasi_env([("", "c")]).build();
    assert!(matches!(
        empty.unwrap_err().kind(),
        ErrorKind::Config { .. }
    ));
}

const CLOCK_TIME_GET: &str = r#"(import "wasi_snapshot_preview1" "clock_time_get" (func $now (param i32 i64 i32) (result i32)))"#;
const RANDOM_GET: &str =
    r#"(import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))"#;

#[test]
fn clocks_need_the_clock_capability_and_read_the_host_clock() {
    let call = "(call $now (i32.const 1) (i64.const 0) (i32.const 64))";
    assert_eq!(errno_of(&[], CLOCK_TIME_GET, call), wasi::errno::NOTCAPABLE);
    assert_eq!(errno_of(&["clock"], CLOCK_TIME_GET, call), 0);
    let unknown = "(call $now (i32.const 2) (i64.const 0) (i32.const 64))";
    assert_eq!(
        errno_of(&["clock"], CLOCK_TIME_GET, unknown),
        wasi::errno::INVAL
    );

    let host = host();
    host.clock.advance(Duration::from_nanos(1234));
    let t = host.tenant(&["clock"]);
    let body = format!(
        "(drop {call}) (drop (call $now (i32.const 0) (i64.const 0) (i32.const 72))) {}",
        write_out(64, "(i32.const 16)")
    );
    let m = host.compile(&command(&format!("{CLOCK_TIME_GET} {FD_WRITE}"), &body));
    let out = host.runtime.call(&m, &t, wasi::START, b"").result.unwrap();
    // Monotonic, then realtime: a host clock without a date gives the monotonic time for both.
    assert_eq!(out[..8], 1234u64.to_le_bytes());
    assert_eq!(out[8..], 1234u64.to_le_bytes());
}

#[test]
fn random_needs_the_random_capability_and_reads_the_host_source() {
    let call = "(call $random (i32.const 64) (i32.const 16))";
    assert_eq!(errno_of(&[], RANDOM_GET, call), wasi::errno::NOTCAPABLE);

    let host = host();
    let t = host.tenant(&["random"]);
    let body = format!("(drop {call}) {}", write_out(64, "(i32.const 16)"));
    let m = host.compile(&command(&format!("{RANDOM_GET} {FD_WRITE}"), &body));
    let out = host.runtime.call(&m, &t, wasi::START, b"").result.unwrap();
    let mut want = [0u8; 16];
    SeededRandom::new(7).fill(&mut want).unwrap();
    assert_eq!(out, want);
}

const POLL: &str = r#"(import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))"#;

/// One relative monotonic-clock subscription of `nanos` with userdata 0x55 at 0; events at 64,
/// count at 128.
fn sleep_body(nanos: u64) -> String {
    format!(
        "(i64.store (i32.const 0) (i64.const 0x55))
         (i32.store (i32.const 16) (i32.const 1))
         (i64.store (i32.const 24) (i64.const {nanos}))
         (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
         {}",
        write_out(64, "(i32.const 12)")
    )
}

#[test]
fn a_sleep_within_the_deadline_waits_on_the_host_clock() {
    let host = host();
    let t = host.tenant(&[]);
    let m = host.compile(&command(
        &format!("{POLL} {FD_WRITE}"),
        &sleep_body(30_000_000),
    ));
    let before = host.clock.now();
    let out = host.runtime.call(&m, &t, wasi::START, b"").result.unwrap();
    // The manual clock jumped by exactly the sleep.
    assert_eq!(
        host.clock.now().saturating_since(before),
        Duration::from_millis(30)
    );
    // One clock event: userdata 0x55, error 0, type 0 (clock).
    let mut want = 0x55u64.to_le_bytes().to_vec();
    want.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(out, want);
}

#[test]
fn poll_without_subscriptions_or_with_fd_subscriptions_does_not_wait() {
    let none = "(call $poll (i32.const 0) (i32.const 64) (i32.const 0) (i32.const 128))";
    assert_eq!(errno_of(&[], POLL, none), wasi::errno::INVAL);
    let host = host();
    let t = host.tenant(&[]);
    // Subscription 1: fd_read readiness (tag 1) of fd 0: outside the profile.
    let body = format!(
        "(i64.store (i32.const 0) (i64.const 9))
         (i32.store8 (i32.const 8) (i32.const 1))
         (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
         {}",
        write_out(64, "(i32.const 12)")
    );
    let m = host.compile(&command(&format!("{POLL} {FD_WRITE}"), &body));
    let out = host.runtime.call(&m, &t, wasi::START, b"").result.unwrap();
    let mut want = 9u64.to_le_bytes().to_vec();
    want.extend_from_slice(&76u16.to_le_bytes());
    want.extend_from_slice(&[1, 0]);
    assert_eq!(out, want);
}

#[test]
fn sched_yield_returns_at_once() {
    let import = r#"(import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))"#;
    assert_eq!(errno_of(&[], import, "(call $yield)"), 0);
}

#[test]
fn stdio_is_described_and_there_are_no_preopened_directories() {
    let prestat = r#"(import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))"#;
    for fd in 0..5 {
        let call = format!("(call $prestat (i32.const {fd}) (i32.const 64))");
        assert_eq!(errno_of(&[], prestat, &call), wasi::errno::BADF, "fd {fd}");
    }
    let fdstat = r#"(import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fdstat (param i32 i32) (result i32)))"#;
    assert_eq!(
        errno_of(&[], fdstat, "(call $fdstat (i32.const 3) (i32.const 64))"),
        wasi::errno::BADF
    );
    let host = host();
    let t = host.tenant(&[]);
    let body = format!(
        "(drop (call $fdstat (i32.const 0) (i32.const 64)))
         (drop (call $fdstat (i32.const 1) (i32.const 88)))
         {}",
        write_out(64, "(i32.const 48)")
    );
    let m = host.compile(&command(&format!("{fdstat} {FD_WRITE}"), &body));
    let out = host.runtime.call(&m, &t, wasi::START, b"").result.unwrap();
    let rights = |o: usize| u64::from_le_bytes(out[o + 8..o + 16].try_into().unwrap());
    assert_eq!(rights(0), (1 << 1) | (1 << 27), "stdin: fd_read, poll");
    assert_eq!(rights(24), (1 << 6) | (1 << 27), "stdout: fd_write, poll");
    assert_eq!(out[0], 0, "filetype unknown: a stream, not a terminal");
}

/// WAT for an import of preview1 function `name` as `$name`.
fn import_of(name: &str) -> String {
    let ty = wasi::func_type(name).unwrap();
    let wat = |t: &ValType| if *t == ValType::I64 { "i64" } else { "i32" };
    let params: Vec<&str> = ty.params().iter().map(wat).collect();
    let results: Vec<&str> = ty.results().iter().map(wat).collect();
    format!(
        r#"(import "wasi_snapshot_preview1" "{name}" (func ${name} (param {}) (result {})))"#,
        params.join(" "),
        results.join(" ")
    )
}

#[test]
fn every_other_function_is_present_and_returns_enotcapable() {
    // A reactor importing all 46 functions, with one entry per function outside the profile
    // that calls it with zeros and exits with what it returned.
    let all: Vec<(&str, wasi::Access)> = wasi::functions().collect();
    assert_eq!(all.len(), 46);
    let mut text = String::from("(module\n");
    for (name, _) in &all {
        writeln!(text, "{}", import_of(name)).unwrap();
    }
    text.push_str("(memory (export \"memory\") 1)\n");
    let denied: Vec<&str> = all
        .iter()
        // Outside the profile, plus the file functions: this runtime serves no files.
        .filter(|(_, a)| {
            *a == wasi::Access::Denied
                || *a == wasi::Access::Capability(wasi::FILES_READ)
                || *a == wasi::Access::Capability(wasi::FILES_WRITE)
        })
        .map(|(n, _)| *n)
        .collect();
    for name in &denied {
        let args: Vec<&str> = wasi::func_type(name)
            .unwrap()
            .params()
            .iter()
            .map(|t| {
                if *t == ValType::I64 {
                    "(i64.const 0)"
                } else {
                    "(i32.const 0)"
                }
            })
            .collect();
        writeln!(
            text,
            "(func (export \"{name}\") (call $proc_exit (call ${name} {})))",
            args.join(" ")
        )
        .unwrap();
    }
    text.push(')');
    let host = host();
    let t = host.tenant(&["log", "clock", "random", "kv.read", "kv.write"]);
    let m = host.compile(&wat::parse_str(&text).unwrap());
    assert_eq!(
        m.info().wasi.as_ref().map(|w| (w.kind, w.imports.len())),
        Some((palisade::abi::WasiKind::Reactor, 46))
    );
    assert_eq!(denied.len(), 26 + 5);
    for name in denied {
        let kind = host
            .runtime
            .call(&m, &t, name, b"")
            .result
            .unwrap_err()
            .kind()
            .clone();
        assert_eq!(
            kind,
            ErrorKind::GuestError {
                code: wasi::errno::NOTCAPABLE,
                message: String::new()
            },
            "{name}"
        );
    }
}

#[test]
fn a_reactor_runs_initialize_before_each_call_in_a_fresh_instance() {
    let host = host();
    let t = host.tenant(&[]);
    let text = format!(
        r#"(module
          {FD_WRITE}
          (memory (export "memory") 1)
          (global $g (mut i32) (i32.const 0))
          (func (export "_initialize") (global.set $g (i32.add (global.get $g) (i32.const 40))))
          (func (export "bump")
            (global.set $g (i32.add (global.get $g) (i32.const 2)))
            (i32.store8 (i32.const 0x200) (global.get $g))
            {})
          (func (export "helper") (param i32) (result i32) (local.get 0)))"#,
        write_out(0x200, "(i32.const 1)")
    );
    let m = host.compile(&wat::parse_str(&text).unwrap());
    assert_eq!(m.info().entries, vec![Box::from("bump")]);
    for _ in 0..2 {
        assert_eq!(host.runtime.call(&m, &t, "bump", b"").result.unwrap(), [42]);
    }
    let kind = host
        .runtime
        .call(&m, &t, "helper", b"")
        .result
        .unwrap_err()
        .kind()
        .clone();
    assert_eq!(
        kind,
        ErrorKind::NoSuchEntry {
            entry: "helper".into()
        }
    );
}

#[test]
fn unknown_wasi_functions_and_wrong_signatures_are_refused_at_compile_time() {
    let host = host();
    let unknown = command(
        r#"(import "wasi_snapshot_preview1" "fd_frobnicate" (func (param i32) (result i32)))"#,
        "",
    );
    assert_eq!(
        host.runtime.compile(&unknown).unwrap_err().kind(),
        &ErrorKind::ContractViolation(ContractViolation::UnknownImport {
            name: "wasi_snapshot_preview1.fd_frobnicate".into()
        })
    );
    let wrong = command(
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32)))"#,
        "",
    );
    assert_eq!(
        host.runtime.compile(&wrong).unwrap_err().kind(),
        &ErrorKind::ContractViolation(ContractViolation::ImportSignature {
            name: "wasi_snapshot_preview1.fd_write".into(),
            expected: "(i32, i32, i32, i32) -> (i32)".into(),
            found: "(i32) -> (i32)".into(),
        })
    );
    let no_memory =
        wat::parse_str(format!(r#"(module {PROC_EXIT} (func (export "_start")))"#)).unwrap();
    assert_eq!(
        host.runtime.compile(&no_memory).unwrap_err().kind(),
        &ErrorKind::ContractViolation(ContractViolation::MissingExport {
            name: "memory",
            expected: "a memory"
        })
    );
}
