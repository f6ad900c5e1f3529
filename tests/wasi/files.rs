//! The read-only preopened directory (`files.read`, `docs/WASI.md`): the one place a WASI
//! guest reaches files, served by the host's `WasiFiles`, shown only to granted tenants, never
//! written, and never left through `..`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use palisade::wasi::{self, FileError, WasiFiles};
use palisade::{ErrorKind, ManualClock, Runtime, SeededRandom};
use palisade_guest_artifacts::WASI_TOUR;

use crate::command;

/// Files in memory; records every path it is asked for.
#[derive(Default)]
struct MapFiles {
    files: BTreeMap<&'static str, &'static [u8]>,
    asked: Mutex<Vec<String>>,
}

impl WasiFiles for MapFiles {
    fn read(&self, _tenant: &str, path: &str, max: usize) -> Result<Vec<u8>, FileError> {
        self.asked.lock().unwrap().push(path.to_owned());
        match self.files.get(path) {
            Some(b) if b.len() > max => Err(FileError::TooLarge),
            Some(b) => Ok(b.to_vec()),
            None if path == "sub" => Err(FileError::IsDirectory),
            None => Err(FileError::NotFound),
        }
    }
}

fn runtime(files: &Arc<MapFiles>) -> Runtime {
    Runtime::builder(Arc::new(ManualClock::new()))
        .random(Arc::new(SeededRandom::new(7)))
        .wasi_files(files.clone())
        .build()
        .unwrap()
}

fn files() -> Arc<MapFiles> {
    Arc::new(MapFiles {
        files: BTreeMap::from([("a.txt", &b"alpha"[..]), ("sub/b.txt", &b"beta\n"[..])]),
        asked: Mutex::default(),
    })
}

/// Runs `wasi_tour cat PATHS...`; the exit status (0 = success) and stdout.
fn cat(rt: &Runtime, grants: &[&str], paths: &[&str]) -> (i32, String) {
    let m = rt.compile(WASI_TOUR).unwrap();
    let t = rt
        .tenant("t")
        .grant_all(grants.iter().copied())
        .wasi_args(["wasi_tour", "cat"].iter().chain(paths))
        .build()
        .unwrap();
    match rt.call(&m, &t, wasi::START, b"").result {
        Ok(out) => (0, String::from_utf8(out).unwrap()),
        Err(e) => match e.kind() {
            ErrorKind::GuestError { code, .. } => (*code, String::new()),
            other => panic!("cat {paths:?}: {other:?}"),
        },
    }
}

#[test]
fn a_granted_rust_program_reads_files_with_std_fs() {
    let files = files();
    let rt = runtime(&files);
    assert_eq!(
        cat(&rt, &["files.read"], &["/data/a.txt", "/data/sub/b.txt"]),
        (
            0,
            "/data/a.txt: 5 bytes: alpha\n/data/sub/b.txt: 5 bytes: beta\n\n".to_owned()
        )
    );
    assert_eq!(*files.asked.lock().unwrap(), ["a.txt", "sub/b.txt"]);
}

#[test]
fn without_the_grant_there_is_no_directory_and_the_service_is_never_asked() {
    let files = files();
    let rt = runtime(&files);
    assert_eq!(cat(&rt, &[], &["/data/a.txt"]).0, 3);
    assert!(files.asked.lock().unwrap().is_empty());
}

#[test]
fn paths_that_leave_the_directory_never_reach_the_service() {
    let files = files();
    let rt = runtime(&files);
    for path in ["/data/../etc/passwd", "/etc/passwd", "/data/sub/../../x"] {
        assert_eq!(cat(&rt, &["files.read"], &[path]).0, 3, "{path}");
    }
    assert!(
        files
            .asked
            .lock()
            .unwrap()
            .iter()
            .all(|p| !p.contains("..")),
        "{:?}",
        files.asked.lock().unwrap()
    );
    // A missing file and a directory are the service's own answers.
    assert_eq!(cat(&rt, &["files.read"], &["/data/nope"]).0, 3);
    assert_eq!(cat(&rt, &["files.read"], &["/data/sub"]).0, 3);
}

/// The errno of `path_open` of `a.txt` in fd 3 with `oflags`, `rights` and `fdflags` (the
/// guest exits with it).
fn open_errno(oflags: i32, rights: i64, fdflags: i32) -> i32 {
    let files = files();
    let rt = runtime(&files);
    let wasm = command(
        r#"(import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (data (i32.const 100) "a.txt")"#,
        &format!(
            "(call $exit (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 5)
               (i32.const {oflags}) (i64.const {rights}) (i64.const 0) (i32.const {fdflags}) (i32.const 200)))"
        ),
    );
    let m = rt.compile(&wasm).unwrap();
    let t = rt.tenant("t").grant("files.read").build().unwrap();
    match rt.call(&m, &t, wasi::START, b"").result {
        Ok(_) => 0,
        Err(e) => match e.kind() {
            ErrorKind::GuestError { code, .. } => *code,
            other => panic!("{other:?}"),
        },
    }
}

#[test]
fn the_directory_is_read_only() {
    const FD_READ_RIGHT: i64 = 1 << 1;
    const FD_WRITE_RIGHT: i64 = 1 << 6;
    assert_eq!(open_errno(0, FD_READ_RIGHT, 0), 0);
    for (oflags, rights, fdflags) in [
        (1, FD_READ_RIGHT, 0),  // O_CREAT
        (8, FD_READ_RIGHT, 0),  // O_TRUNC
        (0, FD_WRITE_RIGHT, 0), // asks to write
        (0, FD_READ_RIGHT, 1),  // O_APPEND
    ] {
        assert_eq!(
            open_errno(oflags, rights, fdflags),
            wasi::errno::ROFS,
            "{oflags} {rights} {fdflags}"
        );
    }
}
