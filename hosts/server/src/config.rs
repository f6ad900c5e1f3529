//! Server configuration: a TOML file whose every field has a documented default.
//!
//! `palisade-server --data DIR` needs no file at all: every default below applies. A file is
//! given with `--config FILE`; command-line `--data` and `--listen` override it.
//!
//! ```toml
//! # palisade-server.toml — every key is optional
//! listen = "127.0.0.1:8080"
//! data_dir = "/var/lib/palisade"
//! workers = 4                     # guest worker threads (default: CPU count)
//! foreground_slices = 4           # fuel slices a call runs at normal priority, then in the background
//! max_in_flight = 64              # admitted calls, running or queued, across all tenants
//! queue_timeout_ms = 1000         # how long an admitted call may wait for a worker slot
//! max_upload_bytes = 8388608      # bundle / module upload cap
//! max_input_bytes = 1048576       # invoke body cap (tenants may be capped lower)
//! allow_unsigned = false          # accept bare .wasm uploads without a signed bundle
//! public_downloads = true         # GET /v1/modules/{digest} needs no token
//! upload_capabilities = ["log", "clock", "random", "kv.read", "kv.write"]
//! trusted_keys = ["<64 hex digits of an ed25519 public key>"]
//! metrics_token = "<a long random string>"  # bearer token for GET /metrics (besides the admin token)
//! brotli_quality = 9
//! log_format = "json"             # or "text"
//! shutdown_grace_ms = 10000
//! header_read_timeout_ms = 10000  # a request's headers must arrive within this
//! body_read_timeout_ms = 30000    # a request's body must arrive within this
//! max_connections = 1024          # open client connections; more are answered 503 and closed
//! database = "postgres://palisade:secret@db.internal:5432/palisade"  # default: SQLite in data_dir
//! keep_versions = 10              # retention: newest versions kept per plugin besides the live ones
//! reconcile_ms = 5000             # replicas: re-read the shared state this often (besides NOTIFY)
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::pool::DEFAULT_FOREGROUND_SLICES;

/// Default listen address: loopback only, port 8080. Expose it deliberately.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default data directory when neither `--data` nor `data_dir` is given.
pub const DEFAULT_DATA_DIR: &str = "palisade-data";
/// Default admitted calls (running or queued) across all tenants, per worker thread.
pub const DEFAULT_IN_FLIGHT_PER_WORKER: usize = 8;
/// Default time an admitted call may wait for the global concurrency cap: 1 s.
pub const DEFAULT_QUEUE_TIMEOUT_MS: u64 = 1_000;
/// Default upload cap: 8 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 8 << 20;
/// Default invoke body cap: 1 MiB.
pub const DEFAULT_MAX_INPUT_BYTES: usize = 1 << 20;
/// Default brotli quality for the precompressed download variant (0–11).
pub const DEFAULT_BROTLI_QUALITY: u32 = 9;
/// Default time graceful shutdown waits for in-flight calls: 10 s.
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 10_000;
/// Default time a client has to send a request's headers (also an idle keep-alive
/// connection's next request): 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Default time a client has to send a request's whole body: 30 s.
pub const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 30_000;
/// Default cap on open client connections: 1024.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default retention: besides its live versions (active, previous, canary), a plugin keeps its
/// 10 most recently uploaded versions; older ones are deleted with their module bytes.
pub const DEFAULT_KEEP_VERSIONS: usize = 10;
/// Default interval at which a replica re-reads the shared state (PostgreSQL) even without a
/// notification: 5 s. Changes normally arrive at once through `LISTEN`/`NOTIFY`.
pub const DEFAULT_RECONCILE_MS: u64 = 5_000;
/// Capabilities a plugin may import by default (every built-in one).
pub const DEFAULT_UPLOAD_CAPABILITIES: [&str; 5] =
    ["log", "clock", "random", "kv.read", "kv.write"];

/// Shortest accepted `metrics_token`: 32 characters.
pub const MIN_METRICS_TOKEN_CHARS: usize = 32;

/// How logs are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (the default: for log pipelines).
    #[default]
    Json,
    /// Human-readable lines.
    Text,
}

