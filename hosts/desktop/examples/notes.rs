//! A note tool whose text transforms are user scripts, run in Palisade.
//!
//! ```text
//! cargo run -p palisade-desktop --example notes
//! ```
//!
//! The app keeps its scripts in a folder with a `palisade.toml` (here a temporary folder it
//! fills itself): `upper.wat` (a WAT script a user might write), `toc.wasm` (the
//! `text-transform` example guest, compiled from Rust), and `stuck.wat`, a script with a bug
//! that loops forever. It then:
//!
//! 1. runs the scripts on a note from a worker thread while its UI thread keeps drawing frames;
//! 2. runs the stuck script: the sandbox cuts it off at its 50 ms deadline, and the UI thread
//!    never stops drawing;
//! 3. edits `upper.wat` on disk, as a user would: the background watcher hot-reloads it and
//!    the next call runs the new version, without restarting anything;
//! 4. rolls the edit back.

use std::error::Error;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use palisade_desktop::{ScriptError, ScriptHost};

const NOTE: &str =
    "# Meeting notes\n## Decisions\nship the sandbox.\n## Actions\nwrite the docs.\n";

const MANIFEST: &str = r#"
# Every script: a 50 ms deadline (fuel is generous, so the deadline is what stops a loop).
[limits]
deadline_ms = 50
fuel = 1_000_000_000

[scripts.upper]
file = "upper.wat"

[scripts.toc]
file = "toc.wasm"
entry = "toc"

[scripts.stuck]
file = "stuck.wat"
"#;

/// Upper-cases ASCII letters in place; `extra` is spliced into the loop body (the "edit").
fn upper_wat(extra: &str) -> String {
    format!(
        r#"(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "upper") (param $ptr i32) (param $len i32) (result i32)
    (local $i i32) (local $c i32) (local $at i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (local.set $at (i32.add (local.get $ptr) (local.get $i)))
      (local.set $c (i32.load8_u (local.get $at)))
      (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))
        (then (i32.store8 (local.get $at) (i32.sub (local.get $c) (i32.const 32)))))
      {extra}
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (call $output (local.get $ptr) (local.get $len))
    (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))"#
    )
}

/// The user's edit: also turn `.` into `!`.
const SHOUT: &str = "(if (i32.eq (local.get $c) (i32.const 46)) (then (i32.store8 (local.get $at) (i32.const 33))))";

const STUCK: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "stuck") (param i32 i32) (result i32) (loop $forever (br $forever)) (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))"#;

/// A job for the worker thread and where to send its answer.
type Job = (
    &'static str,
    String,
    mpsc::Sender<(Result<Vec<u8>, ScriptError>, Duration)>,
);

/// What a script run looked like from the UI thread.
struct Run {
    result: Result<Vec<u8>, ScriptError>,
    /// How long the script took on the worker.
    took: Duration,
    /// Frames the UI thread drew meanwhile.
    frames: u32,
    /// The longest gap between two frames.
    longest: Duration,
}

/// Runs `script` on the worker while the "UI thread" (this one) keeps drawing 60 fps frames.
fn run_while_drawing(
    jobs: &mpsc::Sender<Job>,
    script: &'static str,
    text: &str,
) -> Result<Run, Box<dyn Error>> {
    let (tx, rx) = mpsc::channel();
    jobs.send((script, text.to_owned(), tx))?;
    let (mut frames, mut longest, mut last) = (0u32, Duration::ZERO, Instant::now());
    loop {
        match rx.recv_timeout(Duration::from_millis(16)) {
            Ok((result, took)) => {
                return Ok(Run {
                    result,
                    took,
                    frames,
                    longest,
                });
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // "Draw a frame".
                frames += 1;
                longest = longest.max(last.elapsed());
                last = Instant::now();
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn show(result: &Result<Vec<u8>, ScriptError>) -> String {
    match result {
        Ok(out) => String::from_utf8_lossy(out)
            .trim_end()
            .replace('\n', "\n      "),
        Err(e) => format!("refused: {e}"),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("palisade.toml"), MANIFEST)?;
    std::fs::write(dir.path().join("upper.wat"), upper_wat(""))?;
    std::fs::write(dir.path().join("stuck.wat"), STUCK)?;
    std::fs::write(
        dir.path().join("toc.wasm"),
        palisade_guest_artifacts::TEXT_TRANSFORM,
    )?;
    println!("scripts folder: {}", dir.path().display());

    let host = Arc::new(ScriptHost::open(dir.path())?);
    let _watcher = host.watch(Duration::from_millis(50), |report| {
        for (name, digest) in &report.updated {
            println!(
                "  [watcher] `{name}` changed on disk: now running {}",
                digest.short()
            );
        }
        for e in &report.failed {
            println!("  [watcher] kept the previous version: {e}");
        }
    });

    // The worker thread runs scripts so that the UI thread never waits on one.
    let (jobs, inbox) = mpsc::channel::<Job>();
    let worker_host = Arc::clone(&host);
    std::thread::spawn(move || {
        for (script, text, reply) in inbox {
            let start = Instant::now();
            let result = worker_host.call_raw(script, text.as_bytes());
            let _ = reply.send((result, start.elapsed()));
        }
    });

    println!(
        "\nnote:\n      {}",
        NOTE.trim_end().replace('\n', "\n      ")
    );
    for script in ["toc", "upper"] {
        let Run { result, took, .. } = run_while_drawing(&jobs, script, NOTE)?;
        println!(
            "\n{script} ({:.2} ms):\n      {}",
            took.as_secs_f64() * 1e3,
            show(&result)
        );
    }

    let Run {
        result,
        took,
        frames,
        longest,
    } = run_while_drawing(&jobs, "stuck", NOTE)?;
    println!(
        "\nstuck ({:.1} ms): {}\n      the UI thread drew {frames} frames meanwhile; longest gap between frames {:.1} ms",
        took.as_secs_f64() * 1e3,
        show(&result),
        longest.as_secs_f64() * 1e3
    );

    println!("\nediting upper.wat on disk (now it also shouts: `.` -> `!`) ...");
    let before = host.active("upper")?;
    let tmp = dir.path().join("upper.wat.new");
    std::fs::write(&tmp, upper_wat(SHOUT))?;
    std::fs::rename(&tmp, dir.path().join("upper.wat"))?;
    let waited = Instant::now();
    while host.active("upper")? == before {
        if waited.elapsed() > Duration::from_secs(10) {
            return Err("the watcher did not pick the edit up".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let result = run_while_drawing(&jobs, "upper", NOTE)?.result;
    println!("upper, new version:\n      {}", show(&result));

    let back = host.rollback("upper")?;
    let result = run_while_drawing(&jobs, "upper", NOTE)?.result;
    println!(
        "\nrolled back to {}:\n      {}",
        back.short(),
        show(&result)
    );
    Ok(())
}
