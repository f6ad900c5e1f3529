//! Host-side tool for boards: packs a rule (WAT or wasm) into a signed bundle to flash into a
//! rule slot, and writes the QEMU scenario descriptors of the boards (`boards/common/scenarios.sh`).
//!
//! ```text
//! cargo run -p palisade-mcu --example pack_rule -- bundle RULE.wat OUT.bundle [--name N] [--version V] [--unsigned | --corrupt | --foreign-key]
//! cargo run -p palisade-mcu --example pack_rule -- scenario OUT.bin TICKS EXPECT [FUEL_K DEADLINE_US PERIOD_US]
//! cargo run -p palisade-mcu --example pack_rule -- pubkey
//! ```
//!
//! Bundles are signed with the **development** key below, which the board firmware trusts. A
//! product signs with its own key, kept out of the repository, and embeds its public half.
//! Every module is validated first (`BundleBuilder::validate`) and the manifest records it, so
//! that the pre-validated firmware (`--features prevalidated`, no validator) can run it.
#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool"
)]

use std::process::ExitCode;

/// The development signing key (secret seed). Never use it for a real device.
const DEV_SECRET: [u8; 32] = [0x50; 32];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pack_rule: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("bundle") => bundle(args.get(1..).unwrap_or_default()),
        Some("scenario") => scenario(args.get(1..).unwrap_or_default()),
        Some("pubkey") => {
            let key = palisade::bundle::public_key(&DEV_SECRET);
            let list: Vec<String> = key
                .as_bytes()
                .iter()
                .map(|b| format!("0x{b:02x}"))
                .collect();
            println!("[{}]", list.join(", "));
            Ok(())
        }
        _ => Err("usage: pack_rule bundle|scenario|pubkey ... (see the file's docs)".into()),
    }
}

fn bundle(args: &[String]) -> Result<(), String> {
    let [input, output, rest @ ..] = args else {
        return Err("usage: pack_rule bundle RULE.wat|RULE.wasm OUT.bundle [options]".into());
    };
    let source = std::fs::read(input).map_err(|e| format!("cannot read {input}: {e}"))?;
    let wasm = wat::parse_bytes(&source)
        .map_err(|e| format!("{input} is neither wasm nor valid WAT: {e}"))?
        .into_owned();
    let (mut name, mut version, mut mode) = ("rule".to_string(), "1.0.0".to_string(), "signed");
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--name" => name = it.next().ok_or("--name needs a value")?.clone(),
            "--version" => version = it.next().ok_or("--version needs a value")?.clone(),
            "--unsigned" => mode = "unsigned",
            "--corrupt" => mode = "corrupt",
            "--foreign-key" => mode = "foreign",
            other => return Err(format!("unknown option {other}")),
        }
    }
    let err = |e: palisade::Error| e.to_string();
    // Validated with the full validator before anything is written, and recorded in the
    // manifest: a pre-validated firmware (no validator, docs/EMBEDDED.md) runs only bundles
    // with that record, signed by the key it trusts. Every mode carries it, so that the
    // refusals the scenarios test are the signature's, not a missing record's.
    let builder = palisade::BundleBuilder::new(&name, &version, &wasm)
        .provenance("pack_rule (development key)")
        .capability("gpio")
        .capability("sensor")
        .capability("log")
        .capability("kv.read")
        .capability("kv.write")
        .validate()
        .map_err(|e| format!("{input} does not validate, nothing written: {e}"))?;
    let mut bytes = match mode {
        "unsigned" => builder.build_unsigned().map_err(err)?,
        "foreign" => builder.sign(&[0x13; 32]).map_err(err)?,
        _ => builder.sign(&DEV_SECRET).map_err(err)?,
    };
    if mode == "corrupt" {
        // Flip one bit of the module's last byte: signature fine, digest wrong.
        let last = bytes.last_mut().ok_or("empty bundle")?;
        *last ^= 0x01;
    }
    std::fs::write(output, &bytes).map_err(|e| format!("cannot write {output}: {e}"))?;
    println!(
        "{output}: {mode} bundle `{name}` {version}, {} bytes (module {} bytes)",
        bytes.len(),
        wasm.len()
    );
    Ok(())
}

fn scenario(args: &[String]) -> Result<(), String> {
    let [output, ticks, expect, rest @ ..] = args else {
        return Err(
            "usage: pack_rule scenario OUT.bin TICKS EXPECT [FUEL_K DEADLINE_US PERIOD_US]".into(),
        );
    };
    let expect = match expect.as_str() {
        "thermostat" => 1,
        "fallback" => 2,
        "thermostat-guest" => 7,
        "safe-default" => 3,
        "cut-by-fuel" => 4,
        "cut-by-deadline" => 5,
        "memory-capped" => 6,
        other => return Err(format!("unknown expectation {other}")),
    };
    let num = |s: &String| s.parse::<u32>().map_err(|e| format!("{s}: {e}"));
    let mut words = vec![u32::from_le_bytes(*b"PLSC"), num(ticks)?, expect];
    for w in rest {
        words.push(num(w)?);
    }
    words.resize(6, 0);
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    std::fs::write(output, bytes).map_err(|e| format!("cannot write {output}: {e}"))
}
