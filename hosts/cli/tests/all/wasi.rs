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
