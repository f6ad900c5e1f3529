//! The preopened directory (`files.read`, `files.write`, `docs/WASI.md`): the one place a WASI
//! guest reaches files, served by the host's `WasiFiles`, shown only to granted tenants,
//! written only with `files.write` on a writable runtime, within quotas, and never left
//! through `..`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use palisade::wasi::{self, FileError, WasiFiles};
use palisade::{ErrorKind, ManualClock, Runtime, SeededRandom};
use palisade_guest_artifacts::WASI_TOUR;

use crate::command;

/// Files in memory; records every path it is asked for (reads and changes alike).
#[derive(Default)]
struct MapFiles {
    files: Mutex<BTreeMap<String, Vec<u8>>>,
    dirs: Mutex<BTreeSet<String>>,
    asked: Mutex<Vec<String>>,
}

impl MapFiles {
    fn ask(&self, path: &str) {
        self.asked.lock().unwrap().push(path.to_owned());
    }

    fn get(&self, path: &str) -> Option<Vec<u8>> {
        self.files.lock().unwrap().get(path).cloned()
    }

    fn parent_exists(&self, path: &str) -> bool {
        path.rsplit_once('/')
            .is_none_or(|(dir, _)| self.dirs.lock().unwrap().contains(dir))
    }
}

impl WasiFiles for MapFiles {
    fn read(&self, _tenant: &str, path: &str, max: usize) -> Result<Vec<u8>, FileError> {
        self.ask(path);
        match self.get(path) {
            Some(b) if b.len() > max => Err(FileError::TooLarge),
            Some(b) => Ok(b),
            None if self.dirs.lock().unwrap().contains(path) => Err(FileError::IsDirectory),
            None => Err(FileError::NotFound),
        }
    }

    fn write(&self, _tenant: &str, path: &str, contents: &[u8]) -> Result<(), FileError> {
        self.ask(path);
        if !self.parent_exists(path) {
            return Err(FileError::NotFound);
        }
        self.files
            .lock()
            .unwrap()
            .insert(path.to_owned(), contents.to_vec());
        Ok(())
    }

    fn create_dir(&self, _tenant: &str, path: &str) -> Result<(), FileError> {
        self.ask(path);
        if self.get(path).is_some() || !self.dirs.lock().unwrap().insert(path.to_owned()) {
            return Err(FileError::Exists);
        }
        Ok(())
    }

    fn remove_file(&self, _tenant: &str, path: &str) -> Result<(), FileError> {
        self.ask(path);
        self.files
            .lock()
            .unwrap()
            .remove(path)
            .map(drop)
            .ok_or(FileError::NotFound)
    }

    fn remove_dir(&self, _tenant: &str, path: &str) -> Result<(), FileError> {
        self.ask(path);
        let prefix = format!("{path}/");
        if self
            .files
            .lock()
            .unwrap()
            .keys()
            .any(|k| k.starts_with(&prefix))
        {
            return Err(FileError::NotEmpty);
        }
        if self.dirs.lock().unwrap().remove(path) {
            Ok(())
        } else {
            Err(FileError::NotFound)
        }
    }

    fn rename(&self, _tenant: &str, from: &str, to: &str) -> Result<(), FileError> {
        self.ask(from);
        self.ask(to);
        let mut files = self.files.lock().unwrap();
        let data = files.remove(from).ok_or(FileError::NotFound)?;
        files.insert(to.to_owned(), data);
        Ok(())
    }
}

fn runtime(files: &Arc<MapFiles>) -> Runtime {
    Runtime::builder(Arc::new(ManualClock::new()))
        .random(Arc::new(SeededRandom::new(7)))
        .wasi_files(files.clone())
        .build()
        .unwrap()
}

fn writable_runtime(files: &Arc<MapFiles>) -> Runtime {
    Runtime::builder(Arc::new(ManualClock::new()))
        .random(Arc::new(SeededRandom::new(7)))
        .wasi_files_writable(files.clone())
        .build()
        .unwrap()
}

