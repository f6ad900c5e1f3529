//! `palisade run`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use clap::Args;
use palisade::{CallReport, CompiledModule, Limits, Runtime};

use crate::exit::{CliError, Exit};
use crate::load;

// The flags' defaults are the core's: written here once as text for `--help`, never restated.
/// `--memory`'s default, [`Limits::DEFAULT_MEMORY_BYTES`], as `--help` shows it.
static DEFAULT_MEMORY: LazyLock<String> =
    LazyLock::new(|| human_bytes(Limits::DEFAULT_MEMORY_BYTES));
/// `--max-input`'s default, [`Limits::DEFAULT_INPUT_BYTES`], as `--help` shows it.
static DEFAULT_MAX_INPUT: LazyLock<String> =
    LazyLock::new(|| human_bytes(Limits::DEFAULT_INPUT_BYTES));
/// `--deadline`'s default in milliseconds: [`Limits::DEFAULT_DEADLINE`].
const DEFAULT_DEADLINE_MS: u64 =
    Limits::DEFAULT_DEADLINE.as_secs() * 1000 + Limits::DEFAULT_DEADLINE.subsec_millis() as u64;

/// `n` bytes in the largest binary unit that divides it exactly (`16MiB`, `64KiB`, `1000`):
/// the inverse of [`parse_bytes`].
fn human_bytes(n: usize) -> String {
    const UNITS: [(usize, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    UNITS
        .iter()
        .find(|(size, _)| n != 0 && n.is_multiple_of(*size))
        .map_or_else(
            || n.to_string(),
            |(size, unit)| format!("{}{unit}", n / size),
        )
}

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The module (.wasm or .wat) or bundle to run.
    pub path: PathBuf,
    /// The entry point to call (default: the module's only entry point).
    #[arg(long, value_name = "NAME")]
    pub entry: Option<String>,
    /// The input: a file, or `-` for stdin (default: empty).
    #[arg(long, value_name = "FILE|-")]
    pub input: Option<PathBuf>,
    /// Fuel budget (≈ instructions, plus host-call prices).
    #[arg(long, value_name = "N", default_value_t = Limits::DEFAULT_FUEL)]
    pub fuel: u64,
    /// Linear memory cap in bytes (suffixes KiB, MiB accepted).
    #[arg(long, value_name = "BYTES", default_value = DEFAULT_MEMORY.as_str(), value_parser = parse_bytes)]
    pub memory: usize,
    /// Wall-clock deadline in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_DEADLINE_MS)]
    pub deadline: u64,
    /// Capabilities to grant, comma-separated (log, clock, random, kv.read, kv.write).
    /// Nothing is granted by default.
    #[arg(long, value_name = "CAP,...", value_delimiter = ',')]
    pub allow: Vec<String>,
    /// Largest input accepted, in bytes (suffixes KiB, MiB accepted).
    #[arg(long, value_name = "BYTES", default_value = DEFAULT_MAX_INPUT.as_str(), value_parser = parse_bytes)]
    pub max_input: usize,
    /// Public keys trusted to sign bundles: `.pub` files or 64 hex digits. A signed bundle must
    /// be signed by one of them.
    #[arg(long, value_name = "KEY,...", value_delimiter = ',')]
    pub trust: Vec<String>,
    /// Refuse unsigned bundles (and bare modules).
    #[arg(long)]
    pub require_signed: bool,
    /// Keep `kv.*` data in this directory between runs (default: in memory, discarded).
    #[arg(long, value_name = "DIR")]
    pub kv: Option<PathBuf>,
    /// Serve this directory, read-only, to a WASI program as `/data` (grants capability
    /// `files.read`; the one way a guest reaches files, docs/WASI.md).
    #[arg(long, value_name = "DIR", conflicts_with = "dir_rw")]
    pub dir: Option<PathBuf>,
    /// Serve this directory to a WASI program as `/data`, readable and writable (grants
    /// `files.read` and `files.write`: it may create, write, rename and remove files in it,
    /// within the quotas of docs/WASI.md, never outside it).
    #[arg(long, value_name = "DIR")]
    pub dir_rw: Option<PathBuf>,
    /// Print one JSON object (output and report) instead of the raw output.
    #[arg(long)]
    pub json: bool,
    /// Environment variables a WASI program sees (docs/WASI.md): `KEY=VALUE`, repeatable.
    /// Nothing of palisade's own environment is passed.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Arguments of a WASI program, after `--` (its first argument is the file's name).
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

/// Parses `1234`, `64KiB`, `16MiB`, `1GiB` (also `K`, `M`, `G`, `KB`, `MB`: binary units).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: usize = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a byte count; write e.g. 65536, 64KiB or 16MiB"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(format!("unknown unit `{other}`; use B, KiB, MiB or GiB"));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// The module to run, from a `.wasm`/`.wat` file or a bundle.
pub struct Loaded {
    pub module: CompiledModule,
    /// Set for a bundle: its manifest's entry point, if it names one.
    pub default_entry: Option<String>,
}

pub fn load_module(
    runtime: &Runtime,
    path: &std::path::Path,
    trust: &palisade::TrustStore,
) -> Result<Loaded, CliError> {
    let bytes =
        load::read_capped(path, load::MAX_FILE_BYTES, "module", "").map_err(|e| match e.exit {
            Exit::Rejected => CliError::new(Exit::InvalidModule, e.message),
            _ => e,
        })?;
    let (wasm, name) = if crate::bundle::is_bundle(&bytes) {
        let opened = crate::bundle::open(runtime, path, &bytes, trust)?;
        tracing::info!("{}", opened.summary);
        (opened.module, opened.name)
    } else {
        if trust.policy() == palisade::SignaturePolicy::Required {
            return Err(CliError::new(
                Exit::Signature,
                format!(
                    "{} is a bare module, and --require-signed accepts only signed bundles; pack and sign it with `palisade pack`",
                    path.display()
                ),
            ));
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        (load::module_bytes(path, bytes)?, name)
    };
    let module = runtime
        .compile_named(&wasm, Some(&name))
        .map_err(|e| CliError::new(Exit::of(&e), format!("{}: {e}", path.display())))?;
    Ok(Loaded {
        module,
        default_entry: None,
    })
}

pub fn choose_entry(
    module: &CompiledModule,
    asked: Option<&str>,
    default: Option<&str>,
) -> Result<String, CliError> {
    let entries: Vec<&str> = module.info().entries.iter().map(|e| &**e).collect();
    if let Some(e) = asked.or(default) {
        if module.info().has_entry(e) {
            return Ok(e.to_owned());
        }
        return Err(CliError::new(
            Exit::Rejected,
            format!(
                "the module has no entry point `{e}`; its entry points are: {}",
                entries.join(", ")
            ),
        ));
    }
    match entries.as_slice() {
        [only] => Ok((*only).to_owned()),
        _ => Err(CliError::new(
            Exit::Usage,
            format!(
                "the module has {} entry points ({}); choose one with --entry NAME",
                entries.len(),
                entries.join(", ")
            ),
        )),
    }
}

/// `--allow` names into a tenant being built.
fn tenant_with(
    mut builder: palisade::TenantBuilder<'_>,
    runtime: &Runtime,
    allow: &[String],
) -> Result<palisade::Tenant, CliError> {
    for cap in allow.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
        if !runtime.capabilities().any(|c| c == cap) {
            let known: Vec<&str> = runtime.capabilities().filter(|c| *c != "core").collect();
            return Err(CliError::new(
                Exit::Usage,
                format!(
                    "--allow {cap}: no such capability; this host knows: {}",
                    known.join(", ")
                ),
            ));
        }
        builder = builder.grant(cap);
    }
    builder.build().map_err(CliError::from)
}

/// Turns a denied capability into advice naming the `--allow` flag.
pub fn check_grants(
    runtime: &Runtime,
    module: &CompiledModule,
    tenant: &palisade::Tenant,
) -> Result<(), CliError> {
    runtime.check_grants(module, tenant).map_err(|e| {
        let hint = match e.kind() {
            palisade::ErrorKind::CapabilityDenied { .. } => {
                let mut needed: Vec<&str> = module
                    .info()
                    .imports
                    .iter()
                    .filter_map(|(name, _)| runtime.capability_of_import(name))
                    .filter(|c| *c != "core")
                    .collect();
                needed.sort_unstable();
                needed.dedup();
                format!(
                    " (to grant what the module needs, pass --allow {})",
                    needed.join(",")
                )
            }
            _ => String::new(),
        };
        CliError::new(Exit::of(&e), format!("{e}{hint}"))
    })
}

pub fn report_line(r: &CallReport) -> String {
    format!(
        "outcome={} fuel={} wall={:.3}ms memory_high_water={} digest={}",
        r.outcome,
        r.fuel_used,
        r.wall_time.as_secs_f64() * 1e3,
        r.memory_high_water,
        r.digest
    )
}

pub fn report_json(r: &CallReport) -> serde_json::Value {
    serde_json::json!({
        "outcome": r.outcome.as_str(),
        "fuel_used": r.fuel_used,
        "wall_time_us": u64::try_from(r.wall_time.as_micros()).unwrap_or(u64::MAX),
        "memory_high_water": r.memory_high_water,
        "memory_cap_hits": r.memory_cap_hits,
        "log_bytes": r.log_bytes,
        "log_dropped": r.log_dropped,
        "digest": r.digest.to_string(),
    })
}

/// The tenant's WASI arguments (the file's name, then `ARGS`) and `--env` variables.
fn wasi_tenant<'r>(
    builder: palisade::TenantBuilder<'r>,
    args: &RunArgs,
) -> Result<palisade::TenantBuilder<'r>, CliError> {
    let name = args
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let argv: Vec<&str> = std::iter::once(name.as_str())
        .chain(args.args.iter().map(String::as_str))
        .collect();
    let mut vars = Vec::new();
    for var in &args.env {
        let Some((k, v)) = var.split_once('=') else {
            return Err(CliError::new(
                Exit::Usage,
                format!("--env {var}: write KEY=VALUE"),
            ));
        };
        vars.push((k.to_owned(), v.to_owned()));
    }
    Ok(builder.wasi_args(argv).wasi_env(vars))
}

