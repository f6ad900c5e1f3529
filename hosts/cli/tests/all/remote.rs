//! `palisade remote`: every subcommand against a real palisade-server on 127.0.0.1 (the
//! server's own library, run in this test process), and its errors' exit codes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

use crate::cli::{fails, keygen, palisade, tmp, write};
use crate::fixtures::{self, ECHO};

/// A palisade-server serving on loopback until dropped, with its data directory, the
/// admin-token file it wrote, and a signing key it trusts.
struct Served {
    addr: SocketAddr,
    dir: TempDir,
    key: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    fn start() -> Self {
        let dir = tmp();
        let (key, public) = keygen(dir.path(), "signing");
        let trusted = std::fs::read_to_string(&public).expect("public key");
        let config = palisade_server::Config {
            workers: 1,
            trusted_keys: vec![trusted.trim().to_owned()],
            brotli_quality: 1,
            shutdown_grace_ms: 1000,
            ..Default::default()
        };
        let server =
            palisade_server::open_at(&dir.path().join("data"), config).expect("server opens");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let served = runtime.block_on(palisade_server::serve(server, listener, async {
                let _ = stopped.await;
            }));
            assert!(served.is_ok(), "{served:?}");
        });
        Self {
            addr,
            dir,
            key,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn token_file(&self) -> PathBuf {
        self.dir.path().join("data").join("admin-token")
    }

    /// A signed bundle of the echo guest, with a smoke test, via `palisade pack`.
    fn bundle(&self, out: &Path, version: &str, wat: &str) -> PathBuf {
        let module = fixtures::write_wasm(out, &format!("echo-{version}.wasm"), wat);
        let bundle = out.join(format!("echo-{version}.bundle"));
        palisade()
            .arg("pack")
            .arg(&module)
            .args(["--name", "echo", "--plugin-version", version, "--key"])
            .arg(&self.key)
            .arg("--out")
            .arg(&bundle)
            .assert()
            .success();
        bundle
    }

    /// An admin request made without the CLI (what the CLI does not cover: tenants, calls).
    fn http(&self, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url()))
            .header("authorization", format!("Bearer {token}"))
            .body(body.as_bytes().to_vec())
            .expect("request");
        let mut response = agent.run(request).expect("server answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().expect("body");
        (status, text)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `palisade remote …` with its config file in `home` and no ambient settings.
fn remote(home: &Path) -> Command {
    let mut cmd = palisade();
    cmd.arg("remote")
        .env("PALISADE_CONFIG", home.join("remote.toml"))
        .env_remove("PALISADE_SERVER")
        .env_remove("PALISADE_TOKEN_FILE");
    cmd
}

fn stdout(cmd: &mut Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).expect("utf-8 output")
}

/// A version of the echo guest that answers a fixed tag, so versions are told apart.
fn tagged(tag: &str) -> String {
    format!(
        r#"(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{tag}")
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "echo") (param i32 i32) (result i32)
    (call $output (i32.const 16) (i32.const {len})) (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))"#,
        len = tag.len()
    )
}

