#!/usr/bin/env bash
# Everything CI checks, in the order CI checks it. Run it locally before you push: ./ci.sh
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

step "toolchain (pinned in rust-toolchain.toml, with its targets)"
rustup toolchain install

step "format"
cargo fmt --all --check

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "tests"
cargo test --workspace

step "benches, compiled and run once in test mode"
cargo test --workspace --benches

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

step "no_std core for the embedded targets"
for target in thumbv7em-none-eabihf riscv32imac-unknown-none-elf; do
  cargo build -p palisade --target "$target"
done

printf '\n==> ci.sh passed in %ss\n' "$((SECONDS - started))"
