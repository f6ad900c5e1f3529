//! Unit tests of the std host services.
#![expect(
    clippy::expect_used,
    reason = "tests fail loudly on a broken fixture; the behaviour under test is asserted separately"
)]

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade::{Clock, KvError, KvStore, RandomSource};

use crate::{FileKv, OsRandom, StdClock, TracingLog};

fn get(kv: &FileKv, tenant: &str, key: &[u8]) -> Option<Vec<u8>> {
    let mut out = None;
    let found = kv
        .get(tenant, key, &mut |v| out = Some(v.to_vec()))
        .expect("get");
    assert_eq!(found, out.is_some());
    out
}

fn log_file(dir: &std::path::Path, tenant: &str) -> std::path::PathBuf {
    let name: String = tenant.bytes().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{name}.pkv"))
}

#[test]
fn std_clock_is_monotonic_and_moves() {
    let clock = StdClock::new();
    let a = clock.now();
    std::thread::sleep(Duration::from_millis(5));
    let b = clock.now();
    assert!(b.saturating_since(a) >= Duration::from_millis(5));
}

#[test]
fn os_random_fills_differently_each_time() {
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    OsRandom.fill(&mut a).expect("random");
    OsRandom.fill(&mut b).expect("random");
    assert_ne!(a, b);
    assert_ne!(a, [0u8; 32]);
}

#[test]
fn file_kv_persists_across_reopen() {
    let dir = tempfile::tempdir().expect("dir");
    {
        let kv = FileKv::open(dir.path()).expect("open");
        kv.set("acme", b"a", b"1").expect("set");
        kv.set("acme", b"b", b"2").expect("set");
        kv.set("acme", b"a", b"one").expect("overwrite");
        assert!(kv.delete("acme", b"b").expect("delete"));
        assert!(!kv.delete("acme", b"zzz").expect("delete absent"));
        kv.set("globex", b"a", b"theirs").expect("set");
    }
    let kv = FileKv::open(dir.path()).expect("reopen");
    assert_eq!(get(&kv, "acme", b"a").as_deref(), Some(&b"one"[..]));
    assert_eq!(get(&kv, "acme", b"b"), None);
    assert_eq!(get(&kv, "globex", b"a").as_deref(), Some(&b"theirs"[..]));
    assert_eq!(kv.used_bytes("acme").expect("used"), 4);
}

#[test]
fn file_kv_survives_a_write_torn_by_a_crash() {
    let dir = tempfile::tempdir().expect("dir");
    {
        let kv = FileKv::open(dir.path()).expect("open");
        kv.set("t", b"kept", b"safe").expect("set");
    }
    // A crash mid-append: half a record (a length, a checksum, part of the body).
    let path = log_file(dir.path(), "t");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("log");
    f.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, 1, 3, 0, b'n'])
        .expect("torn write");
    drop(f);
    let kv = FileKv::open(dir.path()).expect("reopen after crash");
    assert_eq!(get(&kv, "t", b"kept").as_deref(), Some(&b"safe"[..]));
    assert_eq!(get(&kv, "t", b"new"), None);
    // The torn tail is gone and new writes land on a clean boundary.
    kv.set("t", b"after", b"crash").expect("set after recovery");
    drop(kv);
    let kv = FileKv::open(dir.path()).expect("reopen");
    assert_eq!(get(&kv, "t", b"after").as_deref(), Some(&b"crash"[..]));
    assert_eq!(get(&kv, "t", b"kept").as_deref(), Some(&b"safe"[..]));
}

#[test]
fn file_kv_drops_a_record_whose_checksum_fails() {
    let dir = tempfile::tempdir().expect("dir");
    {
        let kv = FileKv::open(dir.path()).expect("open");
        kv.set("t", b"a", b"first").expect("set");
        kv.set("t", b"b", b"second").expect("set");
    }
    let path = log_file(dir.path(), "t");
    let mut bytes = std::fs::read(&path).expect("log");
    if let Some(last) = bytes.last_mut() {
        *last ^= 0xff; // flip the last value byte of the last record
    }
    std::fs::write(&path, &bytes).expect("corrupt");
    let kv = FileKv::open(dir.path()).expect("reopen");
    assert_eq!(get(&kv, "t", b"a").as_deref(), Some(&b"first"[..]));
    assert_eq!(
        get(&kv, "t", b"b"),
        None,
        "a corrupt record is never served"
    );
}

#[test]
fn file_kv_enforces_its_quota_per_tenant() {
    let dir = tempfile::tempdir().expect("dir");
    let kv = FileKv::open_with_quota(dir.path(), 10).expect("open");
    kv.set("a", b"k", b"123456789").expect("exactly the quota");
    assert_eq!(kv.set("a", b"k2", b"x"), Err(KvError::Quota));
    kv.set("b", b"k", b"123456789")
        .expect("another tenant has its own quota");
    kv.set("a", b"k", b"1").expect("overwriting frees space");
    kv.set("a", b"k2", b"x").expect("now it fits");
}

