//! `ScriptHost`: loading a folder, hot reload, rollback, typed calls, deadlines.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use palisade::ErrorKind;
use palisade_desktop::{ScriptError, ScriptHost};
use tempfile::TempDir;

use crate::fixtures::{self, ECHO, KV_READER, SPIN};

fn folder(manifest: &str, files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("palisade.toml"), manifest).expect("manifest");
    for (name, wat) in files {
        std::fs::write(dir.path().join(name), wat).expect("script");
    }
    dir
}

fn text(host: &ScriptHost, name: &str) -> String {
    let out = host.call_raw(name, b"").expect("call succeeds");
    String::from_utf8(out).expect("utf-8")
}

/// Rewrites a script file (as an editor would: a new file renamed over the old one).
fn rewrite(dir: &Path, name: &str, content: &str) {
    let tmp = dir.join(format!("{name}.swp"));
    std::fs::write(&tmp, content).expect("write");
    std::fs::rename(&tmp, dir.join(name)).expect("rename");
}

const GREET: &str = "[scripts.greet]\nfile = \"greet.wat\"\n";

#[test]
fn a_changed_script_is_reloaded_without_restarting_and_can_be_rolled_back() {
    let dir = folder(
        GREET,
        &[("greet.wat", &fixtures::constant("greet", "hello v1"))],
    );
    let host = ScriptHost::open(dir.path()).expect("loads");
    assert_eq!(text(&host, "greet"), "hello v1");
    let v1 = host.active("greet").expect("active");
    assert!(host.reload().is_empty(), "nothing changed yet");

    rewrite(
        dir.path(),
        "greet.wat",
        &fixtures::constant("greet", "hello v2!"),
    );
    let report = host.reload();
    assert_eq!(report.updated.len(), 1, "{report:?}");
    assert_eq!(text(&host, "greet"), "hello v2!");
    let v2 = host.active("greet").expect("active");
    assert_ne!(v1, v2);
    assert_eq!(report.updated.first().map(|(_, d)| *d), Some(v2));
    assert_eq!(host.previous("greet").expect("versions"), vec![v1]);
    let call = host.call_bytes("greet", b"").expect("known script");
    assert_eq!(
        call.report.digest, v2,
        "the report names the version that ran"
    );

    assert_eq!(host.rollback("greet").expect("rollback"), v1);
    assert_eq!(text(&host, "greet"), "hello v1");
    // The file still holds v2, but a reload does not undo the rollback.
    assert!(host.reload().updated.is_empty());
    assert_eq!(text(&host, "greet"), "hello v1");
    assert!(matches!(
        host.rollback("greet"),
        Err(ScriptError::Registry { .. })
    ));
}

#[test]
fn the_watcher_picks_up_an_edit_on_its_own() {
    let dir = folder(
        GREET,
        &[("greet.wat", &fixtures::constant("greet", "before"))],
    );
    let host = Arc::new(ScriptHost::open(dir.path()).expect("loads"));
    let reloads = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&reloads);
    let _watcher = host.watch(Duration::from_millis(20), move |r| {
        seen.fetch_add(r.updated.len(), Ordering::SeqCst);
    });
    rewrite(
        dir.path(),
        "greet.wat",
        &fixtures::constant("greet", "after"),
    );
    let start = Instant::now();
    while text(&host, "greet") != "after" {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the edit was not picked up"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The watcher reports a reload only after it has released the new version, so the count
    // may lag the text by a moment: wait for it, then check nothing was reloaded twice.
    while reloads.load(Ordering::SeqCst) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the reload was not reported"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(reloads.load(Ordering::SeqCst), 1);
}

#[test]
fn a_broken_edit_keeps_the_last_good_version_running() {
    let dir = folder(
        GREET,
        &[("greet.wat", &fixtures::constant("greet", "good"))],
    );
    let host = ScriptHost::open(dir.path()).expect("loads");
    rewrite(dir.path(), "greet.wat", "(module (func $oops");
    let report = host.reload();
    assert!(report.updated.is_empty());
    assert!(
        matches!(report.failed.as_slice(), [ScriptError::Io { .. }]),
        "{report:?}"
    );
    assert_eq!(text(&host, "greet"), "good");
    // A module that breaks the contract is refused the same way.
    rewrite(dir.path(), "greet.wat", "(module)");
    let report = host.reload();
    assert!(matches!(
        report.failed.as_slice(),
        [ScriptError::Load { .. }]
    ));
    assert_eq!(text(&host, "greet"), "good");
    // A broken manifest is reported and the old one kept.
    std::fs::write(dir.path().join("palisade.toml"), "[scripts.greet\n").expect("write");
    let report = host.reload();
    assert!(matches!(
        report.failed.as_slice(),
        [ScriptError::Manifest { .. }]
    ));
    assert_eq!(text(&host, "greet"), "good");
}

