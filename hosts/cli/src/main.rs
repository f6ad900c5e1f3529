//! `palisade`: run, inspect, sign and verify Palisade guests from the command line, and watch
//! every sandbox limit at work with `palisade demo`.
//!
//! Exit codes are listed in `palisade --help` and docs/CLI.md.

mod bundle;
mod demo;
mod exit;
mod inspect;
mod load;
mod remote;
mod run;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::exit::{CliError, EXIT_CODES_HELP, Exit};

/// Run untrusted WebAssembly in the Palisade sandbox: fuel, memory caps, deadlines and
/// deny-by-default capabilities.
#[derive(Debug, Parser)]
#[command(name = "palisade", version, after_help = EXIT_CODES_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Show guest log lines and host events at this level (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "warn", value_name = "LEVEL")]
    log: LogLevelArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogLevelArg {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one entry point of a module or bundle and print its output and a one-line report;
    /// or run a WASI program (`palisade run prog.wasm -- ARGS`): stdin in, stdout out, its exit
    /// status as ours.
    #[command(after_help = EXIT_CODES_HELP)]
    Run(run::RunArgs),
    /// Show a module's or bundle's digest, size, ABI version, exports, imports mapped to
    /// capabilities, custom sections and signature status.
    #[command(after_help = EXIT_CODES_HELP)]
    Inspect(InspectArgs),
    /// Make an ed25519 key pair for signing bundles.
    #[command(after_help = EXIT_CODES_HELP)]
    Keygen(bundle::KeygenArgs),
    /// Pack a module and a manifest into a (signed) bundle.
    #[command(after_help = EXIT_CODES_HELP)]
    Pack(bundle::PackArgs),
    /// Verify a bundle: structure, signature by a trusted key, digest, manifest vs module.
    #[command(after_help = EXIT_CODES_HELP)]
    Verify(bundle::VerifyArgs),
    /// Run the example guests, then the hostile ones, and show each limit stopping them.
    #[command(after_help = EXIT_CODES_HELP)]
    Demo(demo::DemoArgs),
    /// Drive a palisade-server: log in, push bundles, promote, canary, roll back, list
    /// plugins, versions and tenants, show a plugin's metrics (docs/CLI.md).
    #[command(after_help = EXIT_CODES_HELP)]
    Remote(remote::RemoteArgs),
}

/// Arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The module (.wasm or .wat) or bundle.
    pub path: PathBuf,
    /// Public keys trusted to sign bundles (`.pub` files or hex): reported as trusted or not.
    #[arg(long, value_name = "KEY,...", value_delimiter = ',')]
    pub trust: Vec<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

fn init_tracing(level: LogLevelArg) {
    use tracing::Level;
    let level = match level {
        LogLevelArg::Off => return,
        LogLevelArg::Error => Level::ERROR,
        LogLevelArg::Warn => Level::WARN,
        LogLevelArg::Info => Level::INFO,
        LogLevelArg::Debug => Level::DEBUG,
        LogLevelArg::Trace => Level::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .try_init();
}

fn main() -> ExitCode {
    // Bad input must never show a panic or a backtrace; a panic here is a bug in palisade.
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(
            std::io::stderr(),
            "palisade: internal error: {info}\nThis is a bug in palisade; please report it with the command you ran."
        );
        std::process::exit(Exit::Internal as i32);
    }));
    let cli = Cli::parse();
    init_tracing(cli.log);
    let result = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Inspect(args) => inspect::inspect(&args).map(|e| e as u8),
        Command::Keygen(args) => bundle::keygen(&args).map(|e| e as u8),
        Command::Pack(args) => bundle::pack(&args).map(|e| e as u8),
        Command::Verify(args) => bundle::verify(&args).map(|e| e as u8),
        Command::Demo(args) => demo::demo(&args).map(|e| e as u8),
        Command::Remote(args) => remote::remote(&args).map(|e| e as u8),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "palisade: error: {e}");
            ExitCode::from(e.exit as u8)
        }
    }
}

/// Shared by the subcommands: a runtime with the desktop services.
pub fn runtime(kv: Option<&std::path::Path>) -> Result<palisade::Runtime, CliError> {
    runtime_with(kv, None)
}

/// [`runtime`], with `dir` (if any) served to WASI programs as `/data`: read-only (capability
/// `files.read`), or also writable when its flag is set (`files.write`; docs/WASI.md).
pub fn runtime_with(
    kv: Option<&std::path::Path>,
    dir: Option<(&std::path::Path, bool)>,
) -> Result<palisade::Runtime, CliError> {
    use std::sync::Arc;
    let kv: Arc<dyn palisade::KvStore> = match kv {
        Some(dir) => Arc::new(
            palisade_std::FileKv::open(dir).map_err(|e| CliError::new(Exit::Io, format!("{e}")))?,
        ),
        None => Arc::new(palisade::MemoryKv::new()),
    };
    let mut builder = palisade_std::runtime_builder().kv_store(kv);
    if let Some((dir, writable)) = dir {
        let flag = if writable { "--dir-rw" } else { "--dir" };
        let files = palisade_std::DirFiles::new(dir).map_err(|e| {
            CliError::new(
                Exit::Io,
                format!("{flag} {}: {e}; give an existing directory", dir.display()),
            )
        })?;
        builder = if writable {
            builder.wasi_files_writable(Arc::new(files))
        } else {
            builder.wasi_files(Arc::new(files))
        };
    }
    builder.build().map_err(CliError::from)
}
