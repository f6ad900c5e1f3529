#!/usr/bin/env bash
# Builds the MPS2-AN386 firmware and the rule bundles, runs every scenario under QEMU, and exits
# non-zero on any failure. Each scenario's verdict is the firmware's semihosting exit code
# (QEMU's exit code): the firmware checks, every tick, the LED register and the call's outcome
# against the scenario descriptor that QEMU loads into flash next to the rule bundle.
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

step "setup: QEMU, binutils, the pinned toolchain's targets"
need_packages qemu-system-arm:qemu-system-arm arm-none-eabi-size:binutils-arm-none-eabi
(cd "$ROOT" && need_toolchain)

step "host tool: pack_rule (bundles and scenario descriptors)"
TOOL_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
(cd "$ROOT" && cargo build -q -p palisade-mcu --example pack_rule)
PACK="$TOOL_TARGET/debug/examples/pack_rule"

step "firmware (release: opt-level z, LTO): the product build, then the scenario build"
ELF="$BOARD/target/thumbv7em-none-eabihf/release/palisade-board-mps2-an386"
(cd "$BOARD" && CARGO_TARGET_DIR="$BOARD/target" cargo build -q --release)
cp "$ELF" "$OUT/product.elf"
arm-none-eabi-size "$OUT/product.elf"
(cd "$BOARD" && CARGO_TARGET_DIR="$BOARD/target" cargo build -q --release --features scenarios)
arm-none-eabi-size "$ELF"

step "the thermostat guest (guests/examples/thermostat, wasm32, 1-byte pages)"
(cd "$ROOT" && CARGO_TARGET_DIR="$BOARD/target/guests" cargo build -q --manifest-path guests/Cargo.toml \
  -p thermostat --target wasm32-unknown-unknown --release)
GUEST="$BOARD/target/guests/wasm32-unknown-unknown/release/thermostat.wasm"

step "bundles"
"$PACK" bundle "$GUEST" "$OUT/thermostat-guest.bundle" --name thermostat-guest
"$PACK" bundle "$BOARD/rules/thermostat.wat" "$OUT/thermostat.bundle" --name thermostat
"$PACK" bundle "$BOARD/rules/iloop.wat" "$OUT/iloop.bundle" --name iloop
"$PACK" bundle "$BOARD/rules/bomb.wat" "$OUT/bomb.bundle" --name bomb
"$PACK" bundle "$BOARD/rules/thermostat.wat" "$OUT/unsigned.bundle" --name thermostat --unsigned
"$PACK" bundle "$BOARD/rules/thermostat.wat" "$OUT/corrupted.bundle" --name thermostat --corrupt
"$PACK" bundle "$BOARD/rules/thermostat.wat" "$OUT/foreign.bundle" --name thermostat --foreign-key

ACTIVE=0x300000
FALLBACK=0x380000
SCENARIO=0x3FF000
passed=0
failed=0

# scenario NAME WANT_EXIT ACTIVE_BUNDLE FALLBACK_BUNDLE -- DESCRIPTOR ARGS (ticks expect [fuel_k deadline_us period_us])
scenario() {
  local name=$1 want=$2 active=$3 fallback=$4
  shift 5
  "$PACK" scenario "$OUT/$name.scenario" "$@"
  local args=(-M mps2-an386 -nographic -icount shift=5,align=off,sleep=off -semihosting-config enable=on,target=native -kernel "$ELF"
              -device "loader,file=$OUT/$name.scenario,addr=$SCENARIO")
  [ "$active" = - ] || args+=(-device "loader,file=$OUT/$active,addr=$ACTIVE")
  [ "$fallback" = - ] || args+=(-device "loader,file=$OUT/$fallback,addr=$FALLBACK")
  step "scenario $name (active: $active, fallback: $fallback; expect exit $want)"
  local code=0
  timeout 120 qemu-system-arm "${args[@]}" > "$OUT/$name.defmt" || code=$?
  if command -v defmt-print >/dev/null; then
    defmt-print -e "$ELF" < "$OUT/$name.defmt" || true
  fi
  if [ "$code" = "$want" ]; then
    echo "PASS $name (exit $code)"
    passed=$((passed + 1))
  else
    echo "FAIL $name: exit $code, expected $want (2 LEDs, 3 outcome, 4 period, 5 slot, 6 setup, 7 memory, 101 panic, 124 timeout)"
    failed=$((failed + 1))
  fi
}

# The good rule drives the LEDs as the reference thermostat does, over 40 ticks (50 ms period).
scenario good 0 thermostat.bundle - -- 40 thermostat
# The real thermostat guest (pure rule, 4 KiB memory): the firmware drives the LEDs from its output.
scenario thermostat-guest 0 thermostat-guest.bundle - -- 40 thermostat-guest
# An infinite loop is cut by fuel every tick (deadline 1 s, so only fuel can cut it).
scenario iloop-fuel 0 iloop.bundle - -- 10 cut-by-fuel 0 1000000
# The same loop with 10^9 fuel is cut by the 10 ms deadline on the board timer every tick.
scenario iloop-deadline 0 iloop.bundle - -- 10 cut-by-deadline 1000000 10000
# A memory bomb is refused at the 8 KiB cap every tick; the loop goes on.
scenario memory-bomb 0 bomb.bundle - -- 10 memory-capped
# An unsigned bundle in the active slot is refused: the last good rule (fallback slot) runs.
scenario unsigned-falls-back 0 unsigned.bundle thermostat.bundle -- 20 fallback
# A bundle signed by an untrusted key is refused the same way.
scenario foreign-key-falls-back 0 foreign.bundle thermostat.bundle -- 20 fallback
# Corrupted active and unsigned fallback: no rule runs, the LEDs stay off, the loop keeps time.
scenario corrupted-safe-default 0 corrupted.bundle unsigned.bundle -- 10 safe-default
# Empty flash: safe default.
scenario empty-safe-default 0 - - -- 5 safe-default
# Self-check of the harness: the iloop rule judged as the thermostat must fail (outcome).
scenario harness-self-check 3 iloop.bundle - -- 3 thermostat

printf '\nscenarios: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" = 0 ]
