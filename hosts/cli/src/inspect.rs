//! `palisade inspect`.

use std::io::Write;

use palisade::Digest;
use palisade::abi::{ABI_SECTION, ALLOC_EXPORT, IMPORT_NAMESPACE, MEMORY_EXPORT};
use palisade::wasmi::{self, ExternType};

use crate::InspectArgs;
use crate::exit::{CliError, Exit};
use crate::load;

struct Import {
    name: String,
    kind: String,
    /// The capability, or `None` when the host does not provide it.
    capability: Option<String>,
    /// For a `wasi_snapshot_preview1` function: what the WASI profile does with it.
    wasi: Option<palisade::wasi::Access>,
}

/// What the WASI profile does with an import, for the text output (docs/WASI.md).
fn wasi_text(name: &str, access: palisade::wasi::Access) -> String {
    use palisade::wasi::Access;
    match access {
        Access::Always if name.ends_with(".fd_write") => String::from(
            "WASI: stdout = the output (always); stderr = the log with capability `log`",
        ),
        Access::Always => String::from("WASI: always (stdio, args, env, exit, sleep)"),
        Access::Capability(c) => format!("WASI: capability `{c}` (ENOTCAPABLE without it)"),
        Access::Denied => String::from("WASI: ENOTCAPABLE (outside the profile)"),
    }
}

fn kind_of(ty: &ExternType) -> &'static str {
    match ty {
        ExternType::Func(_) => "function",
        ExternType::Global(_) => "global",
        ExternType::Table(_) => "table",
        ExternType::Memory(_) => "memory",
    }
}