/// The server's configuration. Every field has a default; see the module docs for a sample file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (default [`DEFAULT_LISTEN`]). Port `0` picks a free port; the bound
    /// address is printed on stdout as `listening on ADDR`.
    pub listen: String,
    /// Where modules, the SQLite database and the admin token live (default [`DEFAULT_DATA_DIR`]).
    pub data_dir: PathBuf,
    /// Guest worker threads (default: the number of CPUs). Guests never run on the async reactor.
    pub workers: usize,
    /// Fuel slices a call runs on the normal-priority workers before it moves to the
    /// background workers, which run at the operating system's idle priority (default
    /// [`DEFAULT_FOREGROUND_SLICES`]; see `docs/SERVER.md`, *Execution and fairness*).
    pub foreground_slices: u32,
    /// Calls admitted at once across all tenants, running or waiting for a worker
    /// (default: `workers *` [`DEFAULT_IN_FLIGHT_PER_WORKER`]).
    pub max_in_flight: usize,
    /// How long an admitted call may wait for a global slot before 429 (default
    /// [`DEFAULT_QUEUE_TIMEOUT_MS`]).
    pub queue_timeout_ms: u64,
    /// Largest upload body (default [`DEFAULT_MAX_UPLOAD_BYTES`]).
    pub max_upload_bytes: usize,
    /// Largest invoke body (default [`DEFAULT_MAX_INPUT_BYTES`]); each tenant's `input_bytes`
    /// limit applies below it.
    pub max_input_bytes: usize,
    /// Accept bare `.wasm` uploads without a signed bundle (default `false`).
    pub allow_unsigned: bool,
    /// Serve released versions (some plugin's active, previous or canary version) on
    /// `GET /v1/modules/{digest}` without a token (default `true`: boards pulling updates hold
    /// no token). Versions never promoted need a tenant or admin token either way: digests are
    /// published (response headers, metrics) and are no secret. Set `false` to require a
    /// valid tenant or admin token for every download.
    pub public_downloads: bool,
    /// A bearer token that may read `GET /metrics` and nothing else (default: none, so only
    /// the admin token reads metrics). At least [`MIN_METRICS_TOKEN_CHARS`] characters; give it
    /// to Prometheus (`authorization: {credentials: ...}`).
    pub metrics_token: Option<String>,
    /// Capabilities an uploaded plugin may import (default [`DEFAULT_UPLOAD_CAPABILITIES`]).
    /// An upload importing anything else is refused with `capability_denied`.
    pub upload_capabilities: Vec<String>,
    /// ed25519 public keys (64 hex digits each) whose bundle signatures are accepted
    /// (default: none, so only bare modules under `allow_unsigned` can be uploaded).
    pub trusted_keys: Vec<String>,
    /// Brotli quality of the precompressed download variant (default [`DEFAULT_BROTLI_QUALITY`]).
    pub brotli_quality: u32,
    /// Log format (default JSON).
    pub log_format: LogFormat,
    /// How long shutdown waits for in-flight calls (default [`DEFAULT_SHUTDOWN_GRACE_MS`]).
    pub shutdown_grace_ms: u64,
    /// How long a connection may take to send a request's headers, counted from when the
    /// server starts waiting for them (default [`DEFAULT_HEADER_READ_TIMEOUT_MS`]); then the
    /// connection is closed. This also closes idle keep-alive connections.
    pub header_read_timeout_ms: u64,
    /// How long a request's whole body may take to arrive once its handler reads it (default
    /// [`DEFAULT_BODY_READ_TIMEOUT_MS`]); then the request gets `408 body_timeout` and the
    /// connection is closed.
    pub body_read_timeout_ms: u64,
    /// Open client connections at once (default [`DEFAULT_MAX_CONNECTIONS`]). A connection
    /// over the cap gets `503 too_many_connections` and is closed at once, so the server
    /// keeps file descriptors for the connections it serves.
    pub max_connections: usize,
    /// Where registry state, tenants, module bytes and tenant KV live: absent (the default)
    /// for SQLite in `data_dir`, or `postgres://USER:PASSWORD@HOST:PORT/DATABASE` for a
    /// PostgreSQL database that several replicas share. `data_dir` still holds the lock and
    /// the admin token file.
    pub database: Option<String>,
    /// Retention: how many of a plugin's most recent versions are kept besides its live ones
    /// (default [`DEFAULT_KEEP_VERSIONS`]). Versions that are active, a rollback target,
    /// canary, or running a call are never deleted. At least 1, so that a version just
    /// uploaded stays until it is promoted.
    pub keep_versions: usize,
    /// How often a replica re-reads the shared state even without a notification (default
    /// [`DEFAULT_RECONCILE_MS`]); only used with a PostgreSQL `database`.
    pub reconcile_ms: u64,
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl Default for Config {
    fn default() -> Self {
        let workers = cpus();
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            workers,
            foreground_slices: DEFAULT_FOREGROUND_SLICES,
            max_in_flight: workers * DEFAULT_IN_FLIGHT_PER_WORKER,
            queue_timeout_ms: DEFAULT_QUEUE_TIMEOUT_MS,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
            allow_unsigned: false,
            public_downloads: true,
            metrics_token: None,
            upload_capabilities: DEFAULT_UPLOAD_CAPABILITIES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            trusted_keys: Vec::new(),
            brotli_quality: DEFAULT_BROTLI_QUALITY,
            log_format: LogFormat::Json,
            shutdown_grace_ms: DEFAULT_SHUTDOWN_GRACE_MS,
            header_read_timeout_ms: DEFAULT_HEADER_READ_TIMEOUT_MS,
            body_read_timeout_ms: DEFAULT_BODY_READ_TIMEOUT_MS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            database: None,
            keep_versions: DEFAULT_KEEP_VERSIONS,
            reconcile_ms: DEFAULT_RECONCILE_MS,
        }
    }
}