/// Runs one call; the process exit code (an [`Exit`], or a WASI program's own status).
pub fn run(args: &RunArgs) -> Result<u8, CliError> {
    let dir = match (&args.dir, &args.dir_rw) {
        (_, Some(rw)) => Some((rw.as_path(), true)),
        (Some(ro), None) => Some((ro.as_path(), false)),
        (None, None) => None,
    };
    let runtime = crate::runtime_with(args.kv.as_deref(), dir)?;
    let trust = crate::bundle::trust_store(&args.trust, args.require_signed)?;
    let loaded = load_module(&runtime, &args.path, &trust)?;
    let module = &loaded.module;
    let limits = Limits::builder()
        .fuel(args.fuel)
        .memory_bytes(args.memory)
        .deadline(Duration::from_millis(args.deadline))
        .input_bytes(args.max_input)
        // A CLI run is one call: the rate limit protects servers, not this.
        .calls_per_second(0)
        .build();
    let wasi = module.info().wasi.is_some();
    let mut builder = runtime.tenant("cli").limits(limits);
    if wasi {
        builder = wasi_tenant(builder, args)?;
    } else if !args.args.is_empty() || !args.env.is_empty() {
        return Err(CliError::new(
            Exit::Usage,
            "arguments after `--` and --env are for WASI programs; this module is an ABI-v1 guest (give it --input)",
        ));
    }
    if let Some((_, writable)) = dir {
        if !wasi {
            return Err(CliError::new(
                Exit::Usage,
                "--dir and --dir-rw are for WASI programs; this module is an ABI-v1 guest",
            ));
        }
        builder = builder.grant(palisade::wasi::FILES_READ);
        if writable {
            builder = builder.grant(palisade::wasi::FILES_WRITE);
        }
    }
    let tenant = tenant_with(builder, &runtime, &args.allow)?;
    check_grants(&runtime, module, &tenant)?;
    let entry = choose_entry(
        module,
        args.entry.as_deref(),
        loaded.default_entry.as_deref(),
    )?;
    let input = match &args.input {
        Some(p) => load::read_capped(p, args.max_input as u64, "input", "--max-input BYTES")?,
        // A WASI program reads its stdin: ours, unless it is a terminal.
        None if wasi && !std::io::stdin().is_terminal() => load::read_capped(
            std::path::Path::new("-"),
            args.max_input as u64,
            "input",
            "--max-input BYTES",
        )?,
        None => Vec::new(),
    };
    // A WASI program's stdout reaches ours as it writes it (not in --json mode, where the
    // output is a field): a terminal sees progress, and what it wrote before failing is kept.
    let streamed = wasi && !args.json;
    let call = if streamed {
        let mut extensions = palisade::Extensions::new();
        extensions.insert(palisade::wasi::StdoutSink::new(|bytes: &[u8]| {
            let mut out = std::io::stdout().lock();
            // A closed stdout (`| head`) is not the guest's failure: its bytes are dropped.
            let _ = out.write_all(bytes).and_then(|()| out.flush());
        }));
        runtime.call_with_extensions(module, &tenant, &entry, &input, &mut extensions)
    } else {
        runtime.call(module, &tenant, &entry, &input)
    };
    let exit = match &call.result {
        Ok(_) => Exit::Ok as u8,
        // A WASI program's exit status is ours (docs/CLI.md).
        Err(e) if wasi => match e.kind() {
            palisade::ErrorKind::GuestError { code, .. } => {
                u8::try_from(*code).unwrap_or(Exit::GuestError as u8)
            }
            _ => Exit::of(e) as u8,
        },
        Err(e) => Exit::of(e) as u8,
    };
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    if args.json {
        let (output, error) = match &call.result {
            Ok(out) => (Some(out.as_slice()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let value = serde_json::json!({
            "entry": entry,
            "output": output.map(|o| String::from_utf8_lossy(o).into_owned()),
            "output_hex": output.map(|o| o.iter().map(|b| format!("{b:02x}")).collect::<String>()),
            "error": error,
            "exit_code": exit,
            "report": report_json(&call.report),
        });
        let _ = writeln!(stdout, "{value}");
        return Ok(exit);
    }
    if wasi {
        // A WASI program's stdout (already streamed) and stderr are its own: no report line
        // unless asked for; an error follows whatever the program wrote.
        if let Err(e) = &call.result {
            let _ = writeln!(stderr, "palisade: error: {e}");
        }
        tracing::info!("{}", report_line(&call.report));
        return Ok(exit);
    }
    match &call.result {
        Ok(out) => {
            let _ = stdout.write_all(out);
            if std::io::stdout().is_terminal() && !out.ends_with(b"\n") && !out.is_empty() {
                let _ = writeln!(stdout);
            }
            let _ = stdout.flush();
        }
        Err(e) => {
            let _ = writeln!(stderr, "palisade: error: {e}");
        }
    }
    let _ = writeln!(stderr, "{}", report_line(&call.report));
    Ok(exit)
}
