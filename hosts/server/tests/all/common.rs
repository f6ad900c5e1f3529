//! Starting, killing and talking to a server process.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub use crate::client::{Client, Response};

/// The bundle signing key the test config trusts.
pub const SECRET: [u8; 32] = [42; 32];

/// The echo guest (docs/ABI.md).
pub const ECHO: &str = r#"(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "echo") (param i32 i32) (result i32)
    (call $output (local.get 0) (local.get 1)) (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))"#;

/// A guest whose `echo` answers a fixed tag, so versions are told apart by output.
pub fn tagged(tag: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  (import "palisade" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{tag}")
  (func (export "palisade_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "echo") (param i32 i32) (result i32)
    (call $output (i32.const 16) (i32.const {len})) (i32.const 0))
  (@custom "palisade.abi" "\01\00\00\00"))"#,
        len = tag.len()
    ))
    .unwrap()
}

pub fn echo() -> Vec<u8> {
    wat::parse_str(ECHO).unwrap()
}

/// A bundle of `module` signed with `secret`, with a smoke test and capabilities.
pub fn bundle_with(
    secret: &[u8; 32],
    name: &str,
    version: &str,
    module: &[u8],
    smoke: Option<(&str, &[u8], &[u8])>,
    capabilities: &[&str],
) -> Vec<u8> {
    let mut b = palisade::BundleBuilder::new(name, version, module);
    if let Some((entry, input, expected)) = smoke {
        b = b.smoke(entry, input, expected);
    }
    for c in capabilities {
        b = b.capability(c);
    }
    b.sign(secret).unwrap()
}

/// The hex public key of a signing secret.
pub fn public_hex(secret: &[u8; 32]) -> String {
    palisade::bundle::public_key(secret).to_string()
}

/// A signed bundle of `module`.
pub fn bundle(name: &str, version: &str, module: &[u8]) -> Vec<u8> {
    palisade::BundleBuilder::new(name, version, module)
        .sign(&SECRET)
        .unwrap()
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The environment variable naming the PostgreSQL server the tests use.
pub const POSTGRES_URL_VAR: &str = "PALISADE_TEST_POSTGRES_URL";

/// Where a test server keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite and module files in the data directory (the default).
    Sqlite,
    /// A fresh PostgreSQL database of its own on the server named by
    /// [`POSTGRES_URL_VAR`].
    Postgres,
}

/// The PostgreSQL server of the tests; fails the test, saying how to start one, when
/// [`POSTGRES_URL_VAR`] is not set. PostgreSQL tests never skip.
pub fn postgres_url() -> String {
    std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{POSTGRES_URL_VAR} is not set: this test needs PostgreSQL. Start a throwaway cluster \
             with `eval \"$(scripts/postgres.sh start)\"` (it installs Debian's postgresql if \
             missing and prints the variable), run the tests, then `scripts/postgres.sh stop`; \
             ci.sh does this itself"
        )
    })
}

/// Creates an empty database on the tests' PostgreSQL server and returns its URL.
pub fn fresh_database() -> String {
    let url = postgres_url();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("palisade_t{}_{n}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_URL_VAR}={url}: {e}"));
        let driver = tokio::spawn(conn);
        // Two statements: neither may run inside the implicit transaction of a batch.
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .await
            .unwrap();
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        drop(client);
        let _ = driver.await;
    });
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

/// Defines each listed `fn name(backend: Backend)` as two tests, `sqlite::name` and
/// `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::$name($crate::common::Backend::Sqlite)
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                super::$name($crate::common::Backend::Postgres)
            })*
        }
    };
}

/// A server process with its own data directory.
pub struct Srv {
    pub dir: PathBuf,
    pub config: PathBuf,
    child: Option<Child>,
    pub addr: SocketAddr,
    pub admin: String,
    /// Where the server's stderr (its log, at `RUST_LOG=info`) goes; `None`: discarded.
    pub log_file: Option<PathBuf>,
    /// The `database = ...` line of the config (empty for SQLite), kept across restarts.
    pub database: String,
}

/// Config used by every test; keys in `extra` replace the defaults here.
pub fn config_text(extra: &str) -> String {
    let key = palisade::bundle::public_key(&SECRET).to_string();
    let defaults = format!(
        "workers = 2\nmax_in_flight = 16\nqueue_timeout_ms = 2000\nmax_upload_bytes = 65536\nallow_unsigned = true\nbrotli_quality = 5\nlog_format = \"json\"\nshutdown_grace_ms = 5000\ntrusted_keys = [\"{key}\"]\n"
    );
    let overridden = |line: &str| {
        let k = line.split('=').next().unwrap_or("").trim();
        extra
            .lines()
            .any(|e| e.split('=').next().unwrap_or("").trim() == k)
    };
    let mut text: String = defaults
        .lines()
        .filter(|l| !overridden(l))
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str(extra);
    text
}

impl Srv {
    pub fn start() -> Self {
        Self::start_with("")
    }

    pub fn start_with(extra: &str) -> Self {
        Self::start_inner(extra, false)
    }

    /// A server on `backend` (a fresh PostgreSQL database for [`Backend::Postgres`]).
    pub fn start_on(backend: Backend, extra: &str) -> Self {
        match backend {
            Backend::Sqlite => Self::start_with(extra),
            Backend::Postgres => Self::start_shared(&fresh_database(), extra, None),
        }
    }