#[test]
fn an_operator_rolls_out_a_plugin_without_curl() {
    let srv = Served::start();
    let home = tmp();
    let work = tmp();

    let out = stdout(
        remote(home.path())
            .args(["login", "--server", &srv.url(), "--token-file"])
            .arg(srv.token_file()),
    );
    assert!(out.contains("logged in to"), "{out}");
    let saved = std::fs::read_to_string(home.path().join("remote.toml")).expect("config saved");
    assert!(saved.contains(&srv.url()), "{saved}");
    let admin = std::fs::read_to_string(srv.token_file()).expect("admin token");
    assert!(
        !saved.contains(admin.trim()),
        "the config holds no token: {saved}"
    );

    let out = stdout(remote(home.path()).arg("plugins"));
    assert!(out.contains("no plugins yet"), "{out}");

    let v1 = srv.bundle(work.path(), "1.0.0", &tagged("one"));
    let v2 = srv.bundle(work.path(), "2.0.0", &tagged("two"));
    let out = stdout(remote(home.path()).arg("push").arg(&v1));
    assert!(out.contains("uploaded echo 1.0.0"), "{out}");
    assert!(out.contains("palisade remote promote echo 1.0.0"), "{out}");
    let out = stdout(remote(home.path()).arg("push").arg(&v1));
    assert!(out.contains("already stored"), "{out}");
    let out = stdout(remote(home.path()).args(["push", "--json"]).arg(&v2));
    let up: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(up["version"], "2.0.0");
    assert_eq!(up["created"], true);

    let out = stdout(remote(home.path()).args(["promote", "echo", "1.0.0"]));
    assert!(out.contains("echo: promoted"), "{out}");
    assert!(out.contains("active:   1.0.0"), "{out}");
    let out = stdout(remote(home.path()).args(["promote", "echo", "2.0.0"]));
    assert!(out.contains("active:   2.0.0"), "{out}");
    assert!(out.contains("previous: 1.0.0"), "{out}");

    let out = stdout(remote(home.path()).args(["canary", "echo", "1.0.0", "--fraction", "0.25"]));
    assert!(out.contains("canary:   1.0.0"), "{out}");
    assert!(out.contains("25%"), "{out}");
    let out = stdout(remote(home.path()).args(["versions", "echo"]));
    let line = |v: &str| {
        out.lines()
            .find(|l| l.starts_with(v))
            .unwrap_or("")
            .to_owned()
    };
    assert!(line("2.0.0").contains("active"), "{out}");
    assert!(line("1.0.0").contains("canary"), "{out}");
    let out = stdout(remote(home.path()).args(["canary", "echo", "--clear"]));
    assert!(out.contains("canary cleared"), "{out}");
    assert!(out.contains("canary:   -"), "{out}");

    let out = stdout(remote(home.path()).args(["rollback", "echo"]));
    assert!(out.contains("rolled back"), "{out}");
    assert!(out.contains("active:   1.0.0"), "{out}");
    let out = stdout(remote(home.path()).arg("plugins"));
    let row = out.lines().find(|l| l.starts_with("echo")).unwrap_or("");
    assert!(
        row.contains("1.0.0") && row.trim_end().ends_with('2'),
        "{out}"
    );

    // A tenant and one call, through the API: then `tenants` and `metrics` show them.
    let (status, body) = srv.http(
        "PUT",
        "/v1/admin/tenants/acme",
        admin.trim(),
        r#"{"plugins": ["echo"], "grants": ["kv.read"]}"#,
    );
    assert_eq!(status, 201, "{body}");
    let tenant: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let token = tenant["token"].as_str().expect("token");
    let (status, body) = srv.http("POST", "/v1/plugins/echo/echo", token, "hi");
    assert_eq!((status, body.as_str()), (200, "one"));
    let out = stdout(remote(home.path()).arg("tenants"));
    let row = out.lines().find(|l| l.starts_with("acme")).unwrap_or("");
    assert!(row.contains("echo") && row.contains("kv.read"), "{out}");
    let out = stdout(remote(home.path()).args(["metrics", "echo"]));
    assert!(
        out.lines().any(|l| l.starts_with("palisade_calls_total{")
            && l.contains("tenant=\"acme\"")
            && l.contains("outcome=\"ok\"")
            && l.ends_with(" 1")),
        "{out}"
    );
    assert!(!out.contains("_bucket"), "{out}");
    let out = stdout(remote(home.path()).args(["metrics", "echo", "--json"]));
    let m: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(m["plugin"], "echo");
    assert!(
        m["samples"].as_array().is_some_and(|s| !s.is_empty()),
        "{m}"
    );
}

