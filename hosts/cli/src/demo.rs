//! `palisade demo`: the example guests, then the hostile suite, each limit at work.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use palisade::{ContractViolation, Error, ErrorKind, Limits, MemoryKv, Runtime};
use palisade_guest_artifacts as artifacts;

use crate::exit::{CliError, Exit};

/// Arguments of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Show only the rows of guests whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    pub only: Option<String>,
}

/// The guest lines of the current case, as the log renders them ([`palisade::LogRecord`]'s
/// `Display`, which escapes), so a row can check what reached the log.
static LOGGED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Forwards to [`palisade_std::TracingLog`] and keeps the rendered line in [`LOGGED`].
struct DemoLog;

impl palisade::LogSink for DemoLog {
    fn log(&self, record: &palisade::LogRecord<'_>) {
        palisade::LogSink::log(&palisade_std::TracingLog, record);
        if let Ok(mut lines) = LOGGED.lock() {
            lines.push(record.to_string());
        }
    }
}

/// Whether the current case logged `n` lines and none of them holds a raw newline, carriage
/// return, escape or bidi override (so none can forge another line or drive the terminal).
fn logged_lines_are_escaped(n: usize) -> bool {
    LOGGED.lock().is_ok_and(|lines| {
        lines.len() == n
            && !lines
                .iter()
                .any(|l| l.contains(['\n', '\r', '\u{1b}', '\u{202e}']))
    })
}

/// What a row expects.
#[derive(Clone, Copy)]
enum Expect {
    /// Success, with an output check.
    Ok(fn(&[u8]) -> bool),
    /// Failure with an error of this kind.
    Err(fn(&ErrorKind) -> bool),
}

struct Case {
    /// The artifact's name in `palisade-guest-artifacts`.
    artifact: &'static str,
    entry: &'static str,
    input: Vec<u8>,
    tried: &'static str,
    allow: &'static [&'static str],
    limits: Limits,
    /// The tenant runs as this id (the KV namespace).
    tenant: &'static str,
    /// A WASI program's arguments (docs/WASI.md); empty for other guests.
    wasi_args: &'static [&'static str],
    expect: Expect,
    /// What the row shows it expects.
    expect_text: &'static str,
}

/// artifact, entry, input, what it tried, grants, limits, expectation, expectation text.
type HostileRow = (
    &'static str,
    &'static str,
    Vec<u8>,
    &'static str,
    &'static [&'static str],
    Limits,
    Expect,
    &'static str,
);

struct Row {
    guest: String,
    tried: &'static str,
    stopped_by: String,
    verdict: bool,
    expect_text: &'static str,
    fuel: Option<u64>,
    time: Duration,
}

const DEMO_FUEL: u64 = 2_000_000;
const DEMO_MEMORY: usize = 1 << 20;
const DEMO_DEADLINE: Duration = Duration::from_millis(1000);

fn limits() -> Limits {
    Limits::builder()
        .fuel(DEMO_FUEL)
        .memory_bytes(DEMO_MEMORY)
        .deadline(DEMO_DEADLINE)
        .output_bytes(16 << 10)
        .calls_per_second(0)
        .build()
}