    /// A server (a replica) on the PostgreSQL database `url`, with its own data directory.
    /// `admin` is the admin token of a replica started before on the same database (the
    /// token is written to the data directory of the replica that creates it).
    pub fn start_shared(url: &str, extra: &str, admin: Option<&str>) -> Self {
        let mut srv = Self::prepare(extra, false);
        srv.database = format!("database = \"{url}\"\n");
        std::fs::write(
            &srv.config,
            config_text(&format!("{}{extra}", srv.database)),
        )
        .unwrap();
        if let Some(token) = admin {
            std::fs::create_dir_all(&srv.dir).unwrap();
            std::fs::write(srv.dir.join("admin-token"), format!("{token}\n")).unwrap();
        }
        srv.spawn();
        srv
    }

    /// Like [`Srv::start_with`], with the server log (`RUST_LOG=info`) kept in [`Srv::log_file`].
    pub fn start_logging(extra: &str) -> Self {
        Self::start_inner(extra, true)
    }

    fn start_inner(extra: &str, keep_log: bool) -> Self {
        let mut srv = Self::prepare(extra, keep_log);
        srv.spawn();
        srv
    }

    fn prepare(extra: &str, keep_log: bool) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("palisade-server-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("server.toml");
        std::fs::write(&config, config_text(extra)).unwrap();
        Self {
            dir: dir.join("data"),
            config,
            child: None,
            addr: "127.0.0.1:1".parse().unwrap(),
            admin: String::new(),
            log_file: keep_log.then(|| dir.join("server.log")),
            database: String::new(),
        }
    }

    /// Starts the process on the same data directory.
    pub fn spawn(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_palisade-server"))
            .arg("--data")
            .arg(&self.dir)
            .arg("--config")
            .arg(&self.config)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env(
                "RUST_LOG",
                if self.log_file.is_some() {
                    "info"
                } else {
                    "warn"
                },
            )
            .stdout(Stdio::piped())
            .stderr(match &self.log_file {
                Some(path) => Stdio::from(
                    std::fs::File::options()
                        .create(true)
                        .append(true)
                        .open(path)
                        .unwrap(),
                ),
                None => Stdio::null(),
            })
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("server did not start: {line:?}"));
        self.addr = addr.parse().unwrap();
        self.admin = std::fs::read_to_string(self.dir.join("admin-token"))
            .unwrap()
            .trim()
            .to_owned();
        self.child = Some(child);
    }

    /// SIGKILL, no warning.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().unwrap();
        let pid = c.id().to_string();
        Command::new("kill")
            .arg("-TERM")
            .arg(&pid)
            .status()
            .unwrap();
        c.wait().unwrap()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Waits for the process to exit (after a signal sent elsewhere).
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        self.child.take().unwrap().wait().unwrap()
    }

    /// Waits up to `limit` for the process to exit; kills it and returns `None` if it does not.
    pub fn wait_exit_within(
        &mut self,
        limit: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        let child = self.child.as_mut().unwrap();
        while std::time::Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self.kill();
        None
    }

    /// Waits (up to 10 s) until `n` calls are in flight, per `/metrics`.
    pub fn wait_in_flight(&self, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let want = format!("palisade_in_flight {n}");
        while std::time::Instant::now() < deadline {
            if self.metrics().lines().any(|l| l == want) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("never saw {n} calls in flight");
    }

    /// `GET /metrics` with the admin token.
    pub fn metrics(&self) -> String {
        let r = self.admin_req("GET", "/metrics", b"");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        String::from_utf8(r.body).unwrap()
    }

    /// Stops the process (SIGTERM), rewrites the config with `extra`, and starts it again on
    /// the same data directory.
    pub fn restart_with(&mut self, extra: &str) {
        assert!(self.terminate().success());
        std::fs::write(
            &self.config,
            config_text(&format!("{}{extra}", self.database)),
        )
        .unwrap();
        self.spawn();
    }

    pub fn client(&self) -> Client {
        Client::new(self.addr)
    }

    pub fn admin_req(&self, method: &str, path: &str, body: &[u8]) -> Response {
        let auth = format!("Bearer {}", self.admin);
        self.client()
            .request(method, path, &[("authorization", &auth)], body)
            .unwrap()
    }

    pub fn admin_json(&self, method: &str, path: &str, body: serde_json::Value) -> Response {
        self.admin_req(method, path, body.to_string().as_bytes())
    }

    /// Creates a tenant and returns its token.
    pub fn tenant(&self, id: &str, body: serde_json::Value) -> String {
        let r = self.admin_json("PUT", &format!("/v1/admin/tenants/{id}"), body);
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()["token"].as_str().unwrap().to_owned()
    }

    pub fn upload(&self, plugin: &str, version: &str, module: &[u8]) -> Response {
        self.admin_req(
            "POST",
            &format!("/v1/admin/plugins/{plugin}/versions?version={version}"),
            module,
        )
    }

    pub fn invoke(&self, token: &str, plugin: &str, entry: &str, input: &[u8]) -> Response {
        self.invoke_with(token, plugin, entry, input, &[])
    }

    pub fn invoke_with(
        &self,
        token: &str,
        plugin: &str,
        entry: &str,
        input: &[u8],
        extra: &[(&str, &str)],
    ) -> Response {
        let auth = format!("Bearer {token}");
        let mut headers = vec![("authorization", auth.as_str())];
        headers.extend_from_slice(extra);
        self.client()
            .request(
                "POST",
                &format!("/v1/plugins/{plugin}/{entry}"),
                &headers,
                input,
            )
            .unwrap()
    }

    /// Files under the modules directory.
    pub fn module_files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.join("modules"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// The server log so far (empty if not started with [`Srv::start_logging`]).
    pub fn log(&self) -> String {
        self.log_file
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        self.kill();
        if let Some(parent) = self.dir.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
}

/// Asserts a JSON error with `status` and `code`.
#[track_caller]
pub fn assert_error(r: &Response, status: u16, code: &str) {
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (status, Some(code)),
        "body: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "errors are JSON"
    );
}
