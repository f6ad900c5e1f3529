#!/usr/bin/env bash
# Builds the MPS2-AN386 firmware and the rule bundles, runs every scenario under QEMU, and exits
# non-zero on any failure. Each scenario's verdict is the firmware's semihosting exit code
# (QEMU's exit code): the firmware checks, every tick, the LED register and the call's outcome
# against the scenario descriptor that QEMU loads into flash next to the rule bundle. The
# scenarios, their bundles and their checks are shared with every board (boards/common).
#
# Installs what it needs when missing: qemu-system-arm and binutils-arm-none-eabi (apt), and the
# pinned toolchain's targets (thumbv7em-none-eabihf, wasm32-unknown-unknown; rustup).
# Optional: defmt-print (`cargo install defmt-print`) to show the logs.
set -euo pipefail
BOARD="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$BOARD/../.." && pwd)"
OUT="$BOARD/target/scenarios"
mkdir -p "$OUT"

step() { printf '\n==> %s\n' "$*"; }
source "$ROOT/scripts/setup.sh"
source "$ROOT/boards/common/scenarios.sh"

step "setup: QEMU, binutils, the pinned toolchain's targets"
need_packages qemu-system-arm:qemu-system-arm arm-none-eabi-size:binutils-arm-none-eabi
(cd "$ROOT" && need_toolchain)

step "host tool: pack_rule (bundles and scenario descriptors)"
TOOL_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
(cd "$ROOT" && nice cargo build -q -p palisade-mcu --example pack_rule)
PACK="$TOOL_TARGET/debug/examples/pack_rule"

# The pre-validated profile (docs/EMBEDDED.md): no validator in the firmware; it runs only
# bundles signed by the trusted key whose manifest records pack_rule's validation.
PREVALIDATED=(--no-default-features --features indirect-dispatch,hash-collections,prevalidated)
build() { (cd "$BOARD" && CARGO_TARGET_DIR="$BOARD/target" nice cargo build -q --release "$@"); }

step "firmware (release: opt-level z, LTO): the product builds (validating, pre-validated), then the scenario builds"
ELF="$BOARD/target/thumbv7em-none-eabihf/release/palisade-board-mps2-an386"
build
cp "$ELF" "$OUT/product.elf"
build "${PREVALIDATED[@]}"
cp "$ELF" "$OUT/prevalidated-product.elf"
arm-none-eabi-size "$OUT/product.elf" "$OUT/prevalidated-product.elf"
build "${PREVALIDATED[@]}" --features scenarios
cp "$ELF" "$OUT/prevalidated-scenarios.elf"
# The validating scenario build last: it stays at $ELF for tools/heap-sites.sh.
build --features scenarios
cp "$ELF" "$OUT/scenarios.elf"
arm-none-eabi-size "$OUT/scenarios.elf" "$OUT/prevalidated-scenarios.elf"

make_bundles

ACTIVE=0x300000
FALLBACK=0x380000
SCENARIO=0x3FF000
board_qemu() {
  timeout 120 qemu-system-arm -M mps2-an386 -nographic -icount shift=5,align=off,sleep=off \
    -semihosting-config enable=on,target=native -kernel "$ELF" "$@"
}

run_scenarios

# The same scenarios on the pre-validated firmware (the bundles carry pack_rule's record; the
# unsigned and foreign-key ones are refused by their signature, the rest run unvalidated).
ELF="$OUT/prevalidated-scenarios.elf"
run_scenarios prevalidated-
