//! `palisade keygen`, `pack`, `verify`, and bundle loading for `run` and `inspect`.
//!
//! Bundles are the core's format (`palisade::bundle`, docs/BUNDLE.md); this module only reads
//! and writes files around it.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use palisade::Escaped;
use palisade::bundle::{self, BUNDLE_MAGIC};
use palisade::{
    Bundle, BundleBuilder, BundleError, ErrorKind, PublicKey, Registry, Runtime, TrustStore,
};
use serde::Deserialize;

use crate::exit::{CliError, Exit};
use crate::load;

/// Arguments of `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the secret key; the public key goes to the same path plus `.pub`.
    #[arg(long, value_name = "FILE", default_value = "palisade.key")]
    pub out: PathBuf,
    /// Overwrite existing key files.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `pack`.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// The module to pack (.wasm or .wat).
    pub module: PathBuf,
    /// A TOML manifest: name, version, provenance, capabilities, and a `[smoke]` table (entry, input, expected).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// The secret key to sign with (from `palisade keygen`).
    #[arg(long, value_name = "FILE", required_unless_present = "unsigned")]
    pub key: Option<PathBuf>,
    /// Make an unsigned bundle (only hosts that accept unsigned bundles will load it).
    #[arg(long, conflicts_with = "key")]
    pub unsigned: bool,
    /// Where to write the bundle (default: the module's path with extension `.bundle`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Plugin name (default: the manifest's, else the module's file name).
    #[arg(long)]
    pub name: Option<String>,
    /// Version (default: the manifest's, else 0.0.0).
    #[arg(long = "plugin-version", value_name = "VERSION")]
    pub version: Option<String>,
    /// Capabilities the bundle asks for (default: the manifest's, else what the module imports).
    #[arg(long, value_name = "CAP,...", value_delimiter = ',')]
    pub capabilities: Vec<String>,
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle to verify.
    pub bundle: PathBuf,
    /// Trusted public keys: `.pub` files from `palisade keygen`, or 64 hex digits.
    #[arg(long, value_name = "KEY,...", value_delimiter = ',', required = true)]
    pub trust: Vec<String>,
    /// Accept an unsigned bundle (its digest is still checked).
    #[arg(long)]
    pub allow_unsigned: bool,
}

/// The `[smoke]` table of a pack manifest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SmokeSpec {
    entry: String,
    #[serde(default)]
    input: String,
    expected: String,
}

/// A pack manifest (TOML).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackManifest {
    name: Option<String>,
    version: Option<String>,
    #[serde(default)]
    provenance: String,
    capabilities: Option<Vec<String>>,
    smoke: Option<SmokeSpec>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

fn read_key(path: &Path, what: &str) -> Result<[u8; 32], CliError> {
    let text =
        load::read_capped(path, 4096, what, "").map_err(|e| CliError::new(Exit::Io, e.message))?;
    let text = String::from_utf8_lossy(&text);
    parse_hex32(&text).ok_or_else(|| {
        CliError::new(
            Exit::Usage,
            format!(
                "{} is not a Palisade {what} (expected 64 hex digits); make one with `palisade keygen`",
                path.display()
            ),
        )
    })
}

/// A trust store from `--trust` values (files or hex).
pub fn trust_store(values: &[String], require: bool) -> Result<TrustStore, CliError> {
    let mut trust = if require {
        TrustStore::require_signatures()
    } else {
        TrustStore::signatures_optional()
    };
    for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        let key = match parse_hex32(v) {
            Some(k) => k,
            None => read_key(Path::new(v), "public key")?,
        };
        trust
            .add_key(&PublicKey::from_bytes(key))
            .map_err(|e| CliError::new(Exit::Usage, format!("--trust {v}: {e}")))?;
    }
    Ok(trust)
}

/// Whether `bytes` start like a bundle.
pub fn is_bundle(bytes: &[u8]) -> bool {
    bytes.starts_with(&BUNDLE_MAGIC)
}

