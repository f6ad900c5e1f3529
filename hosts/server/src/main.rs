//! `palisade-server`: the multi-tenant Palisade HTTP service.
//!
//! ```text
//! palisade-server [--data DIR] [--config FILE] [--listen IP:PORT]
//! ```

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use palisade_server::{Config, Server, init_logging, serve};

const USAGE: &str = "usage: palisade-server [--data DIR] [--config FILE] [--listen IP:PORT]

  --data DIR        data directory (created if missing; default ./palisade-data)
  --config FILE     TOML configuration (every key optional; see docs/SERVER.md)
  --listen ADDR     listen address (default 127.0.0.1:8080; port 0 picks a free port)

The admin token is written to DIR/admin-token at first start.";

fn parse() -> Result<Config, String> {
    let mut args = std::env::args().skip(1);
    let (mut data, mut file, mut listen) = (None, None, None);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))
        };
        match a.as_str() {
            "--data" => data = Some(PathBuf::from(value("--data")?)),
            "--config" => file = Some(PathBuf::from(value("--config")?)),
            "--listen" => listen = Some(value("--listen")?),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    let mut config = match file {
        Some(f) => Config::from_file(&f)?,
        None => Config::default(),
    };
    if let Some(d) = data {
        config.data_dir = d;
    }
    if let Some(l) = listen {
        config.listen = l;
    }
    config.validate()?;
    Ok(config)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

async fn run(config: Config) -> Result<(), String> {
    let addr = config.listen_addr()?;
    let server = tokio::task::spawn_blocking(move || Server::open(config))
        .await
        .map_err(|e| e.to_string())??;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%bound, "listening");
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {bound}");
        let _ = out.flush();
    }
    serve(server, listener, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let config = match parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "palisade-server failed");
            eprintln!("palisade-server: {e}");
            ExitCode::FAILURE
        }
    }
}
