#!/usr/bin/env bash
# Builds the RISC-V (QEMU `virt`, riscv32imac) firmware and the rule bundles, runs every scenario
# under QEMU, and exits non-zero on any failure: the same scenarios, bundles and checks as the
# Cortex-M4 board (boards/common), with the verdict as the semihosting exit code.
#
# Installs what it needs when missing: qemu-system-misc (apt; it holds qemu-system-riscv32),
# llvm (apt; `llvm-size` reads the RISC-V ELF) and the pinned toolchain's targets
# (riscv32imac-unknown-none-elf, wasm32-unknown-unknown; rustup).
# Optional: defmt-print (`cargo install defmt-print`) to show the logs.
set -euo pipefail
BOARD="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$BOARD/../.." && pwd)"
OUT="$BOARD/target/scenarios"
mkdir -p "$OUT"

step() { printf '\n==> %s\n' "$*"; }
source "$ROOT/scripts/setup.sh"
source "$ROOT/boards/common/scenarios.sh"

step "setup: QEMU, llvm-size, the pinned toolchain's targets"
need_packages qemu-system-riscv32:qemu-system-misc llvm-size:llvm
(cd "$ROOT" && need_toolchain)

step "host tool: pack_rule (bundles and scenario descriptors)"
TOOL_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
(cd "$ROOT" && nice cargo build -q -p palisade-mcu --example pack_rule)
PACK="$TOOL_TARGET/debug/examples/pack_rule"

# The pre-validated profile (docs/EMBEDDED.md), as on the Cortex-M4 board.
PREVALIDATED=(--no-default-features --features indirect-dispatch,hash-collections,prevalidated)
build() { (cd "$BOARD" && CARGO_TARGET_DIR="$BOARD/target" nice cargo build -q --release "$@"); }

step "firmware (release: opt-level z, LTO): the product builds (validating, pre-validated), then the scenario builds"
ELF="$BOARD/target/riscv32imac-unknown-none-elf/release/palisade-board-riscv32-virt"
build
cp "$ELF" "$OUT/product.elf"
build "${PREVALIDATED[@]}"
cp "$ELF" "$OUT/prevalidated-product.elf"
llvm-size "$OUT/product.elf" "$OUT/prevalidated-product.elf"
build "${PREVALIDATED[@]}" --features scenarios
cp "$ELF" "$OUT/prevalidated-scenarios.elf"
build --features scenarios
cp "$ELF" "$OUT/scenarios.elf"
llvm-size "$OUT/scenarios.elf" "$OUT/prevalidated-scenarios.elf"

make_bundles

ACTIVE=0x80300000
FALLBACK=0x80380000
SCENARIO=0x803FF000
board_qemu() {
  timeout 120 qemu-system-riscv32 -M virt -bios none -nographic -icount shift=5,align=off,sleep=off \
    -semihosting-config enable=on,target=native -kernel "$ELF" "$@"
}

run_scenarios

# The same scenarios on the pre-validated firmware.
ELF="$OUT/prevalidated-scenarios.elf"
run_scenarios prevalidated-
