//! Builds the browser runtime (`hosts/web`, crate `palisade-web`) for `wasm32-unknown-unknown`
//! and prepares it for delivery, so that `include_bytes!` in `src/web.rs` embeds it:
//!
//! 1. a nested `cargo build --release --target wasm32-unknown-unknown --locked` of `hosts/web`
//!    (its own workspace and size-first profile: `opt-level = "s"`, LTO, `panic = "abort"`,
//!    `strip = true`), into `<outer target>/palisade-web`, without the outer build's flags;
//! 2. the file name `palisade-web.<first 16 hex digits of its SHA-256>.wasm`, so that it can be
//!    cached forever (`immutable`) and a new build is a new URL;
//! 3. gzip (level 9) and brotli (quality 11) variants, computed once here rather than per request.
//!
//! It writes `OUT_DIR/web_runtime.rs` with the name, the sizes and the three byte arrays.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest as _, Sha256};

type Result<T = ()> = std::result::Result<T, String>;

const TARGET: &str = "wasm32-unknown-unknown";

fn main() -> Result {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let root = manifest
        .ancestors()
        .nth(2)
        .ok_or("hosts/server has no grandparent directory")?
        .to_path_buf();
    let web = root.join("hosts").join("web");
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);

    println!("cargo:rerun-if-changed=build.rs");
    for dir in [web.join("src"), root.join("core").join("src")] {
        rerun_for(&dir)?;
    }
    for file in ["Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", web.join(file).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("core").join("Cargo.toml").display()
    );
    println!("cargo:rerun-if-env-changed=PALISADE_WEB_TARGET_DIR");

    let target_dir = nested_target_dir(&out);
    cargo_build(&web, &target_dir)?;
    let built = target_dir
        .join(TARGET)
        .join("release")
        .join("palisade_web.wasm");
    let raw = fs::read(&built).map_err(|e| format!("reading {}: {e}", built.display()))?;

    let hash = Sha256::digest(&raw);
    let mut hex = String::new();
    for b in hash.iter().take(8) {
        let _ = write!(hex, "{b:02x}");
    }
    let name = format!("palisade-web.{hex}.wasm");

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
    gz.write_all(&raw).map_err(|e| e.to_string())?;
    let gz = gz.finish().map_err(|e| e.to_string())?;
    let mut br = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut br, 4096, 11, 22);
        w.write_all(&raw).map_err(|e| e.to_string())?;
    }

    for (file, bytes) in [
        ("runtime.wasm", &raw),
        ("runtime.wasm.gz", &gz),
        ("runtime.wasm.br", &br),
    ] {
        fs::write(out.join(file), bytes).map_err(|e| format!("writing {file}: {e}"))?;
    }
    let rs = format!(
        "/// The runtime's content-hashed file name.\n\
         pub const RUNTIME_NAME: &str = {name:?};\n\
         /// The stripped runtime module.\n\
         pub const RUNTIME: &[u8] = include_bytes!(concat!(env!(\"OUT_DIR\"), \"/runtime.wasm\"));\n\
         /// The runtime, gzip level 9.\n\
         pub const RUNTIME_GZIP: &[u8] = include_bytes!(concat!(env!(\"OUT_DIR\"), \"/runtime.wasm.gz\"));\n\
         /// The runtime, brotli quality 11.\n\
         pub const RUNTIME_BROTLI: &[u8] = include_bytes!(concat!(env!(\"OUT_DIR\"), \"/runtime.wasm.br\"));\n"
    );
    fs::write(out.join("web_runtime.rs"), rs).map_err(|e| e.to_string())?;
    Ok(())
}

/// Emits `rerun-if-changed` for every file under `dir`.
fn rerun_for(dir: &Path) -> Result {
    let entries = fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            rerun_for(&path)?;
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    Ok(())
}

/// `PALISADE_WEB_TARGET_DIR`, else `<outer target dir>/palisade-web` (from
/// `OUT_DIR = <target>/<profile>/build/<pkg>/out`), so that every outer profile shares one
/// build; else `OUT_DIR/web-target`.
fn nested_target_dir(out: &Path) -> PathBuf {
    if let Some(dir) = env::var_os("PALISADE_WEB_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    match out.ancestors().nth(4) {
        Some(target) if out.ancestors().nth(2).is_some_and(|b| b.ends_with("build")) => {
            target.join("palisade-web")
        }
        _ => out.join("web-target"),
    }
}

fn cargo_build(web: &Path, target_dir: &Path) -> Result {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(web)
        .args(["build", "--release", "--target", TARGET, "--locked"])
        .env("CARGO_TARGET_DIR", target_dir);
    // The outer build's flags and wrappers are for the host target, not for the page.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_PROFILE_RELEASE_OPT_LEVEL",
        "CARGO_PROFILE_RELEASE_LTO",
        "CARGO_PROFILE_RELEASE_DEBUG",
        "CARGO_PROFILE_RELEASE_PANIC",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("could not run cargo for the web runtime: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "building the web runtime failed ({status}); the compiler's messages are above. To \
             see them alone, run `cargo build --release --target {TARGET}` in {} (the target \
             needs `rustup target add {TARGET}`)",
            web.display()
        ))
    }
}