#[test]
fn file_kv_compacts_without_losing_data() {
    let dir = tempfile::tempdir().expect("dir");
    let value = vec![7u8; 1000];
    {
        let kv = FileKv::open(dir.path()).expect("open");
        for i in 0..300u32 {
            kv.set("t", b"hot", &value).expect("overwrite");
            kv.set("t", &i.to_le_bytes(), b"v").expect("small");
        }
    }
    let len = std::fs::metadata(log_file(dir.path(), "t"))
        .expect("log")
        .len();
    assert!(len < 64 << 10, "the log was compacted: {len} bytes");
    let kv = FileKv::open(dir.path()).expect("reopen");
    assert_eq!(get(&kv, "t", b"hot"), Some(value));
    assert_eq!(
        get(&kv, "t", &299u32.to_le_bytes()).as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(
        get(&kv, "t", &0u32.to_le_bytes()).as_deref(),
        Some(&b"v"[..])
    );
}

#[test]
fn file_kv_is_owned_by_one_process_and_names_files_safely() {
    let dir = tempfile::tempdir().expect("dir");
    let kv = FileKv::open(dir.path()).expect("open");
    let err = FileKv::open(dir.path()).expect_err("second owner refused");
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
    kv.set("../../etc/passwd", b"k", b"v")
        .expect("odd tenant id");
    let long = "x".repeat(300);
    kv.set(&long, b"k", b"v").expect("long tenant id");
    for entry in std::fs::read_dir(dir.path()).expect("list") {
        let name = entry.expect("entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            name == "LOCK" || name.ends_with(".pkv") && !name.contains('/') && name.len() < 120,
            "{name}"
        );
    }
    assert_eq!(get(&kv, &long, b"k").as_deref(), Some(&b"v"[..]));
}

/// Collects what a `tracing` subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn guest_log_lines_reach_tracing_tagged_with_tenant_and_digest() {
    let wasm = wat::parse_str(
        r#"(module
          (import "palisade" "log" (func $log (param i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 16) "hello from the guest")
          (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
          (func (export "run") (param i32 i32) (result i32)
            (drop (call $log (i32.const 1) (i32.const 16) (i32.const 20))) (i32.const 0))
          (@custom "palisade.abi" "\01\00\00\00"))"#,
    )
    .expect("WAT");
    let runtime = palisade::Runtime::builder(Arc::new(StdClock::new()))
        .log_sink(Arc::new(TracingLog))
        .build()
        .expect("runtime");
    let module = runtime.compile(&wasm).expect("compile");
    let tenant = runtime.tenant("acme").grant("log").build().expect("tenant");
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        runtime
            .call(&module, &tenant, "run", b"")
            .result
            .expect("call");
    });
    let text =
        String::from_utf8(captured.0.lock().map(|v| v.clone()).unwrap_or_default()).expect("utf-8");
    assert!(text.contains("WARN"), "{text}");
    assert!(text.contains("hello from the guest"), "{text}");
    assert!(
        text.contains("tenant=\"acme\"") || text.contains("tenant=acme"),
        "{text}"
    );
    assert!(
        text.contains(&module.digest().short().to_string()),
        "{text}"
    );
}

/// Runs the hostile `log_forge` guest (`run`: a forged host line after a newline, then ANSI
/// escapes and a bidi override) under `subscriber` and returns what it wrote.
fn forge_into(subscriber: impl tracing::Subscriber + Send + Sync, captured: &Captured) -> String {
    let runtime = palisade::Runtime::builder(Arc::new(StdClock::new()))
        .log_sink(Arc::new(TracingLog))
        .build()
        .expect("runtime");
    let module = runtime
        .compile(palisade_guest_artifacts::hostile::LOG_FORGE)
        .expect("compile");
    let tenant = runtime.tenant("acme").grant("log").build().expect("tenant");
    tracing::subscriber::with_default(subscriber, || {
        runtime
            .call(&module, &tenant, "run", b"")
            .result
            .expect("call");
    });
    String::from_utf8(captured.0.lock().map(|v| v.clone()).unwrap_or_default()).expect("utf-8")
}

const FORGED: &str = r"ok\n[admin 00000000] error: forged line";
const ANSI: &str = r"\x1b[2J\x1b[31mcleared\u{202e}txt.exe";

#[test]
fn a_forged_guest_line_is_one_escaped_line_in_the_text_format() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let text = forge_into(subscriber, &captured);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let forged = lines.first().expect("the forged line");
    let ansi = lines.get(1).expect("the ANSI line");
    assert!(forged.contains(FORGED) && forged.contains("acme"), "{text}");
    assert!(ansi.contains(ANSI), "{text}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202e}'),
        "{text}"
    );
}

#[test]
fn a_forged_guest_line_is_one_escaped_line_in_the_json_format() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .json()
        .flatten_event(true)
        .finish();
    let text = forge_into(subscriber, &captured);
    let messages: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON object per line");
            assert_eq!(
                v.get("tenant").and_then(|t| t.as_str()),
                Some("acme"),
                "{l}"
            );
            v.get("message")
                .and_then(|m| m.as_str())
                .expect("message")
                .to_owned()
        })
        .collect();
    // The decoded message is the escaped text too, so a viewer printing it stays safe.
    assert_eq!(messages, [FORGED, ANSI], "{text}");
}

#[test]
fn file_kv_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("dir");
    palisade_testkit::kv::conformance(&FileKv::open_with_quota(dir.path(), 4096).expect("open"));
    // Once more after reopening: the state the suite left is read back from the logs.
    palisade_testkit::kv::conformance(&FileKv::open_with_quota(dir.path(), 4096).expect("reopen"));
}