fn bytes(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn preview(out: &[u8]) -> String {
    let printable = out
        .iter()
        .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\n');
    let text = if printable && !out.is_empty() {
        String::from_utf8_lossy(out).replace('\n', " ")
    } else if out.is_empty() {
        String::from("(empty)")
    } else {
        out.iter().take(8).map(|b| format!("{b:02x}")).collect()
    };
    if text.chars().count() > 28 {
        format!("{}…", text.chars().take(27).collect::<String>())
    } else {
        text
    }
}

/// What stopped a guest, from the error it was stopped with.
fn stopped_by(e: &Error) -> String {
    match e.kind() {
        ErrorKind::OutOfFuel { budget } => format!("fuel budget ({})", thousands(*budget)),
        ErrorKind::DeadlineExceeded { deadline } => {
            format!("deadline ({} ms)", deadline.as_millis())
        }
        ErrorKind::MemoryCap { cap_bytes } => format!("memory cap ({})", bytes(*cap_bytes)),
        ErrorKind::Trap(kind) => format!("trap: {}", kind.as_str()),
        ErrorKind::GuestMemoryOutOfBounds { ptr, len } => {
            format!("pointer check ({ptr:#x}+{len} outside memory)")
        }
        ErrorKind::OutputTooLarge { cap, .. } => format!("output cap ({})", bytes(*cap)),
        ErrorKind::OutputOutOfBounds { .. } => String::from("output bounds check"),
        ErrorKind::CapabilityDenied { capability, .. } => {
            format!("grant check: `{capability}` not granted")
        }
        ErrorKind::ContractViolation(ContractViolation::ForeignImport { import }) => {
            format!("contract: foreign import `{import}`")
        }
        ErrorKind::ContractViolation(v) => format!("contract: {v}"),
        ErrorKind::InvalidModule { reason } => {
            let short: String = reason.chars().take(64).collect();
            format!("validation: {short}")
        }
        ErrorKind::GuestError { code, message } => {
            // Guest text: escaped before it reaches the terminal (a newline would break the row).
            let short: String = palisade::Escaped::str(message)
                .to_string()
                .chars()
                .take(30)
                .collect();
            format!("guest error {code}: {short}")
        }
        _ => e.to_string(),
    }
}

fn cases() -> Vec<Case> {
    let l = limits();
    let ok_any: fn(&[u8]) -> bool = |o| !o.is_empty();
    let mut out = vec![
        Case {
            artifact: "thermostat",
            entry: "decide",
            input: 16_000i32.to_le_bytes().to_vec(),
            tried: "rule: 16.0 °C -> heat/cool/alarm flags",
            allow: &["log", "kv.read", "kv.write"],
            limits: l,
            tenant: "home",
            wasi_args: &[],
            expect: Expect::Ok(|o| o == [1]),
            expect_text: "ok: heat on",
        },
        Case {
            artifact: "text_transform",
            entry: "toc",
            input: b"# Notes\n## Today\ntext\n## Tomorrow\n".to_vec(),
            tried: "script: Markdown -> table of contents",
            allow: &[],
            limits: l,
            tenant: "notes",
            wasi_args: &[],
            expect: Expect::Ok(ok_any),
            expect_text: "ok",
        },
        Case {
            artifact: "sha256",
            entry: "hex",
            input: b"hello".to_vec(),
            tried: "SHA-256 of `hello`",
            allow: &[],
            limits: l,
            tenant: "hash",
            wasi_args: &[],
            expect: Expect::Ok(|o| o.starts_with(b"2cf24dba")),
            expect_text: "ok: 2cf24dba…",
        },
        Case {
            artifact: "coremark",
            entry: "run",
            input: 1u32.to_le_bytes().to_vec(),
            tried: "CoreMark kernels, 1 iteration",
            allow: &[],
            limits: Limits {
                fuel: 50_000_000,
                ..l
            },
            tenant: "bench",
            wasi_args: &[],
            expect: Expect::Ok(|o| o.len() == 8),
            expect_text: "ok: 4 CRCs",
        },
        Case {
            artifact: "wasi_tour",
            entry: "_start",
            input: b"hello from stdin\n".to_vec(),
            tried: "WASI program: args, env, stdin -> stdout",
            allow: &[],
            // Rust's wasip1 programs start with a 1 MiB stack in 17 pages of memory.
            limits: Limits {
                memory_bytes: 4 << 20,
                ..l
            },
            tenant: "wasi",
            wasi_args: &["wasi_tour", "echo", "--demo"],
            expect: Expect::Ok(|o| o.ends_with(b"HELLO FROM STDIN\n")),
            expect_text: "ok: upper-cased",
        },
    ];
    let hostile_cases: [HostileRow; 30] = [
        (
            "infinite_loop",
            "run",
            vec![],
            "loop forever",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::OutOfFuel { .. })),
            "out of fuel",
        ),
        (
            "infinite_loop",
            "run",
            vec![],
            "loop forever, unlimited fuel",
            &[],
            Limits {
                fuel: u64::MAX / 2,
                deadline: Duration::from_millis(50),
                ..l
            },
            Expect::Err(|k| matches!(k, ErrorKind::DeadlineExceeded { .. })),
            "deadline",
        ),
        (
            "start_loop",
            "run",
            vec![],
            "loop forever in its start function",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::OutOfFuel { .. })),
            "out of fuel",
        ),
        (
            "start_loop",
            "run",
            vec![],
            "loop forever in its start function, unlimited fuel",
            &[],
            Limits {
                fuel: u64::MAX / 2,
                deadline: Duration::from_millis(50),
                ..l
            },
            Expect::Err(|k| matches!(k, ErrorKind::DeadlineExceeded { .. })),
            "deadline",
        ),
        (
            "host_call_loop",
            "run",
            vec![],
            "call the host in a tight loop",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::OutOfFuel { .. })),
            "out of fuel",
        ),
        (
            "log_flood",
            "run",
            vec![],
            "flood the log",
            &["log"],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::OutOfFuel { .. })),
            "out of fuel",
        ),
        (
            "log_forge",
            "run",
            vec![],
            "forge a host log line",
            &["log"],
            l,
            // The sink escapes it (`palisade::Escaped`): the newline and ANSI codes it logs
            // show as `\n` and `\x1b`, one line each, tagged by the host.
            Expect::Ok(|o| o.is_empty() && logged_lines_are_escaped(2)),
            "escaped: one line",
        ),
        (
            "deep_recursion",
            "run",
            vec![],
            "recurse without end",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::Trap(palisade::TrapKind::StackOverflow))),
            "stack overflow",
        ),
        (
            "memory_grow_bomb",
            "run",
            vec![],
            "grow memory until refused",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::MemoryCap { .. })),
            "memory cap",
        ),
        (
            "huge_initial_memory",
            "run",
            vec![],
            "declare 4 GiB of initial memory",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::MemoryCap { .. })),
            "memory cap",
        ),
        (
            "amplify_output",
            "run",
            vec![],
            "return all of its memory as output",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::OutputTooLarge { .. })),
            "output cap",
        ),
        (
            "output_out_of_bounds",
            "beyond_memory",
            vec![],
            "name an output outside its memory",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::OutputOutOfBounds { .. })),
            "bad output",
        ),
        (
            "oob_load",
            "run",
            vec![],
            "load from 0xFFFFFFF0",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::Trap(palisade::TrapKind::MemoryOutOfBounds))),
            "trap",
        ),
        (
            "unreachable",
            "run",
            vec![],
            "execute `unreachable`",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::Trap(palisade::TrapKind::Unreachable))),
            "trap",
        ),
        (
            "bad_alloc",
            "run",
            b"input".to_vec(),
            "make the host write outside memory",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::GuestMemoryOutOfBounds { .. })),
            "pointer check",
        ),
        (
            "bad_pointer",
            "run",
            vec![],
            "pass `log` a pointer past memory",
            &["log"],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::GuestMemoryOutOfBounds { .. })),
            "pointer check",
        ),
        (
            "kv_flood",
            "run",
            vec![],
            "write KV values without end",
            &["kv.write"],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::GuestError { code: -3, .. })),
            "kv quota",
        ),
        (
            "ungranted_capability",
            "run",
            vec![],
            "use kv_set without the grant",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::CapabilityDenied { .. })),
            "denied",
        ),
        (
            "foreign_import",
            "run",
            vec![],
            "import WASI `fd_write`",
            &[],
            l,
            Expect::Err(|k| {
                matches!(
                    k,
                    ErrorKind::ContractViolation(ContractViolation::ForeignImport { .. })
                )
            }),
            "refused",
        ),
        (
            "import_host_memory",
            "run",
            vec![],
            "import the host's memory",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::ContractViolation(_))),
            "refused",
        ),
        (
            "compile_bomb",
            "run",
            vec![],
            "declare 20,000 functions",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::InvalidModule { .. })),
            "refused",
        ),
        (
            "keep_state",
            "remember",
            vec![],
            "keep state between calls (2nd call)",
            &[],
            l,
            Expect::Ok(|o| o == 1u32.to_le_bytes()),
            "ok: state reset",
        ),
        (
            "tenant_keys",
            "steal",
            b"victim\0secret".to_vec(),
            "read tenant `victim`'s KV secret",
            &["kv.read", "kv.write"],
            l,
            Expect::Ok(<[u8]>::is_empty),
            "ok: found nothing",
        ),
        (
            "panic",
            "explode",
            vec![],
            "panic",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::GuestError { code: 101, .. })),
            "guest error",
        ),
        (
            "wasi_path_open",
            "_start",
            vec![],
            "WASI: open /etc/passwd",
            &["log", "clock", "random"],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::GuestError { code: 76, .. })),
            "ENOTCAPABLE",
        ),
        (
            "wasi_stdout_flood",
            "_start",
            vec![],
            "WASI: flood stdout",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::OutputTooLarge { .. })),
            "output cap",
        ),
        (
            "wasi_stderr_flood",
            "_start",
            vec![],
            "WASI: flood stderr (the log)",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::OutOfFuel { .. })),
            "out of fuel",
        ),
        (
            "wasi_sleep",
            "_start",
            vec![],
            "WASI: sleep 10 s in poll_oneoff",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::DeadlineExceeded { .. })),
            "deadline",
        ),
        (
            "wasi_loop",
            "_start",
            vec![],
            "WASI: loop forever in _start",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::OutOfFuel { .. })),
            "out of fuel",
        ),
        (
            "wasi_exit_deep",
            "_start",
            vec![],
            "WASI: proc_exit(7) 500 frames deep",
            &[],
            l,
            Expect::Err(|k| matches!(k, ErrorKind::GuestError { code: 7, .. })),
            "guest error 7",
        ),
    ];
    for (artifact, entry, input, tried, allow, limits, expect, expect_text) in hostile_cases {
        out.push(Case {
            artifact,
            entry,
            input,
            tried,
            allow,
            limits,
            tenant: "mallory",
            wasi_args: &[],
            expect,
            expect_text,
        });
    }
    out
}