#[test]
fn flags_and_environment_work_without_login() {
    let srv = Served::start();
    let home = tmp();
    let out = stdout(
        remote(home.path())
            .arg("tenants")
            .env("PALISADE_SERVER", srv.url())
            .env("PALISADE_TOKEN_FILE", srv.token_file()),
    );
    assert!(out.contains("no tenants yet"), "{out}");
    let out = stdout(
        remote(home.path())
            .args(["plugins", "--json", "--server", &srv.url(), "--token-file"])
            .arg(srv.token_file()),
    );
    let all: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(all["plugins"], serde_json::json!([]));
    assert!(!home.path().join("remote.toml").exists(), "nothing saved");
}

#[test]
fn errors_say_what_to_do_with_their_own_exit_codes() {
    let srv = Served::start();
    let home = tmp();
    let work = tmp();

    // Nothing saved, nothing given: a usage error that names `remote login`.
    fails(
        remote(home.path()).arg("plugins").assert(),
        2,
        &["remote login"],
    );

    // Nobody listens on the port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    fails(
        remote(home.path())
            .args([
                "plugins",
                "--server",
                &format!("http://127.0.0.1:{port}"),
                "--token-file",
            ])
            .arg(srv.token_file())
            .assert(),
        14,
        &["cannot reach the server", "--server"],
    );

    // A wrong token: login refuses it and saves nothing.
    let wrong = write(work.path(), "wrong-token", b"pa_0000\n");
    fails(
        remote(home.path())
            .args(["login", "--server", &srv.url(), "--token-file"])
            .arg(&wrong)
            .assert(),
        15,
        &["403 forbidden", "DIR/admin-token"],
    );
    assert!(!home.path().join("remote.toml").exists());
    let empty = write(work.path(), "empty-token", b"\n");
    fails(
        remote(home.path())
            .args(["login", "--server", &srv.url(), "--token-file"])
            .arg(&empty)
            .assert(),
        2,
        &["is empty", "admin-token"],
    );

    remote(home.path())
        .args(["login", "--server", &srv.url(), "--token-file"])
        .arg(srv.token_file())
        .assert()
        .success();

    // Unknown plugin and version: 404, with the command that lists what exists.
    fails(
        remote(home.path())
            .args(["promote", "nope", "1.0.0"])
            .assert(),
        16,
        &["unknown_version", "palisade remote versions PLUGIN"],
    );
    for args in [
        &["rollback", "nope"][..],
        &["versions", "nope"],
        &["metrics", "nope"],
        &["canary", "nope", "--clear"],
    ] {
        fails(
            remote(home.path()).args(args).assert(),
            16,
            &["unknown_plugin", "palisade remote plugins"],
        );
    }
    let v1 = srv.bundle(work.path(), "1.0.0", ECHO);
    remote(home.path()).arg("push").arg(&v1).assert().success();
    fails(
        remote(home.path())
            .args(["promote", "echo", "9.9.9"])
            .assert(),
        16,
        &["unknown_version", "palisade remote versions PLUGIN"],
    );
    // Nothing to roll back to: refused (5).
    remote(home.path())
        .args(["promote", "echo", "1.0.0"])
        .assert()
        .success();
    fails(
        remote(home.path()).args(["rollback", "echo"]).assert(),
        5,
        &["no_previous_version"],
    );

    // Not a bundle; a bare module on a server that requires signatures.
    let junk = write(work.path(), "junk.bundle", b"not a bundle at all");
    fails(
        remote(home.path())
            .args(["push", "--plugin", "echo"])
            .arg(&junk)
            .assert(),
        3,
        &["answered 400"],
    );
    let bare = fixtures::write_wasm(work.path(), "bare.wasm", ECHO);
    fails(
        remote(home.path())
            .args(["push", "--plugin", "echo", "--plugin-version", "3.0.0"])
            .arg(&bare)
            .assert(),
        4,
        &["signature_required", "trusted_keys"],
    );
    fails(
        remote(home.path()).arg("push").arg(&bare).assert(),
        2,
        &["--plugin NAME"],
    );
    remote(home.path())
        .args(["canary", "echo", "1.0.0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--fraction"));
    fails(
        remote(home.path())
            .args(["plugins", "--server", "https://example.invalid"])
            .assert(),
        2,
        &["plain HTTP"],
    );
}