/// What a module is: parsed (validated) without the contract check, so that a module that
/// breaks the contract can still be shown.
pub fn inspect(args: &InspectArgs) -> Result<Exit, CliError> {
    let path = &args.path;
    let raw =
        load::read_capped(path, load::MAX_FILE_BYTES, "file", "").map_err(|e| match e.exit {
            Exit::Rejected => CliError::new(Exit::InvalidModule, e.message),
            _ => e,
        })?;
    let file_size = raw.len();
    let mut bundle_lines: Vec<(&str, String)> = Vec::new();
    let mut signature_exit = Exit::Ok;
    let (wasm, signature) = if crate::bundle::is_bundle(&raw) {
        let b = palisade::Bundle::new_checked(&raw).map_err(|e| {
            let e = palisade::Error::from(e);
            CliError::new(Exit::of(&e), format!("{}: {e}", path.display()))
        })?;
        let m = b.manifest();
        // Manifest text is the bundle author's: escaped before it reaches the terminal.
        bundle_lines.push((
            "plugin",
            format!(
                "{} {}",
                palisade::Escaped::str(m.name()),
                palisade::Escaped::str(m.version())
            ),
        ));
        if !m.provenance().is_empty() {
            bundle_lines.push((
                "provenance",
                palisade::Escaped::str(m.provenance()).to_string(),
            ));
        }
        let caps: Vec<&str> = m.capabilities().collect();
        bundle_lines.push((
            "asks for",
            if caps.is_empty() {
                String::from("no capabilities")
            } else {
                caps.join(", ")
            },
        ));
        if let Some(s) = m.smoke() {
            bundle_lines.push((
                "smoke",
                format!(
                    "{}({} bytes) -> {} bytes",
                    s.entry,
                    s.input.len(),
                    s.expected.len()
                ),
            ));
        }
        let trust = crate::bundle::trust_store(&args.trust, false)?;
        let signature = match b.signer() {
            None => match b.verify(&trust) {
                Ok(_) => String::from("unsigned bundle (module digest matches the manifest)"),
                Err(e) => {
                    signature_exit = Exit::Signature;
                    format!("unsigned bundle; INVALID: {e}")
                }
            },
            Some(key) => {
                let key_hex = key.to_string();
                let mut self_trust = palisade::TrustStore::signatures_optional();
                self_trust.add_key(&key)?;
                match b.verify(&self_trust) {
                    Err(e) => {
                        signature_exit = Exit::Signature;
                        format!("INVALID: {e} (signer {key_hex})")
                    }
                    Ok(_) if args.trust.is_empty() => format!(
                        "valid signature by {key_hex} (pass --trust to check the key against yours)"
                    ),
                    Ok(_) if trust.is_trusted(&key) => {
                        format!("valid signature by trusted key {key_hex}")
                    }
                    Ok(_) => {
                        signature_exit = Exit::Signature;
                        format!("valid signature by {key_hex}, which is NOT among the --trust keys")
                    }
                }
            }
        };
        (b.module().to_vec(), signature)
    } else {
        (
            load::module_bytes(path, raw)?,
            String::from("none (a bare module; `palisade pack` makes a signed bundle)"),
        )
    };

    let mut config = wasmi::Config::default();
    config.wasm_custom_page_sizes(true);
    let engine = wasmi::Engine::new(&config);
    let parsed = wasmi::Module::new(&engine, &wasm).map_err(|e| {
        CliError::new(
            Exit::InvalidModule,
            format!(
                "{} is not a valid WebAssembly module: {e}; check that the file is a complete .wasm (not truncated)",
                path.display()
            ),
        )
    })?;
    let runtime = crate::runtime(None)?;
    let contract = runtime.compile(&wasm);
    let wasi_kind = contract
        .as_ref()
        .ok()
        .and_then(|m| m.info().wasi.as_ref().map(|w| w.kind));
    let abi = match (palisade::abi::abi_version(&wasm), wasi_kind) {
        (Ok(v), _) => format!("{v}"),
        (Err(_), Some(_)) => String::from("none: a WASI preview1 guest (docs/WASI.md)"),
        (Err(e), None) => format!("invalid: {e}"),
    };

    let exports: Vec<(String, String)> = parsed
        .exports()
        .map(|e| {
            let name = e.name().to_owned();
            let role = match e.ty() {
                ExternType::Memory(_) if name == MEMORY_EXPORT => "memory",
                ExternType::Func(_) if name == ALLOC_EXPORT => "allocator",
                ExternType::Func(_)
                    if contract.as_ref().is_ok_and(|m| m.info().has_entry(&name)) =>
                {
                    "entry point"
                }
                ty => kind_of(ty),
            };
            (name, role.to_owned())
        })
        .collect();
    let imports: Vec<Import> = parsed
        .imports()
        .map(|i| {
            let capability = (i.module() == IMPORT_NAMESPACE
                && matches!(i.ty(), ExternType::Func(_)))
            .then(|| runtime.capability_of_import(i.name()).map(str::to_owned))
            .flatten();
            let wasi = (i.module() == palisade::wasi::NAMESPACE
                && matches!(i.ty(), ExternType::Func(_)))
            .then(|| palisade::wasi::access(i.name()))
            .flatten();
            let capability = capability.or_else(|| match wasi {
                Some(palisade::wasi::Access::Capability(c)) => Some(c.to_owned()),
                _ => None,
            });
            Import {
                name: format!("{}.{}", i.module(), i.name()),
                kind: kind_of(i.ty()).to_owned(),
                capability,
                wasi,
            }
        })
        .collect();
    let mut needs: Vec<&str> = imports
        .iter()
        .filter_map(|i| i.capability.as_deref())
        .filter(|c| *c != "core")
        .collect();
    needs.sort_unstable();
    needs.dedup();
    let customs: Vec<(String, usize)> = parsed
        .custom_sections()
        .map(|s| (s.name().to_owned(), s.data().len()))
        .collect();
    let digest = Digest::of(&wasm);
    // The core runs a start function as an ordinary call (hoisted into the export
    // `palisade_start`, which the exports above, parsed from the bytes as written, do not show).
    let has_start = contract.as_ref().is_ok_and(|m| m.info().has_start);
    let (contract_text, exit) = match &contract {
        Ok(_) => (
            match wasi_kind {
                Some(palisade::abi::WasiKind::Command) => {
                    String::from("ok (a WASI command: `palisade run FILE -- ARGS`, docs/WASI.md)")
                }
                Some(palisade::abi::WasiKind::Reactor) => {
                    String::from("ok (a WASI reactor, docs/WASI.md)")
                }
                None => String::from("ok (follows ABI v1, docs/ABI.md)"),
            },
            signature_exit,
        ),
        Err(e) => match e.kind() {
            palisade::ErrorKind::ContractViolation(v) => (format!("violation: {v}"), Exit::of(e)),
            _ => (format!("refused: {e}"), Exit::of(e)),
        },
    };
    let kind = if bundle_lines.is_empty() {
        "module"
    } else {
        "bundle"
    };

    let mut out = std::io::stdout().lock();
    if args.json {
        let value = serde_json::json!({
            "path": path.display().to_string(),
            "kind": kind,
            "bundle": bundle_lines.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(v.clone()))).collect::<serde_json::Map<_, _>>(),
            "digest": digest.to_string(),
            "size": wasm.len(),
            "file_size": file_size,
            "abi_version": abi,
            "exports": exports.iter().map(|(n, r)| serde_json::json!({"name": n, "kind": r})).collect::<Vec<_>>(),
            "imports": imports.iter().map(|i| serde_json::json!({
                "name": i.name, "kind": i.kind, "capability": i.capability,
                "known": i.capability.is_some() || i.wasi.is_some(),
                "wasi": i.wasi.map(|a| wasi_text(&i.name, a)),
            })).collect::<Vec<_>>(),
            "needs": needs,
            "start_function": has_start,
            "custom_sections": customs.iter().map(|(n, l)| serde_json::json!({"name": n, "bytes": l})).collect::<Vec<_>>(),
            "contract": contract_text,
            "signature": signature,
        });
        let _ = writeln!(out, "{value}");
        return Ok(exit);
    }
    let mut text = String::new();
    let mut line = |k: &str, v: &str| text.push_str(&format!("{k:<11} {v}\n"));
    line("file", &path.display().to_string());
    line("kind", kind);
    for (k, v) in &bundle_lines {
        line(k, v);
    }
    line("digest", &format!("sha256:{digest}"));
    line(
        "size",
        &if file_size == wasm.len() {
            format!("{} bytes", wasm.len())
        } else {
            format!("{} bytes (module), {file_size} bytes (file)", wasm.len())
        },
    );
    line("abi", &abi);
    if exports.is_empty() {
        line("exports", "(none)");
    }
    for (i, (name, role)) in exports.iter().enumerate() {
        line(
            if i == 0 { "exports" } else { "" },
            &format!("{name} ({role})"),
        );
    }
    if imports.is_empty() {
        line("imports", "(none)");
    }
    for (i, imp) in imports.iter().enumerate() {
        let cap = match &imp.capability {
            _ if imp.wasi.is_some() => imp
                .wasi
                .map(|a| wasi_text(&imp.name, a))
                .unwrap_or_default(),
            Some(c) if c == "core" => String::from("capability `core` (always granted)"),
            Some(c) => format!("capability `{c}`"),
            None if imp.name.starts_with("palisade.") => {
                String::from("UNKNOWN: this host does not provide it")
            }
            None if imp.name.starts_with("wasi_snapshot_preview1.") => {
                String::from("UNKNOWN: not a WASI preview1 function")
            }
            None => String::from(
                "FOREIGN: guests may import only `palisade` and WASI preview1 functions",
            ),
        };
        line(
            if i == 0 { "imports" } else { "" },
            &format!("{} ({}) -> {cap}", imp.name, imp.kind),
        );
    }
    if has_start {
        line(
            "start",
            "a start function: runs first in every call, under its fuel and deadline",
        );
    }
    line(
        "needs",
        &if needs.is_empty() {
            String::from("no capabilities")
        } else {
            format!("--allow {}", needs.join(","))
        },
    );
    if customs.is_empty() {
        line("custom", "(none)");
    }
    for (i, (name, len)) in customs.iter().enumerate() {
        let note = if name == ABI_SECTION {
            " (ABI version)"
        } else {
            ""
        };
        line(
            if i == 0 { "custom" } else { "" },
            &format!("{name} ({len} bytes){note}"),
        );
    }
    line("contract", &contract_text);
    line("signature", &signature);
    let _ = out.write_all(text.as_bytes());
    if let Err(e) = &contract {
        let _ = writeln!(
            std::io::stderr(),
            "palisade: error: {}: {e}",
            path.display()
        );
    } else if signature_exit != Exit::Ok {
        let _ = writeln!(
            std::io::stderr(),
            "palisade: error: {}: signature: {signature}; do not install this bundle",
            path.display()
        );
    }
    Ok(exit)
}