fn run_case(runtime: &Runtime, case: &Case) -> Row {
    if let Ok(mut lines) = LOGGED.lock() {
        lines.clear();
    }
    let start = Instant::now();
    let artifact = artifacts::by_name(case.artifact);
    let guest = if artifact.is_some_and(|a| a.entry == case.entry) {
        case.artifact.to_owned()
    } else {
        format!("{}:{}", case.artifact, case.entry)
    };
    let finish = |result: Result<Vec<u8>, Error>, fuel: Option<u64>| {
        let verdict = match (&result, case.expect) {
            (Ok(out), Expect::Ok(check)) => check(out),
            (Err(e), Expect::Err(check)) => check(e.kind()),
            _ => false,
        };
        let stopped_by = match (&result, case.entry) {
            (Ok(out), "remember") => format!("fresh instance per call: {}", preview(out)),
            (Ok(_), _) if case.artifact == "log_forge" => {
                let n = LOGGED.lock().map_or(0, |l| l.len());
                format!("log escaping: {n} guest lines, {n} log lines")
            }
            (Ok(out), "steal") if out.is_empty() => {
                String::from("per-tenant KV: the victim's key is not visible")
            }
            (Ok(out), "steal") => format!("per-tenant KV: LEAKED {}", preview(out)),
            (Ok(out), _) => format!("(completed) {}", preview(out)),
            (Err(e), _) => stopped_by(e),
        };
        Row {
            guest: guest.clone(),
            tried: case.tried,
            stopped_by,
            verdict,
            expect_text: case.expect_text,
            fuel,
            time: start.elapsed(),
        }
    };
    let Some(artifact) = artifact else {
        return finish(
            Err(Error::config(format!(
                "guest `{}` is missing from palisade-guest-artifacts",
                case.artifact
            ))),
            None,
        );
    };
    let module = match runtime.compile_named(artifact.bytes, Some(artifact.name)) {
        Ok(m) => m,
        Err(e) => return finish(Err(e), None),
    };
    let tenant = match runtime
        .tenant(case.tenant)
        .grant_all(case.allow.iter().copied())
        .limits(case.limits)
        .wasi_args(case.wasi_args)
        .build()
    {
        Ok(t) => t,
        Err(e) => return finish(Err(e), None),
    };
    if let Err(e) = runtime.check_grants(&module, &tenant) {
        return finish(Err(e), None);
    }
    // The state-keeping guest is called twice: the second call must not see the first.
    if case.entry == "remember" {
        let _ = runtime.call(&module, &tenant, case.entry, &case.input);
    }
    // The key thief needs a victim: another tenant plants a secret first.
    if case.entry == "steal" {
        let planted = runtime
            .tenant("victim")
            .grant_all(["kv.read", "kv.write"])
            .limits(case.limits)
            .build()
            .map(|victim| runtime.call(&module, &victim, "plant", b"secret\0hunter2"));
        if let Err(e) | Ok(palisade::Call { result: Err(e), .. }) = planted {
            return finish(Err(e), None);
        }
    }
    let call = runtime.call(&module, &tenant, case.entry, &case.input);
    finish(call.result, Some(call.report.fuel_used))
}