fn files() -> Arc<MapFiles> {
    let files = MapFiles::default();
    files.dirs.lock().unwrap().insert("sub".to_owned());
    {
        let mut map = files.files.lock().unwrap();
        map.insert("a.txt".to_owned(), b"alpha".to_vec());
        map.insert("sub/b.txt".to_owned(), b"beta\n".to_vec());
    }
    Arc::new(files)
}

/// Runs `wasi_tour cat PATHS...`; the exit status (0 = success) and stdout.
fn cat(rt: &Runtime, grants: &[&str], paths: &[&str]) -> (i32, String) {
    tour(rt, grants, &[&["cat"], paths].concat(), b"")
}

/// Runs `wasi_tour ARGS...` with `input`; the exit status (0 = success) and stdout.
fn tour(rt: &Runtime, grants: &[&str], args: &[&str], input: &[u8]) -> (i32, String) {
    let m = rt.compile(WASI_TOUR).unwrap();
    let t = rt
        .tenant("t")
        .grant_all(grants.iter().copied())
        .wasi_args(["wasi_tour"].iter().chain(args))
        .build()
        .unwrap();
    match rt.call(&m, &t, wasi::START, input).result {
        Ok(out) => (0, String::from_utf8(out).unwrap()),
        Err(e) => match e.kind() {
            ErrorKind::GuestError { code, .. } => (*code, String::new()),
            other => panic!("{args:?}: {other:?}"),
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

const RW: &[&str] = &["files.read", "files.write"];

#[test]
fn a_granted_rust_program_writes_appends_renames_and_removes_with_std_fs() {
    let files = files();
    let rt = writable_runtime(&files);
    assert_eq!(
        tour(&rt, RW, &["write", "/data/new.txt"], b"hello"),
        (0, "wrote 5 bytes to /data/new.txt\n".to_owned())
    );
    assert_eq!(files.get("new.txt").as_deref(), Some(&b"hello"[..]));
    assert_eq!(tour(&rt, RW, &["append", "/data/new.txt"], b" world").0, 0);
    assert_eq!(files.get("new.txt").as_deref(), Some(&b"hello world"[..]));
    // Writing replaces: `std::fs::write` truncates.
    assert_eq!(tour(&rt, RW, &["write", "/data/a.txt"], b"A").0, 0);
    assert_eq!(files.get("a.txt").as_deref(), Some(&b"A"[..]));
    assert_eq!(
        tour(&rt, RW, &["mkdir", "/data/d"], b""),
        (0, "ok\n".into())
    );
    assert_eq!(tour(&rt, RW, &["mkdir", "/data/d"], b"").0, 3, "exists");
    assert_eq!(
        tour(&rt, RW, &["mv", "/data/new.txt", "/data/d/n.txt"], b""),
        (0, "ok\n".into())
    );
    assert_eq!(files.get("d/n.txt").as_deref(), Some(&b"hello world"[..]));
    assert_eq!(files.get("new.txt"), None);
    assert_eq!(tour(&rt, RW, &["rmdir", "/data/d"], b"").0, 3, "not empty");
    assert_eq!(tour(&rt, RW, &["rm", "/data/d/n.txt"], b"").0, 0);
    assert_eq!(tour(&rt, RW, &["rmdir", "/data/d"], b"").0, 0);
    assert!(files.dirs.lock().unwrap().iter().all(|d| d != "d"));
    // And reads what it wrote.
    assert_eq!(
        cat(&rt, RW, &["/data/a.txt"]),
        (0, "/data/a.txt: 1 bytes: A\n".to_owned())
    );
}

#[test]
fn writing_needs_files_write_and_a_writable_runtime() {
    // Granted only `files.read` on a writable runtime: nothing changes, the service is never
    // asked to write.
    let files = files();
    let rt = writable_runtime(&files);
    for args in [
        &["write", "/data/a.txt"][..],
        &["append", "/data/new.txt"],
        &["mkdir", "/data/d"],
        &["rm", "/data/a.txt"],
        &["mv", "/data/a.txt", "/data/b.txt"],
    ] {
        assert_eq!(tour(&rt, &["files.read"], args, b"x").0, 3, "{args:?}");
    }
    assert_eq!(files.get("a.txt").as_deref(), Some(&b"alpha"[..]));
    assert_eq!(files.files.lock().unwrap().len(), 2);
    // `files.write` alone shows no directory at all.
    assert_eq!(
        tour(&rt, &["files.write"], &["write", "/data/x"], b"x").0,
        3
    );
    assert!(files.asked.lock().unwrap().is_empty());
    // A read-only runtime has no `files.write` to grant.
    let ro = runtime(&files);
    assert!(ro.capabilities().all(|c| c != wasi::FILES_WRITE));
    assert!(ro.tenant("t").grant(wasi::FILES_WRITE).build().is_err());
}

#[test]
fn writes_never_leave_the_directory() {
    let files = files();
    let rt = writable_runtime(&files);
    for path in ["/data/../x", "/etc/passwd", "/data/sub/../../x", "/x"] {
        assert_eq!(tour(&rt, RW, &["write", path], b"owned").0, 3, "{path}");
        assert_eq!(tour(&rt, RW, &["mkdir", path], b"").0, 3, "{path}");
        assert_eq!(
            tour(&rt, RW, &["mv", "/data/a.txt", path], b"").0,
            3,
            "{path}"
        );
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
    assert_eq!(files.get("a.txt").as_deref(), Some(&b"alpha"[..]));
    assert_eq!(files.files.lock().unwrap().len(), 2);
}

const PATH_OPEN: &str = r#"(import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"#;
const FD_CLOSE: &str =
    r#"(import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))"#;
const FD_SEEK: &str = r#"(import "wasi_snapshot_preview1" "fd_seek" (func $seek (param i32 i64 i32 i32) (result i32)))"#;

/// A command with 2 MiB of memory (a 1 MiB write buffer at 1 MiB) that opens `f0`, `f1`, ...
/// through `$open_n` (name at 100, `CREAT|TRUNC`, fd stored at 200).
fn file_program(body: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
          {PATH_OPEN} {FD_CLOSE} {FD_SEEK} {}
          {}
          (memory (export "memory") 32)
          (data (i32.const 100) "f0")
          ;; iovec at 300: the whole 1 MiB buffer at 1 MiB
          (data (i32.const 300) "\00\00\10\00\00\00\10\00")
          ;; iovec at 308: one byte at 1 MiB
          (data (i32.const 308) "\00\00\10\00\01\00\00\00")
          (func $open_n (param $n i32) (result i32)
            (i32.store8 (i32.const 101) (i32.add (i32.const 48) (local.get $n)))
            (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 2)
              (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 200)))
          (func $fd (result i32) (i32.load (i32.const 200)))
          (func $check (param $errno i32)
            (if (local.get $errno) (then (call $proc_exit (local.get $errno)))))
          (func (export "_start") {body}))"#,
        crate::FD_WRITE,
        crate::PROC_EXIT,
    );
    wat::parse_str(&text).unwrap_or_else(|e| panic!("bad test WAT: {e}\n{text}"))
}

/// Runs a [`file_program`] with `files.read` and `files.write`; `Ok(())` or the exit status.
fn run_file_program(files: &Arc<MapFiles>, body: &str) -> Result<(), i32> {
    let rt = writable_runtime(files);
    let m = rt.compile(&file_program(body)).unwrap();
    let t = rt
        .tenant("t")
        .grant_all(RW.iter().copied())
        .limits(palisade::Limits::builder().memory_bytes(4 << 20).build())
        .build()
        .unwrap();
    match rt.call(&m, &t, wasi::START, b"").result {
        Ok(_) => Ok(()),
        Err(e) => match e.kind() {
            ErrorKind::GuestError { code, .. } => Err(*code),
            other => panic!("{other:?}"),
        },
    }
}

#[test]
fn at_most_max_open_files_are_open_at_once() {
    let files = files();
    // 16 opens succeed; the 17th is EMFILE; after a close one more opens.
    let body = format!(
        r#"(local $i i32)
        (loop $more
          (call $check (call $open_n (local.get $i)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $more (i32.lt_u (local.get $i) (i32.const {max}))))
        (if (i32.ne (call $open_n (i32.const 40)) (i32.const {mfile})) (then (call $proc_exit (i32.const 100))))
        (call $check (call $close (i32.const 4)))
        (call $check (call $open_n (i32.const 40)))"#,
        max = wasi::MAX_OPEN_FILES,
        mfile = wasi::errno::MFILE,
    );
    assert_eq!(run_file_program(&files, &body), Ok(()));
    // Every file opened with `CREAT` exists afterwards, empty (the last as `fX`, 48 + 40).
    let names: Vec<String> = files.files.lock().unwrap().keys().cloned().collect();
    assert_eq!(names.len(), 2 + wasi::MAX_OPEN_FILES + 1, "{names:?}");
    assert_eq!(files.get("fX").as_deref(), Some(&[][..]));
}

#[test]
fn a_call_writes_at_most_max_write_bytes_and_no_file_grows_past_max_file_bytes() {
    let files = files();
    // Four files of 1 MiB each (the quota), then a fifth write is EDQUOT.
    let body = r#"(local $i i32)
        (loop $more
          (call $check (call $open_n (local.get $i)))
          (call $check (call $fd_write (call $fd) (i32.const 300) (i32.const 1) (i32.const 400)))
          (call $check (call $close (call $fd)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $more (i32.lt_u (local.get $i) (i32.const 4))))
        (call $check (call $open_n (i32.const 4)))
        (call $proc_exit (call $fd_write (call $fd) (i32.const 308) (i32.const 1) (i32.const 400)))"#;
    assert_eq!(
        run_file_program(&files, body),
        Err(wasi::errno::DQUOT),
        "MAX_WRITE_BYTES is {}",
        wasi::MAX_WRITE_BYTES
    );
    assert_eq!(files.get("f3").map(|f| f.len()), Some(wasi::MAX_FILE_BYTES));
    // One byte past MAX_FILE_BYTES: EFBIG, and the file is left as it was.
    let files = self::files();
    let body = format!(
        r#"(call $check (call $open_n (i32.const 0)))
        (call $check (call $seek (call $fd) (i64.const {max}) (i32.const 0) (i32.const 400)))
        (call $proc_exit (call $fd_write (call $fd) (i32.const 308) (i32.const 1) (i32.const 400)))"#,
        max = wasi::MAX_FILE_BYTES,
    );
    assert_eq!(run_file_program(&files, &body), Err(wasi::errno::FBIG));
}

#[test]
fn a_file_left_open_is_written_back_only_if_the_call_succeeds() {
    // Written, not closed, and the call returns: written back at the end.
    let files = files();
    let body = r#"(call $check (call $open_n (i32.const 0)))
        (call $check (call $fd_write (call $fd) (i32.const 308) (i32.const 1) (i32.const 400)))"#;
    assert_eq!(run_file_program(&files, body), Ok(()));
    assert_eq!(files.get("f0").as_deref(), Some(&[0u8][..]));
    // The same, then the guest fails: what it wrote to the open file is discarded (the file
    // was created at open, empty, and stays so).
    let files = self::files();
    let failing = format!("{body} (call $proc_exit (i32.const 9))");
    assert_eq!(run_file_program(&files, &failing), Err(9));
    assert_eq!(files.get("f0").as_deref(), Some(&[][..]));
}