fn bundle_error(path: &Path, e: palisade::Error) -> CliError {
    let hint = match e.kind() {
        ErrorKind::Bundle(BundleError::UntrustedKey(key)) => {
            format!(" (to trust this signer, pass --trust {key} or its .pub file)")
        }
        _ => String::new(),
    };
    CliError::new(Exit::of(&e), format!("{}: {e}{hint}", path.display()))
}

/// What a verified bundle holds.
pub struct Opened {
    /// The module bytes.
    pub module: Vec<u8>,
    /// Plugin name.
    pub name: String,
    /// One line describing the bundle and its signature.
    pub summary: String,
}

/// Verifies a bundle fully (structure, signature, trust, digest, manifest vs module) by
/// registering it in a scratch registry over a new generation of `runtime`.
pub fn open(
    runtime: &Runtime,
    path: &Path,
    bytes: &[u8],
    trust: &TrustStore,
) -> Result<Opened, CliError> {
    let b = Bundle::new_checked(bytes).map_err(|e| bundle_error(path, e.into()))?;
    let scratch = Registry::new(runtime.new_generation()?);
    scratch
        .register_bundle(bytes, trust)
        .map_err(|e| bundle_error(path, e))?;
    let m = b.manifest();
    // Manifest text is the bundle author's, not ours: escaped before it reaches the terminal.
    let summary = match b.signer() {
        Some(k) => format!(
            "bundle {} {} signed by {} (trusted)",
            Escaped::str(m.name()),
            Escaped::str(m.version()),
            k
        ),
        None => format!(
            "bundle {} {} (unsigned)",
            Escaped::str(m.name()),
            Escaped::str(m.version())
        ),
    };
    Ok(Opened {
        module: b.module().to_vec(),
        name: m.name().to_owned(),
        summary,
    })
}

pub fn keygen(args: &KeygenArgs) -> Result<Exit, CliError> {
    let mut pub_path = args.out.clone().into_os_string();
    pub_path.push(".pub");
    let pub_path = PathBuf::from(pub_path);
    for p in [&args.out, &pub_path] {
        if p.exists() && !args.force {
            return Err(CliError::new(
                Exit::Io,
                format!(
                    "{} already exists; pass --force to overwrite it, or choose another --out",
                    p.display()
                ),
            ));
        }
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| {
        CliError::new(
            Exit::Internal,
            format!("the OS random generator failed: {e}; retry"),
        )
    })?;
    let public = bundle::public_key(&secret);
    write_secret(&args.out, &format!("{}\n", hex(&secret)))?;
    std::fs::write(&pub_path, format!("{public}\n")).map_err(|e| CliError::write(&pub_path, &e))?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "secret key  {} (keep it secret)", args.out.display());
    let _ = writeln!(out, "public key  {} ({})", pub_path.display(), public);
    Ok(Exit::Ok)
}

fn write_secret(path: &Path, text: &str) -> Result<(), CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(|e| CliError::write(path, &e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| CliError::write(path, &e))
}

