//! The `palisade` CLI: every subcommand, good and bad input. Bad input must give a clear
//! message, a documented non-zero exit code, and never a panic or a backtrace.

use std::path::Path;

use assert_cmd::Command;
use assert_cmd::assert::Assert;
use predicates::prelude::*;
use tempfile::TempDir;

use crate::fixtures::{self, ECHO, GROW, KV_PUT_GET, KV_READER, SPIN, TWO_ENTRIES, UNKNOWN_IMPORT};

pub(crate) fn palisade() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.env_remove("RUST_BACKTRACE").env("NO_COLOR", "1");
    cmd
}

/// Asserts a clean failure: the exit code, a message containing each of `needles`, and no
/// panic or backtrace anywhere.
pub(crate) fn fails(assert: Assert, code: i32, needles: &[&str]) -> Assert {
    let mut assert = assert
        .code(code)
        .stderr(predicate::str::contains("panicked").not())
        .stderr(predicate::str::contains("backtrace").not())
        .stderr(predicate::str::contains("internal error").not())
        .stderr(predicate::str::contains("palisade: error: "));
    for n in needles {
        assert = assert.stderr(predicate::str::contains(*n));
    }
    assert
}

pub(crate) fn tmp() -> TempDir {
    tempfile::tempdir().expect("temp dir")
}

pub(crate) fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