fn print_rows(out: &mut impl Write, title: &str, rows: &[Row]) {
    let w_guest = rows
        .iter()
        .map(|r| r.guest.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let w_tried = rows
        .iter()
        .map(|r| r.tried.chars().count())
        .max()
        .unwrap_or(5)
        .max(9);
    let w_stop = rows
        .iter()
        .map(|r| r.stopped_by.chars().count())
        .max()
        .unwrap_or(5)
        .max(10);
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
    let _ = writeln!(out, "\n{title}");
    let _ = writeln!(
        out,
        "  {}  {}  {}  {:>12}  {:>9}  check",
        pad("guest", w_guest),
        pad("tried to", w_tried),
        pad("stopped by", w_stop),
        "fuel",
        "time"
    );
    let _ = writeln!(
        out,
        "  {}",
        "-".repeat(w_guest + w_tried + w_stop + 12 + 9 + 16)
    );
    for r in rows {
        let fuel = r.fuel.map_or_else(|| String::from("-"), thousands);
        let check = if r.verdict {
            String::from("ok")
        } else {
            format!("UNEXPECTED: wanted {}", r.expect_text)
        };
        let _ = writeln!(
            out,
            "  {}  {}  {}  {:>12}  {:>7.2}ms  {check}",
            pad(&r.guest, w_guest),
            pad(r.tried, w_tried),
            pad(&r.stopped_by, w_stop),
            fuel,
            r.time.as_secs_f64() * 1e3,
        );
    }
}

pub fn demo(args: &DemoArgs) -> Result<Exit, CliError> {
    let started = Instant::now();
    let runtime = palisade::Runtime::builder(Arc::new(palisade_std::StdClock::new()))
        .log_sink(Arc::new(DemoLog))
        .random(Arc::new(palisade_std::OsRandom))
        .kv_store(Arc::new(MemoryKv::new()))
        .build()?;
    let selected = |c: &Case| args.only.as_deref().is_none_or(|s| c.artifact.contains(s));
    let all = cases();
    let n_examples = 5;
    let (examples, hostile): (Vec<&Case>, Vec<&Case>) = {
        let (e, h) = all.split_at(n_examples.min(all.len()));
        (
            e.iter().filter(|c| selected(c)).collect(),
            h.iter().filter(|c| selected(c)).collect(),
        )
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "Palisade demo: every call gets a fresh sandbox with fuel {}, memory {}, deadline {} ms,\nand only the capabilities granted to it (unless a row says otherwise).",
        thousands(DEMO_FUEL),
        bytes(DEMO_MEMORY),
        DEMO_DEADLINE.as_millis()
    );
    let example_rows: Vec<Row> = examples.iter().map(|c| run_case(&runtime, c)).collect();
    if !example_rows.is_empty() {
        print_rows(
            &mut out,
            "Example guests: real work, within limits",
            &example_rows,
        );
    }
    let hostile_rows: Vec<Row> = hostile.iter().map(|c| run_case(&runtime, c)).collect();
    if !hostile_rows.is_empty() {
        print_rows(
            &mut out,
            "Hostile guests: each stopped by a limit",
            &hostile_rows,
        );
    }
    // The host survived all of that: the first example still works.
    let survivor = all.first().map(|c| run_case(&runtime, c));
    let failures = example_rows
        .iter()
        .chain(&hostile_rows)
        .chain(&survivor)
        .filter(|r| !r.verdict)
        .count();
    let total = example_rows.len() + hostile_rows.len();
    if let Some(s) = &survivor {
        let _ = writeln!(
            out,
            "\nAfter {} hostile guests the host still serves: {} -> {} in {:.2} ms.",
            hostile_rows.len(),
            s.guest,
            s.stopped_by.trim_start_matches("(completed) "),
            s.time.as_secs_f64() * 1e3
        );
    }
    let _ = writeln!(
        out,
        "{} of {total} guests behaved as expected; demo took {:.2} s.",
        total.saturating_sub(failures.min(total)),
        started.elapsed().as_secs_f64()
    );
    if failures > 0 {
        return Err(CliError::new(
            Exit::Internal,
            format!(
                "{failures} demo rows did not behave as expected; this is a bug in palisade, please report it"
            ),
        ));
    }
    Ok(Exit::Ok)
}
