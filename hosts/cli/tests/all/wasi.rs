//! `palisade run` and `palisade inspect` with a WASI program (docs/WASI.md): the Rust
//! `wasm32-wasip1` guest `wasi-tour`, built from source by `palisade-guest-artifacts`.

use assert_cmd::Command;
use palisade_guest_artifacts::WASI_TOUR_PATH;
use predicates::prelude::*;

fn palisade() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.env_remove("RUST_BACKTRACE").env("NO_COLOR", "1");
    cmd
}

#[test]
fn run_passes_args_env_and_stdin_and_prints_stdout() {
    let assert = palisade()
        .args([
            "run",
            WASI_TOUR_PATH,
            "--env",
            "COLOR=blue",
            "--",
            "echo",
            "a b",
        ])
        .write_stdin("from stdin\n")
        .assert()
        .success();
    let out = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert_eq!(
        out,
        "args: wasi_tour.wasm echo a b\nenv: COLOR=blue\nFROM STDIN\n"
    );
}

#[test]
fn run_exits_with_the_programs_status() {
    palisade()
        .args(["run", WASI_TOUR_PATH, "--", "exit"])
        .write_stdin("3")
        .assert()
        .code(3)
        .stdout("")
        .stderr(predicate::str::contains("exiting with 3"));
}

#[test]
fn run_refuses_wasi_arguments_for_an_abi_guest() {
    palisade()
        .args(["run", palisade_guest_artifacts::SHA256_PATH, "--", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("are for WASI programs"));
}

#[test]
fn inspect_maps_wasi_imports_to_capabilities() {
    let assert = palisade()
        .args(["inspect", WASI_TOUR_PATH])
        .assert()
        .success();
    let out = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    for needle in [
        "none: a WASI preview1 guest",
        "wasi_snapshot_preview1.fd_write (function) -> WASI: stdout = the output",
        "wasi_snapshot_preview1.random_get (function) -> WASI: capability `random`",
        "ok (a WASI command",
    ] {
        assert!(out.contains(needle), "inspect lacks {needle:?}:\n{out}");
    }
}

#[test]
fn run_with_dir_serves_it_read_only_as_data_and_nothing_outside_it() -> std::io::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("notes.txt"), "from the host")?;
    let outside = tempfile::tempdir()?;
    std::fs::write(outside.path().join("secret"), "no")?;
    std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link"))?;
    palisade()
        .args(["run", WASI_TOUR_PATH, "--dir"])
        .arg(dir.path())
        .args(["--", "cat", "/data/notes.txt"])
        .write_stdin("")
        .assert()
        .success()
        .stdout("/data/notes.txt: 13 bytes: from the host\n");
    // A link out of the directory is refused; so is every path without --dir.
    palisade()
        .args(["run", WASI_TOUR_PATH, "--dir"])
        .arg(dir.path())
        .args(["--", "cat", "/data/link"])
        .write_stdin("")
        .assert()
        .code(3)
        .stdout(predicate::str::contains("bytes").not());
    palisade()
        .args(["run", WASI_TOUR_PATH, "--", "cat", "/data/notes.txt"])
        .write_stdin("")
        .assert()
        .code(3);
    Ok(())
}

#[test]
fn run_with_dir_rw_writes_inside_and_never_through_a_link_or_dot_dot() -> std::io::Result<()> {
    let dir = tempfile::tempdir()?;
    let outside = tempfile::tempdir()?;
    std::fs::write(outside.path().join("secret"), "keep")?;
    std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link"))?;
    std::os::unix::fs::symlink(outside.path(), dir.path().join("out"))?;
    let run = |args: &[&str], input: &str| {
        palisade()
            .args(["run", WASI_TOUR_PATH, "--dir-rw"])
            .arg(dir.path())
            .arg("--")
            .args(args)
            .write_stdin(input.to_owned())
            .assert()
    };
    run(&["write", "/data/new.txt"], "written by the guest")
        .success()
        .stdout("wrote 20 bytes to /data/new.txt\n");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("new.txt"))?,
        "written by the guest"
    );
    run(&["mkdir", "/data/d"], "").success().stdout("ok\n");
    run(&["mv", "/data/new.txt", "/data/d/moved.txt"], "")
        .success()
        .stdout("ok\n");
    assert!(dir.path().join("d/moved.txt").is_file());
    // Through a link to a file outside, into a linked directory outside, up with `..`: refused.
    for path in [
        "/data/link",
        "/data/out/secret",
        "/data/out/new",
        "/data/../escaped",
        "/data/d/../../escaped",
    ] {
        run(&["write", path], "owned").code(3);
    }
    run(&["mv", "/data/d/moved.txt", "/data/out/moved.txt"], "").code(3);
    assert_eq!(
        std::fs::read_to_string(outside.path().join("secret"))?,
        "keep"
    );
    assert_eq!(std::fs::read_dir(outside.path())?.count(), 1);
    assert!(
        !dir.path()
            .parent()
            .unwrap_or(dir.path())
            .join("escaped")
            .exists()
    );
    // --dir alone is read-only: the write is refused and nothing changes.
    palisade()
        .args(["run", WASI_TOUR_PATH, "--dir"])
        .arg(dir.path())
        .args(["--", "write", "/data/d/moved.txt"])
        .write_stdin("x")
        .assert()
        .code(3)
        .stdout(predicate::str::contains("read-only"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("d/moved.txt"))?,
        "written by the guest"
    );
    Ok(())
}

#[test]
fn run_streams_stdout_as_the_program_writes_it_and_reports_the_error_after() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    // `spin` prints a line, then loops until its fuel runs out: a fuel budget that takes the
    // interpreter a while, so the line must arrive while the program still runs.
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args([
            "run",
            WASI_TOUR_PATH,
            "--fuel",
            SPIN_FUEL,
            "--deadline",
            "120000",
        ])
        .args(["--", "spin"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("palisade runs");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("stdout reads");
    assert_eq!(first, "spinning\n");
    assert!(
        child.try_wait().expect("waits").is_none(),
        "the line arrived only after the program ended: stdout is not streamed"
    );
    let status = child.wait().expect("waits");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("stdout reads");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr)
        .expect("stderr reads");
    assert_eq!(rest, "", "nothing more on stdout");
    assert_eq!(status.code(), Some(9), "out of fuel; stderr: {stderr}");
    assert!(
        stderr.contains("palisade: error:") && stderr.contains("fuel"),
        "{stderr}"
    );
}

/// Fuel for `wasi_tour spin`: enough for the interpreter to loop for a second or more.
const SPIN_FUEL: &str = "1000000000";
