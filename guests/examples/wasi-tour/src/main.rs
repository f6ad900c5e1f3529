//! An ordinary `wasm32-wasip1` program: `fn main()`, the standard library, no Palisade SDK.
//! Palisade runs it as a WASI command (`docs/WASI.md`): stdin is the call's input, stdout its
//! output, stderr the guest log, and the exit code the call's outcome.
//!
//! The first argument picks what it does (the tests in `tests/wasi/` assert each output):
//!
//! | argument | needs | prints |
//! |---|---|---|
//! | `echo` (or none) | - | `args: ...`, `env: ...` (sorted) and the input upper-cased |
//! | `clock` | `clock` | the realtime clock in ns, then the ns a 250 ms `thread::sleep` took |
//! | `random` | `random` | a `RandomState` hash of 42 as 16 hex digits |
//! | `exit` | - | nothing: writes `exiting with N` to stderr and exits with the input as status |
//! | `cat PATH...` | `files.read` | each file's size and contents, read with `std::fs` (`/data/...` is the host's preopened directory); a failure as `PATH: error` and exit status 3 |
//! | `write PATH` | `files.read`, `files.write` | writes the input to `PATH` with `std::fs::write` (created or truncated); `wrote N bytes to PATH`; a failure as `PATH: error` and exit status 3 |
//! | `append PATH` | `files.read`, `files.write` | appends the input to `PATH` (`OpenOptions::append`, created if missing) |
//! | `mkdir PATH`, `rm PATH`, `rmdir PATH`, `mv FROM TO` | `files.read`, `files.write` | the `std::fs` operation; `ok` |
//! | `spin` | - | `spinning` on stdout, flushed, then loops until the fuel or the deadline ends the call |

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn main() -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("cannot read stdin: {e}");
        return ExitCode::from(2);
    }
    let args: Vec<String> = std::env::args().collect();
    let mut out = std::io::stdout().lock();
    let written = match args.get(1).map(String::as_str) {
        None | Some("echo") => {
            let mut env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
            env.sort();
            writeln!(out, "args: {}", args.join(" "))
                .and_then(|()| writeln!(out, "env: {}", env.join(",")))
                .and_then(|()| write!(out, "{}", input.to_uppercase()))
        }
        Some("clock") => {
            let since_epoch = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let start = Instant::now();
            std::thread::sleep(Duration::from_millis(250));
            let slept = start.elapsed();
            writeln!(out, "{} {}", since_epoch.as_nanos(), slept.as_nanos())
        }
        Some("random") => writeln!(out, "{:016x}", RandomState::new().hash_one(42u64)),
        Some("exit") => {
            let code: u8 = input.trim().parse().unwrap_or(1);
            eprintln!("exiting with {code}");
            return ExitCode::from(code);
        }
        Some("cat") => {
            let mut failed = false;
            for path in args.iter().skip(2) {
                match std::fs::read(path) {
                    Ok(bytes) => {
                        let text = String::from_utf8_lossy(&bytes);
                        if let Err(e) = writeln!(out, "{path}: {} bytes: {text}", bytes.len()) {
                            eprintln!("cannot write stdout: {e}");
                            return ExitCode::from(1);
                        }
                    }
                    Err(e) => {
                        let _ = writeln!(out, "{path}: {}", e.kind());
                        failed = true;
                    }
                }
            }
            if failed {
                let _ = out.flush();
                return ExitCode::from(3);
            }
            Ok(())
        }
        Some(mode @ ("write" | "append" | "mkdir" | "rm" | "rmdir" | "mv")) => {
            let path = args.get(2).map(String::as_str).unwrap_or_default();
            let to = args.get(3).map(String::as_str).unwrap_or_default();
            let done = match mode {
                "write" => std::fs::write(path, &input)
                    .map(|()| format!("wrote {} bytes to {path}", input.len())),
                "append" => std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(path)
                    .and_then(|mut f| f.write_all(input.as_bytes()))
                    .map(|()| format!("appended {} bytes to {path}", input.len())),
                "mkdir" => std::fs::create_dir(path).map(|()| "ok".to_owned()),
                "rm" => std::fs::remove_file(path).map(|()| "ok".to_owned()),
                "rmdir" => std::fs::remove_dir(path).map(|()| "ok".to_owned()),
                _ => std::fs::rename(path, Path::new(to)).map(|()| "ok".to_owned()),
            };
            match done {
                Ok(line) => writeln!(out, "{line}"),
                Err(e) => {
                    let _ = writeln!(out, "{path}: {}", e.kind());
                    let _ = out.flush();
                    return ExitCode::from(3);
                }
            }
        }
        Some("spin") => {
            let _ = writeln!(out, "spinning").and_then(|()| out.flush());
            let mut n = 0u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        Some(other) => {
            eprintln!(
                "unknown mode `{other}`: use echo, clock, random, exit, cat, write, append, mkdir, rm, rmdir, mv or spin"
            );
            return ExitCode::from(2);
        }
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write stdout: {e}");
            ExitCode::from(1)
        }
    }
}
