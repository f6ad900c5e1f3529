//! # palisade-server
//!
//! A multi-tenant HTTP service over the [`palisade`] sandbox: operators upload signed bundles,
//! roll them out (promote, canary, rollback) and give tenants tokens; tenants invoke plugins
//! with bytes in and bytes out, every call under the fuel, memory and deadline limits of the
//! tenant, on a bounded worker pool, behind per-tenant rate and concurrency caps.
//!
//! `palisade-server --data DIR` starts with zero setup: it creates `DIR`, a SQLite database
//! and an admin token (`DIR/admin-token`). The API is described in `docs/SERVER.md`.
//!
//! ```no_run
//! # async fn run() -> Result<(), String> {
//! use palisade_server::{Config, Server, serve};
//! let mut config = Config::default();
//! config.data_dir = "/var/lib/palisade".into();
//! let server = Server::open(config)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.map_err(|e| e.to_string())?;
//! serve(server, listener, async { let _ = tokio::signal::ctrl_c().await; }).await.map_err(|e| e.to_string())
//! # }
//! ```
//!
//! ## Modules
//!
//! | module | what it does |
//! |---|---|
//! | [`config`] | the TOML configuration and its defaults |
//! | [`auth`] | hashed tokens, constant-time checks |
//! | [`store`] | registry persistence: the `RegistryStore` trait, `StoreError`, the SQLite store, atomic writes |
//! | [`datadir`] | the data directory's lock and file modes |
//! | [`kv`] | the tenants' KV store in SQLite |
//! | [`log`] | guest log lines: escaped, per-tenant minimum level and rate limit |
//! | [`pool`] | the worker pool guests run on, fair by tenant (fuel slices, round-robin) |
//! | [`metrics`] | Prometheus rendering of [`palisade::Metrics`] |
//! | [`http`] | the axum routes |
//! | [`api`] | the JSON bodies of the API, typed |
//! | [`openapi`] | the OpenAPI description served at `/v1/openapi.json` |
//! | [`listen`] | the accept loop: connection cap, read timeouts, drain |
//! | [`web`] | the browser pages `/console` and `/play`, and the browser runtime they share |
//!
//! ## Limitations with malicious guests
//!
//! A call runs for at most its tenant's deadline (plus one fuel slice), and no longer than its
//! client stays connected (the call is interrupted at its next fuel slice when the request is
//! dropped); a tenant holds at most `max_concurrency` workers. Workers run calls one fuel
//! slice at a time and serve the tenants with waiting calls round-robin ([`pool`]), so a
//! hostile tenant's calls delay another tenant's by at most one turn (`weight` slices) each,
//! however many or long they are. Host time (KV in SQLite) is not sliced: a guest blocked in
//! a host call keeps its worker until the call returns.

pub mod api;
pub mod auth;
pub mod config;
pub mod datadir;
pub mod error;
mod gate;
pub mod http;
pub mod kv;
pub mod listen;
pub mod log;
pub mod metrics;
pub mod openapi;
pub mod pool;
pub mod rejection;
mod server;
pub mod store;
pub mod tenant;
pub mod web;

use std::future::Future;
use std::sync::Arc;

pub use config::Config;
pub use error::{ApiError, ApiResult};
pub use log::TracingLog;
// The plain services come from the shared host kit; re-exported for the server's users.
pub use palisade_std::{OsRandom, StdClock};
pub use server::{
    Admitted, GATE_TENANT, Invocation, Server, Uploaded, YIELD_EVERY, YieldingClock, open_at,
};

/// Serves `server` on `listener` until `shutdown` completes, then drains: new requests get
/// `503 shutting_down`, requests being handled finish (up to `shutdown_grace_ms`), and the
/// workers stop. Connections are capped and read with timeouts; see [`listen`].
///
/// # Errors
///
/// None today: a failed `accept` is logged and retried.
pub async fn serve(
    server: Arc<Server>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listen::serve(server, listener, shutdown).await
}

/// Installs the `tracing` subscriber: JSON or text lines on stderr, filtered by `RUST_LOG`
/// (default `info`).
pub fn init_logging(format: config::LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        config::LogFormat::Json => builder.json().flatten_event(true).try_init(),
        config::LogFormat::Text => builder.try_init(),
    };
}
