//! Writes the browser tests' fixtures (`hosts/web/e2e`) into a directory: signed bundles of the
//! thermostat (two versions) and of the hostile infinite loop, and the public key that signed
//! them (a fixed, throwaway test key: never trust it on a real server).
//!
//! ```sh
//! cargo run -p palisade-server --example web_fixtures -- DIR
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use palisade_guest_artifacts::{THERMOSTAT, hostile};

/// The throwaway signing key of the fixtures.
const SECRET: [u8; 32] = [7; 32];

/// `module` with a custom section naming `version`: the same code under another digest, so
/// that two versions of a plugin can be told apart by the registry.
fn tagged(module: &[u8], version: &str) -> Vec<u8> {
    let name = b"palisade.fixture";
    let mut payload = Vec::new();
    payload.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
    payload.extend_from_slice(name);
    payload.extend_from_slice(version.as_bytes());
    let mut out = module.to_vec();
    out.push(0); // custom section
    // LEB128 length: fixture payloads are far below 128 bytes.
    out.push(u8::try_from(payload.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(&payload);
    out
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: web_fixtures DIR");
        return ExitCode::from(2);
    };
    let bundles: [(&str, &str, Vec<u8>, &[&str]); 3] = [
        (
            "thermostat",
            "1.0.0",
            tagged(THERMOSTAT, "1.0.0"),
            &["log", "kv.read", "kv.write"],
        ),
        (
            "thermostat",
            "1.1.0",
            tagged(THERMOSTAT, "1.1.0"),
            &["log", "kv.read", "kv.write"],
        ),
        ("loop", "1.0.0", hostile::INFINITE_LOOP.to_vec(), &[]),
    ];
    let write = || -> Result<(), String> {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        for (name, version, module, caps) in &bundles {
            let mut b = palisade::BundleBuilder::new(name, version, module);
            for c in *caps {
                b = b.capability(c);
            }
            let bytes = b.sign(&SECRET).map_err(|e| e.to_string())?;
            let path = dir.join(format!("{name}-{version}.bundle"));
            std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let key = palisade::bundle::public_key(&SECRET).to_string();
        std::fs::write(dir.join("trusted.pub"), key).map_err(|e| e.to_string())
    };
    match write() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("web_fixtures: {e}");
            ExitCode::FAILURE
        }
    }
}