#[test]
fn a_stuck_script_is_cut_off_at_its_deadline_and_the_host_keeps_serving() {
    let manifest = "[limits]\ndeadline_ms = 50\nfuel = 1000000000000\n\n\
                    [scripts.stuck]\nfile = \"spin.wat\"\n\n\
                    [scripts.echo]\nfile = \"echo.wat\"\n";
    let dir = folder(manifest, &[("spin.wat", SPIN), ("echo.wat", ECHO)]);
    let host = ScriptHost::open(dir.path()).expect("loads");
    let start = Instant::now();
    let err = host.call_raw("stuck", b"").expect_err("cut off");
    let took = start.elapsed();
    match &err {
        ScriptError::Call { error, report, .. } => {
            assert!(
                matches!(error.kind(), ErrorKind::DeadlineExceeded { .. }),
                "{err}"
            );
            assert!(report.fuel_used > 0);
        }
        other => panic_free_fail(other),
    }
    // Generous bound for a loaded CI machine; the point is that the call returns.
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(
        host.call_raw("echo", b"still here").expect("echo"),
        b"still here"
    );
}

fn panic_free_fail(e: &ScriptError) {
    assert!(
        matches!(e, ScriptError::Call { .. }),
        "unexpected error: {e}"
    );
}

#[test]
fn typed_calls_round_trip_through_postcard() {
    let dir = folder(
        "[scripts.echo]\nfile = \"echo.wat\"\n",
        &[("echo.wat", ECHO)],
    );
    let host = ScriptHost::open(dir.path()).expect("loads");
    let back: String = host.call("echo", "héllo typed").expect("typed call");
    assert_eq!(back, "héllo typed");
    let pair: (u32, Vec<u16>) = host.call("echo", &(7u32, vec![1u16, 2, 3])).expect("tuple");
    assert_eq!(pair, (7, vec![1, 2, 3]));
    let wrong: Result<(u64, u64, u64), _> = host.call("echo", &1u8);
    assert!(matches!(wrong, Err(ScriptError::Decode { .. })));
    assert!(matches!(
        host.call::<_, String>("nope", "x"),
        Err(ScriptError::UnknownScript { .. })
    ));
}

#[test]
fn grants_come_from_the_manifest_and_are_denied_by_default() {
    let denied = folder(
        "[scripts.kv]\nfile = \"kv.wat\"\n",
        &[("kv.wat", KV_READER)],
    );
    match ScriptHost::open(denied.path()) {
        Err(ScriptError::Load { script, error }) => {
            assert_eq!(script, "kv");
            assert!(
                matches!(error.kind(), ErrorKind::CapabilityDenied { capability, .. } if capability == "kv.read"),
                "{error}"
            );
        }
        other => panic_free_fail_host(other.err()),
    }
    let granted = folder(
        "[scripts.kv]\nfile = \"kv.wat\"\nallow = [\"kv.read\"]\n",
        &[("kv.wat", KV_READER)],
    );
    let host = ScriptHost::open(granted.path()).expect("loads with the grant");
    assert!(host.call_raw("kv", b"").is_ok());
}

fn panic_free_fail_host(e: Option<ScriptError>) {
    assert!(e.is_some(), "a script without its grant must not load");
    if let Some(e) = e {
        assert!(
            matches!(e, ScriptError::Load { .. }),
            "unexpected error: {e}"
        );
    }
}

#[test]
fn manifest_edits_add_and_remove_scripts() {
    let dir = folder(
        GREET,
        &[
            ("greet.wat", &fixtures::constant("greet", "hi")),
            ("bye.wat", &fixtures::constant("bye", "bye")),
        ],
    );
    let host = ScriptHost::open(dir.path()).expect("loads");
    std::fs::write(
        dir.path().join("palisade.toml"),
        "[scripts.bye]\nfile = \"bye.wat\"\n",
    )
    .expect("write");
    let report = host.reload();
    assert_eq!(report.added, vec![String::from("bye")]);
    assert_eq!(report.removed, vec![String::from("greet")]);
    assert_eq!(host.scripts(), vec![String::from("bye")]);
    assert_eq!(text(&host, "bye"), "bye");
}

/// A WASI command (docs/WASI.md) that copies stdin to stdout, 64 bytes at a time.
const WASI_CAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (block $eof (loop $more
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 64))
      (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br_if $eof (i32.eqz (i32.load (i32.const 8))))
      (i32.store (i32.const 4) (i32.load (i32.const 8)))
      (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))
      (br $more)))))"#;

#[test]
fn a_wasi_program_is_a_script_with_input_on_stdin_and_output_on_stdout() {
    let dir = folder(
        "[scripts.cat]\nfile = \"cat.wat\"\n",
        &[("cat.wat", WASI_CAT)],
    );
    let host = ScriptHost::open(dir.path()).expect("host");
    let input = "a line that is longer than sixty-four bytes, so that it takes two reads\n";
    let out = host.call_raw("cat", input.as_bytes()).expect("call");
    assert_eq!(String::from_utf8(out).expect("utf-8"), input);
}