#[test]
fn help_documents_every_subcommand_and_the_exit_codes() {
    let assert = palisade().arg("--help").assert().success();
    let out = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    for needle in [
        "run",
        "inspect",
        "keygen",
        "pack",
        "verify",
        "demo",
        "remote",
        "Exit codes",
        "  9  the guest ran out of fuel",
        " 16  remote: no such plugin or version",
    ] {
        assert!(out.contains(needle), "--help lacks {needle:?}:\n{out}");
    }
    palisade()
        .args(["run", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--deadline").and(predicate::str::contains("Exit codes")));
}

#[test]
fn no_subcommand_is_a_usage_error() {
    palisade()
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Usage"));
}

#[test]
fn run_prints_output_and_a_one_line_report() {
    let dir = tmp();
    let module = fixtures::write_wasm(dir.path(), "echo.wasm", ECHO);
    let input = write(dir.path(), "in.txt", b"hello palisade");
    let digest = palisade::Digest::of(&fixtures::wasm(ECHO)).to_string();
    palisade()
        .args(["run"])
        .arg(&module)
        .arg("--input")
        .arg(&input)
        .assert()
        .success()
        .stdout("hello palisade")
        .stderr(
            predicate::str::contains("outcome=ok")
                .and(predicate::str::contains("fuel="))
                .and(predicate::str::contains("wall="))
                .and(predicate::str::contains("memory_high_water="))
                .and(predicate::str::contains(format!("digest={digest}"))),
        );
}

#[test]
fn run_reads_stdin_and_accepts_wat_text() {
    let dir = tmp();
    let module = write(dir.path(), "echo.wat", ECHO.as_bytes());
    palisade()
        .args(["run", "--input", "-"])
        .arg(&module)
        .write_stdin("from stdin")
        .assert()
        .success()
        .stdout("from stdin");
}

#[test]
fn run_json_reports_output_and_metrics() {
    let dir = tmp();
    let module = fixtures::write_wasm(dir.path(), "echo.wasm", ECHO);
    let assert = palisade()
        .args(["run", "--json", "--input", "-"])
        .arg(&module)
        .write_stdin("json!")
        .assert()
        .success();
    let v: serde_json::Value =
        serde_json::from_slice(&assert.get_output().stdout).expect("one JSON object");
    assert_eq!(v["output"], "json!");
    assert_eq!(v["report"]["outcome"], "ok");
    assert!(v["report"]["fuel_used"].as_u64().is_some_and(|f| f > 0));
    assert_eq!(
        v["report"]["digest"],
        palisade::Digest::of(&fixtures::wasm(ECHO)).to_string()
    );
}

#[test]
fn run_missing_file_says_to_check_the_path() {
    fails(
        palisade().args(["run", "/nonexistent/guest.wasm"]).assert(),
        1,
        &["cannot read /nonexistent/guest.wasm", "check the path"],
    );
}

#[test]
fn run_non_wasm_file_is_refused() {
    let dir = tmp();
    let bogus = write(
        dir.path(),
        "notes.wasm",
        b"these are my notes, not a module",
    );
    fails(
        palisade().arg("run").arg(&bogus).assert(),
        3,
        &["is not a WebAssembly module", "expected 00 61 73 6d"],
    );
    let empty = write(dir.path(), "empty.wasm", b"");
    fails(
        palisade().arg("run").arg(&empty).assert(),
        3,
        &["the file is empty"],
    );
}

#[test]
fn run_truncated_module_is_refused() {
    let dir = tmp();
    let wasm = fixtures::wasm(ECHO);
    let cut = wasm.get(..wasm.len() / 2).expect("half");
    let path = write(dir.path(), "cut.wasm", cut);
    fails(
        palisade().arg("run").arg(&path).assert(),
        3,
        &["invalid module", "not truncated"],
    );
}

#[test]
fn run_missing_capability_names_it_and_the_flag() {
    let dir = tmp();
    let module = fixtures::write_wasm(dir.path(), "kv.wasm", KV_READER);
    fails(
        palisade().arg("run").arg(&module).assert(),
        6,
        &["palisade.kv_get", "`kv.read`", "--allow kv.read"],
    );
    palisade()
        .arg("run")
        .arg(&module)
        .args(["--allow", "kv.read"])
        .assert()
        .success()
        .stderr(predicate::str::contains("outcome=ok"));
}

#[test]
fn run_kv_persists_between_runs_with_kv_dir() {
    let dir = tmp();
    let module = fixtures::write_wasm(dir.path(), "kv.wasm", KV_PUT_GET);
    let store = dir.path().join("store");
    palisade()
        .arg("run")
        .arg(&module)
        .args([
            "--entry",
            "put",
            "--allow",
            "kv.read,kv.write",
            "--input",
            "-",
            "--kv",
        ])
        .arg(&store)
        .write_stdin("kept on disk")
        .assert()
        .success();
    // A later process sees it; without --kv nothing is kept.
    palisade()
        .arg("run")
        .arg(&module)
        .args(["--entry", "get", "--allow", "kv.read,kv.write", "--kv"])
        .arg(&store)
        .assert()
        .success()
        .stdout("kept on disk");
    palisade()
        .arg("run")
        .arg(&module)
        .args(["--entry", "get", "--allow", "kv.read,kv.write"])
        .assert()
        .success()
        .stdout("");
}

#[test]
fn run_unknown_capability_lists_the_known_ones() {
    let dir = tmp();
    let module = fixtures::write_wasm(dir.path(), "echo.wasm", ECHO);
    fails(
        palisade()
            .arg("run")
            .arg(&module)
            .args(["--allow", "log,teleport"])
            .assert(),
        2,
        &["--allow teleport", "kv.read"],
    );
}

#[test]
fn run_input_over_the_cap_is_refused_before_running() {
    let dir = tmp();
    let module = fixtures::write_wasm(dir.path(), "echo.wasm", ECHO);
    let input = write(dir.path(), "big.bin", &[7u8; 17]);
    fails(
        palisade()
            .arg("run")
            .arg(&module)
            .arg("--input")
            .arg(&input)
            .args(["--max-input", "16"])
            .assert(),
        5,
        &["17 bytes, over the cap of 16 bytes", "--max-input"],
    );
    // The same through stdin, which is never read past the cap.
    fails(
        palisade()
            .arg("run")
            .arg(&module)
            .args(["--input", "-", "--max-input", "1KiB"])
            .write_stdin(vec![b'x'; 4096])
            .assert(),
        5,
        &["over the cap of 1024 bytes"],
    );
}

#[test]
fn run_entry_must_be_chosen_and_must_exist() {
    let dir = tmp();
    let module = fixtures::write_wasm(dir.path(), "two.wasm", TWO_ENTRIES);
    fails(
        palisade().arg("run").arg(&module).assert(),
        2,
        &["2 entry points (a, b)", "--entry NAME"],
    );
    fails(
        palisade()
            .arg("run")
            .arg(&module)
            .args(["--entry", "c"])
            .assert(),
        5,
        &["no entry point `c`", "a, b"],
    );
    palisade()
        .arg("run")
        .arg(&module)
        .args(["--entry", "b"])
        .assert()
        .success();
}

#[test]
fn run_exit_codes_tell_fuel_deadline_and_memory_apart() {
    let dir = tmp();
    let spin = fixtures::write_wasm(dir.path(), "spin.wasm", SPIN);
    fails(
        palisade()
            .arg("run")
            .arg(&spin)
            .args(["--fuel", "100000"])
            .assert(),
        9,
        &["ran out of fuel (budget 100000)", "raise the `fuel` limit"],
    )
    .stderr(predicate::str::contains("outcome=out_of_fuel"));
    fails(
        palisade()
            .arg("run")
            .arg(&spin)
            .args(["--fuel", "1000000000000", "--deadline", "30"])
            .assert(),
        10,
        &["exceeded its deadline of 30000 µs"],
    )
    .stderr(predicate::str::contains("outcome=deadline_exceeded"));
    let grow = fixtures::write_wasm(dir.path(), "grow.wasm", GROW);
    fails(
        palisade()
            .arg("run")
            .arg(&grow)
            .args(["--memory", "256KiB"])
            .assert(),
        11,
        &["memory cap of 262144 bytes"],
    );
    palisade()
        .arg("run")
        .arg(&grow)
        .args(["--memory", "lots"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`lots` is not a byte count; write e.g. 65536",
        ));
}

#[test]
fn inspect_shows_digest_abi_exports_imports_and_sections() {
    let dir = tmp();
    let module = fixtures::write_wasm(dir.path(), "kv.wasm", KV_READER);
    let digest = palisade::Digest::of(&fixtures::wasm(KV_READER)).to_string();
    palisade()
        .arg("inspect")
        .arg(&module)
        .assert()
        .success()
        .stdout(
            predicate::str::contains(format!("sha256:{digest}"))
                .and(predicate::str::contains("abi         1"))
                .and(predicate::str::contains("get (entry point)"))
                .and(predicate::str::contains("palisade_alloc (allocator)"))
                .and(predicate::str::contains(
                    "palisade.kv_get (function) -> capability `kv.read`",
                ))
                .and(predicate::str::contains("--allow kv.read"))
                .and(predicate::str::contains("palisade.abi (4 bytes)"))
                .and(predicate::str::contains("signature   none")),
        );
}

#[test]
fn inspect_marks_unknown_imports_and_fails_the_contract() {
    let dir = tmp();
    let module = fixtures::write_wasm(dir.path(), "odd.wasm", UNKNOWN_IMPORT);
    fails(
        palisade().arg("inspect").arg(&module).assert(),
        3,
        &["palisade.teleport"],
    )
    .stdout(predicate::str::contains(
        "palisade.teleport (function) -> UNKNOWN",
    ));
}

#[test]
fn inspect_bad_inputs_fail_cleanly() {
    let dir = tmp();
    fails(
        palisade().args(["inspect", "/nonexistent.wasm"]).assert(),
        1,
        &["check the path"],
    );
    let bogus = write(dir.path(), "x.wasm", b"\x7fELF....");
    fails(
        palisade().arg("inspect").arg(&bogus).assert(),
        3,
        &["not a WebAssembly module"],
    );
    let wasm = fixtures::wasm(ECHO);
    let cut = write(dir.path(), "cut.wasm", wasm.get(..20).expect("prefix"));
    fails(
        palisade().arg("inspect").arg(&cut).assert(),
        3,
        &["not a valid WebAssembly module", "not truncated"],
    );
}

#[test]
fn inspect_reports_a_start_function() {
    let dir = tmp();
    let with_start = ECHO.replacen("(memory", r#"(func $start) (start $start) (memory"#, 1);
    let module = fixtures::write_wasm(dir.path(), "start.wasm", &with_start);
    palisade()
        .arg("inspect")
        .arg(&module)
        .assert()
        .success()
        .stdout(predicate::str::contains("start       a start function"));
    let out = palisade()
        .args(["inspect", "--json"])
        .arg(&module)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("JSON");
    assert_eq!(v["start_function"], true);
    let plain = fixtures::write_wasm(dir.path(), "echo.wasm", ECHO);
    let out = palisade()
        .args(["inspect", "--json"])
        .arg(&plain)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("JSON");
    assert_eq!(v["start_function"], false);
}

#[test]
fn inspect_json_is_machine_readable() {
    let dir = tmp();
    let module = fixtures::write_wasm(dir.path(), "kv.wasm", KV_READER);
    let out = palisade()
        .args(["inspect", "--json"])
        .arg(&module)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("JSON");
    assert_eq!(v["kind"], "module");
    assert_eq!(v["needs"], serde_json::json!(["kv.read"]));
    assert_eq!(v["imports"][1]["capability"], "kv.read");
}

/// Makes a key pair in `dir`; returns (secret path, public path).
pub(crate) fn keygen(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = dir.join(name);
    palisade()
        .args(["keygen", "--out"])
        .arg(&key)
        .assert()
        .success()
        .stdout(predicate::str::contains("public key"));
    let mut public = key.clone().into_os_string();
    public.push(".pub");
    (key, public.into())
}

#[test]
fn keygen_writes_a_key_pair_and_never_overwrites_silently() {
    let dir = tmp();
    let (key, public) = keygen(dir.path(), "k");
    let text = std::fs::read_to_string(&public).expect("public key file");
    assert_eq!(text.trim().len(), 64);
    assert!(text.trim().bytes().all(|b| b.is_ascii_hexdigit()));
    let secret = std::fs::read_to_string(&key).expect("secret key file");
    assert_ne!(secret, text);
    fails(
        palisade().args(["keygen", "--out"]).arg(&key).assert(),
        1,
        &["already exists", "--force"],
    );
    assert_eq!(std::fs::read_to_string(&key).expect("still there"), secret);
}

#[test]
fn pack_verify_and_run_a_signed_bundle() {
    let dir = tmp();
    let (key, public) = keygen(dir.path(), "k");
    let module = fixtures::write_wasm(dir.path(), "echo.wasm", ECHO);
    let manifest = write(
        dir.path(),
        "echo.toml",
        b"name = \"echo\"\nversion = \"1.0.0\"\nprovenance = \"test\"\n[smoke]\nentry = \"echo\"\ninput = \"ping\"\nexpected = \"ping\"\n",
    );
    let bundle = dir.path().join("echo.bundle");
    palisade()
        .arg("pack")
        .arg(&module)
        .arg("--manifest")
        .arg(&manifest)
        .arg("--key")
        .arg(&key)
        .arg("--out")
        .arg(&bundle)
        .assert()
        .success()
        .stdout(predicate::str::contains("bundle echo 1.0.0 signed by"));
    palisade()
        .arg("verify")
        .arg(&bundle)
        .arg("--trust")
        .arg(&public)
        .assert()
        .success()
        .stdout(predicate::str::contains("verified: bundle echo 1.0.0"));
    palisade()
        .arg("inspect")
        .arg(&bundle)
        .arg("--trust")
        .arg(&public)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("kind        bundle")
                .and(predicate::str::contains("plugin      echo 1.0.0"))
                .and(predicate::str::contains("valid signature by trusted key")),
        );
    palisade()
        .arg("run")
        .arg(&bundle)
        .arg("--trust")
        .arg(&public)
        .args(["--input", "-", "--require-signed"])
        .write_stdin("via bundle")
        .assert()
        .success()
        .stdout("via bundle");
    // Signed by a key the runner was not told to trust.
    fails(
        palisade().arg("run").arg(&bundle).assert(),
        4,
        &["which this host does not trust", "--trust"],
    );
    // A bare module where a signature is required.
    fails(
        palisade()
            .arg("run")
            .arg(&module)
            .arg("--require-signed")
            .assert(),
        4,
        &["--require-signed accepts only signed bundles"],
    );
}

#[test]
fn forged_and_broken_bundles_are_refused() {
    let dir = tmp();
    let (key, public) = keygen(dir.path(), "k");
    let (_, other_public) = keygen(dir.path(), "other");
    let module = fixtures::write_wasm(dir.path(), "echo.wasm", ECHO);
    let bundle = dir.path().join("echo.bundle");
    palisade()
        .arg("pack")
        .arg(&module)
        .args(["--name", "echo", "--plugin-version", "2.0.0", "--key"])
        .arg(&key)
        .arg("--out")
        .arg(&bundle)
        .assert()
        .success();
    let good = std::fs::read(&bundle).expect("bundle");

    // Forge: change the version string inside the signed manifest.
    let mut forged = good.clone();
    let at = forged
        .windows(5)
        .position(|w| w == b"2.0.0")
        .expect("version in manifest");
    if let Some(b) = forged.get_mut(at) {
        *b = b'9';
    }
    let forged = write(dir.path(), "forged.bundle", &forged);
    fails(
        palisade()
            .arg("verify")
            .arg(&forged)
            .arg("--trust")
            .arg(&public)
            .assert(),
        4,
        &["signature does not verify"],
    );
    fails(
        palisade()
            .arg("run")
            .arg(&forged)
            .arg("--trust")
            .arg(&public)
            .assert(),
        4,
        &["signature does not verify"],
    );
    fails(palisade().arg("inspect").arg(&forged).assert(), 4, &[])
        .stdout(predicate::str::contains("INVALID"));

    // Swap the module bytes: the digest no longer matches the signed manifest.
    let mut swapped = good.clone();
    if let Some(last) = swapped.last_mut() {
        *last ^= 0x01;
    }
    let swapped = write(dir.path(), "swapped.bundle", &swapped);
    fails(
        palisade()
            .arg("verify")
            .arg(&swapped)
            .arg("--trust")
            .arg(&public)
            .assert(),
        4,
        &["digest"],
    );

    // Signed, but not by a trusted key.
    fails(
        palisade()
            .arg("verify")
            .arg(&bundle)
            .arg("--trust")
            .arg(&other_public)
            .assert(),
        4,
        &["does not trust", "--trust"],
    );

    // Truncated in transfer.
    let cut = write(
        dir.path(),
        "cut.bundle",
        good.get(..good.len() - 10).expect("prefix"),
    );
    fails(
        palisade()
            .arg("verify")
            .arg(&cut)
            .arg("--trust")
            .arg(&public)
            .assert(),
        3,
        &["truncated"],
    );

    // Not a bundle at all.
    fails(
        palisade()
            .arg("verify")
            .arg(&module)
            .arg("--trust")
            .arg(&public)
            .assert(),
        3,
        &["bare WebAssembly module, not a bundle", "palisade pack"],
    );
    fails(
        palisade()
            .args(["verify", "/nonexistent.bundle", "--trust"])
            .arg(&public)
            .assert(),
        1,
        &["check the path"],
    );
    // A garbage key file.
    let bad_key = write(dir.path(), "bad.pub", b"not a key");
    fails(
        palisade()
            .arg("verify")
            .arg(&bundle)
            .arg("--trust")
            .arg(&bad_key)
            .assert(),
        2,
        &["expected 64 hex digits", "palisade keygen"],
    );
}

#[test]
fn pack_refuses_a_manifest_that_hides_a_capability() {
    let dir = tmp();
    let module = fixtures::write_wasm(dir.path(), "kv.wasm", KV_READER);
    let manifest = write(
        dir.path(),
        "kv.toml",
        b"name = \"kv\"\nversion = \"1\"\ncapabilities = []\n",
    );
    let out = dir.path().join("kv.bundle");
    fails(
        palisade()
            .arg("pack")
            .arg(&module)
            .arg("--manifest")
            .arg(&manifest)
            .arg("--unsigned")
            .arg("--out")
            .arg(&out)
            .assert(),
        3,
        &["manifest does not match the module"],
    );
    assert!(
        !out.exists(),
        "no bundle is written when it would be refused"
    );
    // Without a manifest the capabilities are taken from the imports.
    palisade()
        .arg("pack")
        .arg(&module)
        .arg("--unsigned")
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("capabilities [kv.read]"));
    let bad_manifest = write(dir.path(), "bad.toml", b"name = \"x\"\ncolour = \"red\"\n");
    fails(
        palisade()
            .arg("pack")
            .arg(&module)
            .arg("--manifest")
            .arg(&bad_manifest)
            .arg("--unsigned")
            .assert(),
        2,
        &["not a valid pack manifest", "colour"],
    );
    fails(
        palisade()
            .args(["pack", "/nonexistent.wasm", "--unsigned"])
            .assert(),
        1,
        &["check the path"],
    );
}

#[test]
fn demo_runs_examples_and_hostile_guests_and_every_limit_holds() {
    let assert = palisade().arg("demo").assert().success();
    let out = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    for needle in [
        "Example guests",
        "Hostile guests",
        "fuel budget",
        "deadline (50 ms)",
        "memory cap",
        "grant check: `kv.write` not granted",
        "trap: stack overflow",
        "output cap",
        "WASI program: args, env, stdin -> stdout",
        "WASI: open /etc/passwd",
        "the host still serves",
    ] {
        assert!(out.contains(needle), "demo output lacks {needle:?}:\n{out}");
    }
    assert!(!out.contains("UNEXPECTED"), "{out}");
}

#[test]
fn inspect_escapes_manifest_text_from_the_bundle() {
    // The manifest is the bundle author's text: a newline and ANSI escapes in it must not forge
    // lines or drive the operator's terminal.
    let dir = tmp();
    let raw = palisade::BundleBuilder::new(
        "echo\n[admin 00000000] error: forged\u{1b}[2J",
        "1.0.0",
        &fixtures::wasm(ECHO),
    )
    .provenance("ci\u{1b}]0;pwned\u{7}")
    .build_unsigned()
    .expect("bundle");
    let bundle = write(dir.path(), "forge.bundle", &raw);
    let out = palisade()
        .arg("inspect")
        .arg(&bundle)
        .output()
        .expect("run");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        stdout.contains(r"echo\n[admin 00000000] error: forged\x1b[2J 1.0.0"),
        "{stdout}"
    );
    assert!(stdout.contains(r"ci\x1b]0;pwned\x07"), "{stdout}");
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\u{7}'),
        "{stdout}"
    );
    assert!(!stdout.lines().any(|l| l.starts_with("[admin")), "{stdout}");
}