impl Config {
    /// Reads a TOML file; absent keys take their defaults.
    ///
    /// # Errors
    ///
    /// A message naming the file and the bad key or syntax.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        Self::from_toml(&text).map_err(|e| format!("config file {}: {e}", path.display()))
    }

    /// Parses TOML text; absent keys take their defaults.
    ///
    /// # Errors
    ///
    /// The parser's message, naming the bad key or syntax.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that parse but make no sense.
    ///
    /// # Errors
    ///
    /// What is wrong and what to set instead.
    pub fn validate(&self) -> Result<(), String> {
        if self.workers == 0 {
            return Err("`workers` must be at least 1".into());
        }
        if self.foreground_slices == 0 {
            return Err("`foreground_slices` must be at least 1".into());
        }
        if self.max_in_flight < self.workers {
            return Err(format!(
                "`max_in_flight` ({}) must be at least `workers` ({})",
                self.max_in_flight, self.workers
            ));
        }
        if self.metrics_token.as_ref().is_some_and(|t| {
            t.chars().count() < MIN_METRICS_TOKEN_CHARS || t.contains(char::is_whitespace)
        }) {
            return Err(format!(
                "`metrics_token` must be at least {MIN_METRICS_TOKEN_CHARS} characters without spaces (e.g. `openssl rand -hex 32`)"
            ));
        }
        if self.max_connections == 0 {
            return Err("`max_connections` must be at least 1".into());
        }
        if self.header_read_timeout_ms == 0 || self.body_read_timeout_ms == 0 {
            return Err(
                "`header_read_timeout_ms` and `body_read_timeout_ms` must be at least 1".into(),
            );
        }
        if self.brotli_quality > 11 {
            return Err("`brotli_quality` must be 0..=11".into());
        }
        if let Some(url) = &self.database
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(format!(
                "`database` = {:?} is not a PostgreSQL URL; write postgres://USER:PASSWORD@HOST:PORT/DATABASE, or leave it out for SQLite in `data_dir`",
                crate::store::redact(url)
            ));
        }
        if self.keep_versions == 0 {
            return Err(
                "`keep_versions` must be at least 1: with 0 an upload would be deleted before it could be promoted".into(),
            );
        }
        if self.reconcile_ms == 0 {
            return Err("`reconcile_ms` must be at least 1".into());
        }
        self.listen_addr()?;
        Ok(())
    }

    /// The parsed listen address.
    ///
    /// # Errors
    ///
    /// If `listen` is not `IP:PORT`.
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen
            .parse()
            .map_err(|e| format!("`listen` = {:?} is not IP:PORT: {e}", self.listen))
    }

    /// [`Config::queue_timeout_ms`] as a duration.
    pub fn queue_timeout(&self) -> Duration {
        Duration::from_millis(self.queue_timeout_ms)
    }

    /// [`Config::header_read_timeout_ms`] as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    /// [`Config::body_read_timeout_ms`] as a duration.
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }

    /// [`Config::reconcile_ms`] as a duration.
    pub fn reconcile(&self) -> Duration {
        Duration::from_millis(self.reconcile_ms)
    }

    /// [`Config::shutdown_grace_ms`] as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_documented_defaults() -> Result<(), String> {
        let c = Config::from_toml("")?;
        assert_eq!(c.listen, DEFAULT_LISTEN);
        assert_eq!(c.max_upload_bytes, DEFAULT_MAX_UPLOAD_BYTES);
        assert_eq!(c.max_in_flight, c.workers * DEFAULT_IN_FLIGHT_PER_WORKER);
        assert!(!c.allow_unsigned && c.public_downloads);
        assert_eq!(c.upload_capabilities, DEFAULT_UPLOAD_CAPABILITIES);
        assert_eq!(c.header_read_timeout_ms, DEFAULT_HEADER_READ_TIMEOUT_MS);
        assert_eq!(c.body_read_timeout_ms, DEFAULT_BODY_READ_TIMEOUT_MS);
        assert_eq!(c.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(c.foreground_slices, DEFAULT_FOREGROUND_SLICES);
        Ok(())
    }

    #[test]
    fn bad_files_are_refused_with_the_key_named() {
        let e = Config::from_toml("wrokers = 3").err().unwrap_or_default();
        assert!(e.contains("wrokers"), "{e}");
        let e = Config::from_toml("workers = 0").err().unwrap_or_default();
        assert!(e.contains("workers"), "{e}");
        let e = Config::from_toml("max_connections = 0")
            .err()
            .unwrap_or_default();
        assert!(e.contains("max_connections"), "{e}");
        let e = Config::from_toml("foreground_slices = 0")
            .err()
            .unwrap_or_default();
        assert!(e.contains("foreground_slices"), "{e}");
        let e = Config::from_toml("body_read_timeout_ms = 0")
            .err()
            .unwrap_or_default();
        assert!(e.contains("body_read_timeout_ms"), "{e}");
        let e = Config::from_toml("listen = \"nowhere\"")
            .err()
            .unwrap_or_default();
        assert!(e.contains("listen"), "{e}");
        let e = Config::from_toml("database = \"mysql://u:hunter2@h/db\"")
            .err()
            .unwrap_or_default();
        assert!(e.contains("database") && !e.contains("hunter2"), "{e}");
    }
}