pub fn pack(args: &PackArgs) -> Result<Exit, CliError> {
    let raw =
        load::read_capped(&args.module, load::MAX_FILE_BYTES, "module", "").map_err(|e| match e
            .exit
        {
            Exit::Rejected => CliError::new(Exit::InvalidModule, e.message),
            _ => e,
        })?;
    if is_bundle(&raw) {
        return Err(CliError::new(
            Exit::Usage,
            format!(
                "{} is already a bundle; pass the module it was packed from",
                args.module.display()
            ),
        ));
    }
    let wasm = load::module_bytes(&args.module, raw)?;
    let manifest: PackManifest = match &args.manifest {
        Some(p) => {
            let text = load::read_capped(p, 1 << 20, "manifest", "")?;
            toml::from_str(&String::from_utf8_lossy(&text)).map_err(|e| {
                CliError::new(
                    Exit::Usage,
                    format!(
                        "{} is not a valid pack manifest: {e}; fields are name, version, provenance, capabilities and [smoke] entry/input/expected",
                        p.display()
                    ),
                )
            })?
        }
        None => PackManifest::default(),
    };
    let runtime = crate::runtime(None)?;
    let module = runtime
        .compile(&wasm)
        .map_err(|e| CliError::new(Exit::of(&e), format!("{}: {e}", args.module.display())))?;
    let stem = args
        .module
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| String::from("plugin"));
    let name = args.name.clone().or(manifest.name).unwrap_or(stem);
    let version = args
        .version
        .clone()
        .or(manifest.version)
        .unwrap_or_else(|| String::from("0.0.0"));
    let capabilities: Vec<String> = if !args.capabilities.is_empty() {
        args.capabilities.clone()
    } else if let Some(c) = manifest.capabilities {
        c
    } else {
        let mut needed: Vec<String> = module
            .info()
            .imports
            .iter()
            .filter_map(|(n, _)| runtime.capability_of_import(n))
            .filter(|c| *c != "core")
            .map(str::to_owned)
            .collect();
        needed.sort_unstable();
        needed.dedup();
        needed
    };
    let mut builder = BundleBuilder::new(&name, &version, &wasm)
        .provenance(&manifest.provenance)
        .abi_version(module.info().abi_version);
    for c in &capabilities {
        builder = builder.capability(c);
    }
    if let Some(s) = &manifest.smoke {
        builder = builder.smoke(&s.entry, s.input.as_bytes(), s.expected.as_bytes());
    }
    let (bytes, trust) = match &args.key {
        Some(key_path) => {
            let secret = read_key(key_path, "secret key")?;
            let mut trust = TrustStore::require_signatures();
            trust.add_key(&bundle::public_key(&secret))?;
            (builder.sign(&secret)?, trust)
        }
        None => (builder.build_unsigned()?, TrustStore::signatures_optional()),
    };
    // Refuse to write a bundle that no host would accept (a manifest that does not cover the
    // module's imports, a capability nobody knows).
    let out_path = args
        .out
        .clone()
        .unwrap_or_else(|| args.module.with_extension("bundle"));
    let opened = open(&runtime, &out_path, &bytes, &trust)?;
    std::fs::write(&out_path, &bytes).map_err(|e| CliError::write(&out_path, &e))?;
    let _ = writeln!(
        std::io::stdout().lock(),
        "wrote {} ({} bytes): {}, capabilities [{}], module digest {}",
        out_path.display(),
        bytes.len(),
        opened.summary.replace(" (trusted)", ""),
        capabilities.join(", "),
        module.digest()
    );
    Ok(Exit::Ok)
}

pub fn verify(args: &VerifyArgs) -> Result<Exit, CliError> {
    let bytes =
        load::read_capped(&args.bundle, load::MAX_FILE_BYTES, "bundle", "").map_err(|e| match e
            .exit
        {
            Exit::Rejected => CliError::new(Exit::InvalidModule, e.message),
            _ => e,
        })?;
    if !is_bundle(&bytes) {
        let what = if load::is_wasm(&bytes) {
            "a bare WebAssembly module, not a bundle; pack it with `palisade pack`"
        } else {
            "not a Palisade bundle (it does not start with `PLSB`); pass a file made by `palisade pack`"
        };
        return Err(CliError::new(
            Exit::InvalidModule,
            format!("{} is {what}", args.bundle.display()),
        ));
    }
    let trust = trust_store(&args.trust, !args.allow_unsigned)?;
    let runtime = crate::runtime(None)?;
    let opened = open(&runtime, &args.bundle, &bytes, &trust)?;
    let _ = writeln!(
        std::io::stdout().lock(),
        "verified: {}; module digest {}",
        opened.summary,
        palisade::Digest::of(&opened.module)
    );
    Ok(Exit::Ok)
}
