//! One table over the whole hostile suite: every guest in `hostile::ALL` (and the C and
//! AssemblyScript ones in `languages::hostile::ALL`) has a row saying how
//! it is run and exactly how Palisade stops it, so a new hostile guest cannot ship without a
//! test. The per-threat files next to this one assert the details (logs, kv contents, reports).

use palisade::{ContractViolation, ErrorKind, Limits, MemoryKv, TrapKind};
use palisade_guest_artifacts::{Artifact, hostile, languages};
use palisade_tests::{Host, assert_serves_good_guest, attack_limits, host_with, tenant_with};
use std::sync::Arc;

/// What must happen to a hostile guest.
enum Stop {
    /// `compile` refuses it with this kind.
    AtCompile(ErrorKind),
    /// `compile` refuses it with a kind this predicate accepts (kinds that carry the
    /// validator's own text; the per-threat tests check the text).
    AtCompileMatching(&'static str, fn(&ErrorKind) -> bool),
    /// The call fails with exactly this kind.
    Call(ErrorKind),
    /// The call fails with a kind this predicate accepts (for kinds that carry a length or a
    /// message the guest computes).
    CallMatching(&'static str, fn(&ErrorKind) -> bool),
    /// The attack finds nothing: the call succeeds with exactly this output.
    Output(&'static [u8]),
}

/// How to run one hostile guest.
struct Row {
    grants: &'static [&'static str],
    limits: Limits,
    input: &'static [u8],
    /// A call run first as tenant `alice` with the same grants (entry, input), which must
    /// succeed: it plants what the attack then tries to reach.
    victim: Option<(&'static str, &'static [u8])>,
    stop: Stop,
}

fn row(guest: &Artifact) -> Row {
    let budget = attack_limits().fuel;
    let cap = attack_limits().memory_bytes;
    let plain = |stop| Row {
        grants: &[],
        limits: attack_limits(),
        input: b"",
        victim: None,
        stop,
    };
    match guest.name {
        "infinite_loop" | "host_call_loop" | "start_loop" => {
            plain(Stop::Call(ErrorKind::OutOfFuel { budget }))
        }
        "log_flood" => Row {
            grants: &["log"],
            ..plain(Stop::Call(ErrorKind::OutOfFuel { budget }))
        },
        "deep_recursion" => plain(Stop::Call(ErrorKind::Trap(TrapKind::StackOverflow))),
        "memory_grow_bomb" | "huge_initial_memory" => {
            plain(Stop::Call(ErrorKind::MemoryCap { cap_bytes: cap }))
        }
        "oob_load" => plain(Stop::Call(ErrorKind::Trap(TrapKind::MemoryOutOfBounds))),
        "unreachable" => plain(Stop::Call(ErrorKind::Trap(TrapKind::Unreachable))),
        "ungranted_capability" => Row {
            grants: &["log", "kv.read"],
            ..plain(Stop::Call(ErrorKind::CapabilityDenied {
                import: "palisade.kv_set".into(),
                capability: "kv.write".into(),
            }))
        },
        "output_out_of_bounds" => plain(Stop::Call(ErrorKind::OutputOutOfBounds {
            ptr: 65_000,
            len: 1_000,
            memory_bytes: 65_536,
        })),
        "log_forge" => Row {
            grants: &["log"],
            ..plain(Stop::Output(b""))
        },
        "kv_flood" => Row {
            grants: &["kv.write"],
            ..plain(Stop::Call(ErrorKind::GuestError {
                code: -3,
                message: "kv flood refused".into(),
            }))
        },
        "compile_bomb" => plain(Stop::AtCompileMatching("InvalidModule", |k| {
            matches!(k, ErrorKind::InvalidModule { .. })
        })),
        "keep_state" => Row {
            input: b"a secret",
            ..plain(Stop::Output(&[1, 0, 0, 0]))
        },
        "tenant_keys" => Row {
            grants: &["kv.read", "kv.write"],
            victim: Some(("plant", b"secret\0hunter2")),
            input: b"alice\0secret",
            ..plain(Stop::Output(b""))
        },
        "panic" => plain(Stop::CallMatching(
            "GuestError 101 naming the location",
            |k| {
                matches!(k, ErrorKind::GuestError { code: 101, message }
                if message.starts_with("panicked at ") && message.contains("src/lib.rs:"))
            },
        )),
        "bad_alloc" => Row {
            input: b"secret input",
            ..plain(Stop::Call(ErrorKind::GuestMemoryOutOfBounds {
                ptr: 0xFFFF_FF00,
                len: 12,
            }))
        },
        "bad_pointer" => Row {
            grants: &["log"],
            ..plain(Stop::Call(ErrorKind::GuestMemoryOutOfBounds {
                ptr: 65_535,
                len: 100,
            }))
        },
        "foreign_import" => plain(Stop::AtCompile(ErrorKind::ContractViolation(
            ContractViolation::ForeignImport {
                import: "wasi_snapshot_preview1.fd_write".into(),
            },
        ))),
        "import_host_memory" => plain(Stop::AtCompileMatching("ForeignImport of a memory", |k| {
            matches!(
                k,
                ErrorKind::ContractViolation(ContractViolation::ForeignImport { .. })
            )
        })),
        "as_abort" => plain(Stop::CallMatching("GuestError 1 naming the place", |k| {
            matches!(k, ErrorKind::GuestError { code: 1, message }
                if message.starts_with("abort: the input is empty at assembly/abort.ts:"))
        })),
        "wasi_path_open" => Row {
            grants: &["log", "clock", "random", "kv.read"],
            ..plain(Stop::Call(ErrorKind::GuestError {
                code: palisade::wasi::errno::NOTCAPABLE,
                message: String::new(),
            }))
        },
        "wasi_stdout_flood" => Row {
            limits: Limits::builder()
                .fuel(budget)
                .output_bytes(100_000)
                .calls_per_second(0)
                .build(),
            ..plain(Stop::Call(ErrorKind::OutputTooLarge {
                len: 120_000,
                cap: 100_000,
            }))
        },
        "wasi_stderr_flood" => Row {
            grants: &["log"],
            ..plain(Stop::Call(ErrorKind::OutOfFuel { budget }))
        },
        "wasi_sleep" => Row {
            grants: &["clock"],
            ..plain(Stop::Call(ErrorKind::DeadlineExceeded {
                deadline: Limits::DEFAULT_DEADLINE,
            }))
        },
        "wasi_loop" => plain(Stop::Call(ErrorKind::OutOfFuel { budget })),
        "wasi_exit_deep" => Row {
            grants: &["log"],
            ..plain(Stop::Call(ErrorKind::GuestError {
                code: 7,
                message: "deep\n".into(),
            }))
        },
        "amplify_output" => Row {
            limits: Limits::builder()
                .output_bytes(4096)
                .calls_per_second(0)
                .build(),
            ..plain(Stop::CallMatching(
                "OutputTooLarge over a 4096 B cap",
                |k| matches!(k, ErrorKind::OutputTooLarge { len, cap: 4096 } if *len > 4096),
            ))
        },
        other => panic!(
            "hostile guest `{other}` has no row here: add how it is run and exactly how \
             Palisade stops it ({})",
            guest.expect
        ),
    }
}

#[test]
fn every_hostile_guest_is_stopped_as_documented() {
    // A clock that stands still: only fuel can stop the loops (a moving clock lets the
    // deadline, which host calls check, come first for `host_call_loop`).
    let host: Host = host_with(Arc::new(palisade::ManualClock::new()), MemoryKv::new());
    for guest in hostile::ALL.iter().chain(languages::hostile::ALL) {
        let row = row(guest);
        let t = tenant_with(&host, "mallory", row.grants, row.limits);
        let compiled = host.runtime.compile(guest.bytes);
        let module = match (&row.stop, compiled) {
            (Stop::AtCompile(want), Err(e)) => {
                assert_eq!(e.kind(), want, "{}", guest.name);
                continue;
            }
            (Stop::AtCompileMatching(what, ok), Err(e)) => {
                assert!(ok(e.kind()), "{}: expected {what}, got {e:?}", guest.name);
                continue;
            }
            (_, Err(e)) => panic!("{}: refused at compile time: {e}", guest.name),
            (Stop::AtCompile(_) | Stop::AtCompileMatching(..), Ok(_)) => {
                panic!("{}: compiled, but should have been refused", guest.name)
            }
            (_, Ok(m)) => m,
        };
        if let Some((entry, input)) = row.victim {
            let alice = tenant_with(&host, "alice", row.grants, row.limits);
            let planted = host.runtime.call(&module, &alice, entry, input);
            assert!(
                planted.result.is_ok(),
                "{}: {:?}",
                guest.name,
                planted.result
            );
        }
        let call = host.runtime.call(&module, &t, guest.entry, row.input);
        match (&row.stop, &call.result) {
            (Stop::Output(want), Ok(out)) => assert_eq!(out, want, "{}", guest.name),
            (Stop::Call(want), Err(e)) => {
                assert_eq!(e.kind(), want, "{}", guest.name);
                if let ErrorKind::OutOfFuel { budget } = want {
                    // Stopped at the budget: not before, and never after.
                    let used = call.report.fuel_used;
                    assert!(
                        used <= *budget && used >= budget - Limits::DEFAULT_FUEL_SLICE,
                        "{}: used {used} of {budget}",
                        guest.name
                    );
                }
                if let ErrorKind::MemoryCap { cap_bytes } = want {
                    assert!(
                        call.report.memory_high_water <= *cap_bytes,
                        "{}",
                        guest.name
                    );
                }
            }
            (Stop::CallMatching(what, ok), Err(e)) => {
                assert!(ok(e.kind()), "{}: expected {what}, got {e:?}", guest.name)
            }
            (_, result) => panic!("{}: unexpected result {result:?}", guest.name),
        }
        assert_serves_good_guest(&host, &t);
    }
}
