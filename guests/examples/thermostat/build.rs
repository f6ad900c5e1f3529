//! Links the thermostat into a few KiB of linear memory with 1-byte pages (the custom-page-sizes
//! proposal), so a Cortex-M4 board can give it exactly 4 KiB instead of a 64 KiB page.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        // Stack first (the Rust default), then static data and the 256-byte heap arena.
        for arg in [
            "--page-size=1",
            "-zstack-size=2048",
            "--initial-memory=4096",
            "--max-memory=4096",
        ] {
            println!("cargo:rustc-link-arg={arg}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
