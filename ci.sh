#!/usr/bin/env bash
# Everything CI checks, in the order CI checks it. Run it locally before you push: ./ci.sh
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

# CI builds each crate once, from a clean clone: incremental caches would only cost disk (16 GB of
# target/debug/incremental on the development machine) and time. A run that fills the disk fails
# with "No space left on device" in whatever step it reached; a fresh clone's run needs about
# 10 GB (9.9 GB measured, 2026-12-03).
export CARGO_INCREMENTAL=0

source scripts/setup.sh

step "system packages: QEMU for the Cortex-M4 and RISC-V boards, binutils and llvm for \`size\`"
need_packages qemu-system-arm:qemu-system-arm arm-none-eabi-size:binutils-arm-none-eabi \
  qemu-system-riscv32:qemu-system-misc llvm-size:llvm

step "system packages: clang, lld, wasi-libc and compiler-rt's wasm32 builtins for the C guests; Node.js and npm for the AssemblyScript guest"
need_guest_packages

step "toolchain (pinned in rust-toolchain.toml, with its targets)"
need_toolchain

step "format"
cargo fmt --all --check
(cd guests && cargo fmt --all --check)

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p palisade-mcu --all-targets --features defmt -- -D warnings

step "PostgreSQL for the server's tests: a throwaway cluster on 127.0.0.1 (scripts/postgres.sh), stopped on exit"
eval "$(scripts/postgres.sh start)"
trap 'scripts/postgres.sh stop' EXIT

step "tests (the guests are built from source by palisade-guest-artifacts)"
cargo test --workspace

step "the core without its validator (the pre-validated profile): only trusted, recorded bundles compile"
cargo test -p palisade --no-default-features --test all prevalidated

step "server API against its OpenAPI description: schemathesis, pinned, on a throwaway server (scripts/api-fuzz.sh)"
scripts/api-fuzz.sh

step "benches, compiled and run once in test mode"
cargo test --workspace --benches

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

step "guests workspace (wasm32): clippy and SDK docs"
(cd guests \
  && cargo clippy --release --target wasm32-unknown-unknown --workspace -- -D warnings \
  && RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --target wasm32-unknown-unknown -p palisade-guest)

step "no_std core and MCU adapter for the embedded targets"
for target in thumbv7em-none-eabihf riscv32imac-unknown-none-elf; do
  cargo build -p palisade --target "$target"
  cargo build -p palisade --features wasi --target "$target"
  cargo build -p palisade --no-default-features --target "$target"
  cargo build -p palisade-mcu --features defmt --target "$target"
done

step "browser runtime (hosts/web, wasm32): format and clippy"
(cd hosts/web && cargo fmt --check && cargo clippy --release --target wasm32-unknown-unknown -- -D warnings)

step "browser tests: /console and /play in Debian's chromium (hosts/web/e2e/run.sh)"
hosts/web/e2e/run.sh

step "fuzz targets: replay the corpora and regression inputs, then fuzz 20 s each (fuzz/run.sh)"
fuzz/run.sh

step "board mps2-an386 (Cortex-M4F): scenarios under QEMU"
boards/mps2-an386/run-scenarios.sh

step "board riscv32-virt (riscv32imac): the same scenarios under QEMU, validating and pre-validated"
boards/riscv32-virt/run-scenarios.sh

step "real boards (nrf52840-dk, stm32f4; Cortex-M4F): format, clippy, release build and size (they cannot run here)"
# They share the Cortex-M4 board's target directory: the same profile and target, so the core,
# wasmi and the signature crates built for mps2-an386 are reused rather than built twice more.
thumb_target="$PWD/boards/mps2-an386/target"
for board in nrf52840-dk stm32f4; do
  (cd "boards/$board" && export CARGO_TARGET_DIR="$thumb_target" \
    && cargo fmt --check \
    && cargo clippy --release -- -D warnings \
    && cargo build --release)
  arm-none-eabi-size "$thumb_target/thumbv7em-none-eabihf/release/palisade-board-$board"
done

printf '\n==> ci.sh passed in %ss\n' "$((SECONDS - started))"
