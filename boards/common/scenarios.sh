# The QEMU scenarios every board runs (sourced by boards/*/run-scenarios.sh, not run): the rule
# bundles, the scenario list with its expectations, and the verdict check. The firmware side of the
# same scenarios (descriptor, per-tick checks, exit codes) is boards/common/src/scenario.rs.
#
# The sourcing script sets ROOT, OUT (output directory), PACK (the pack_rule host tool), ELF (the
# scenario build), ACTIVE, FALLBACK and SCENARIO (its flash addresses of the two rule slots and the
# descriptor), and defines `board_qemu ARGS...`, which boots ELF under its QEMU machine with the
# extra ARGS (-device loader,...) and returns QEMU's exit code (the firmware's verdict).

# make_bundles — builds the thermostat guest and packs every bundle the scenarios flash.
make_bundles() {
  step "the thermostat guest (guests/examples/thermostat, wasm32, 1-byte pages)"
  (cd "$ROOT" && CARGO_TARGET_DIR="$ROOT/target/board-guests" nice cargo build -q --manifest-path guests/Cargo.toml \
    -p thermostat --target wasm32-unknown-unknown --release)
  local guest="$ROOT/target/board-guests/wasm32-unknown-unknown/release/thermostat.wasm"
  local rules="$ROOT/boards/common/rules"

  step "bundles"
  "$PACK" bundle "$guest" "$OUT/thermostat-guest.bundle" --name thermostat-guest
  "$PACK" bundle "$rules/thermostat.wat" "$OUT/thermostat.bundle" --name thermostat
  "$PACK" bundle "$rules/iloop.wat" "$OUT/iloop.bundle" --name iloop
  "$PACK" bundle "$rules/bomb.wat" "$OUT/bomb.bundle" --name bomb
  "$PACK" bundle "$rules/thermostat.wat" "$OUT/unsigned.bundle" --name thermostat --unsigned
  "$PACK" bundle "$rules/thermostat.wat" "$OUT/corrupted.bundle" --name thermostat --corrupt
  "$PACK" bundle "$rules/thermostat.wat" "$OUT/foreign.bundle" --name thermostat --foreign-key
}

passed=0
failed=0

# scenario NAME WANT_EXIT ACTIVE_BUNDLE FALLBACK_BUNDLE -- DESCRIPTOR ARGS (ticks expect [fuel_k deadline_us period_us])
scenario() {
  local name=$1 want=$2 active=$3 fallback=$4
  shift 5
  "$PACK" scenario "$OUT/$name.scenario" "$@"
  local args=(-device "loader,file=$OUT/$name.scenario,addr=$SCENARIO")
  [ "$active" = - ] || args+=(-device "loader,file=$OUT/$active,addr=$ACTIVE")
  [ "$fallback" = - ] || args+=(-device "loader,file=$OUT/$fallback,addr=$FALLBACK")
  step "scenario $name (active: $active, fallback: $fallback; expect exit $want)"
  local code=0
  board_qemu "${args[@]}" > "$OUT/$name.defmt" || code=$?
  if command -v defmt-print >/dev/null; then
    defmt-print -e "$ELF" < "$OUT/$name.defmt" || true
  fi
  if [ "$code" = "$want" ]; then
    echo "PASS $name (exit $code)"
    passed=$((passed + 1))
  else
    echo "FAIL $name: exit $code, expected $want (2 LEDs, 3 outcome, 4 period, 5 slot, 6 setup, 7 memory, 101 panic, 102 fault, 124 timeout)"
    failed=$((failed + 1))
  fi
}

# run_scenarios [PREFIX] — every scenario (named PREFIX + name, so that a second firmware's
# logs do not overwrite the first's), then the tally; returns non-zero on any failure so far.
run_scenarios() {
  local p=${1:-}
  # The good rule drives the LEDs as the reference thermostat does, over 40 ticks (50 ms period).
  scenario "${p}good" 0 thermostat.bundle - -- 40 thermostat
  # The real thermostat guest (pure rule, 4 KiB memory): the firmware drives the LEDs from its output.
  scenario "${p}thermostat-guest" 0 thermostat-guest.bundle - -- 40 thermostat-guest
  # An infinite loop is cut by fuel every tick (deadline 1 s, so only fuel can cut it). Period
  # 100 ms: burning 20,000 fuel takes 31 ms on the Cortex-M4 but longer than 50 ms on riscv32.
  scenario "${p}iloop-fuel" 0 iloop.bundle - -- 10 cut-by-fuel 0 1000000 100000
  # The same loop with 10^9 fuel is cut by the 10 ms deadline on the board timer every tick.
  scenario "${p}iloop-deadline" 0 iloop.bundle - -- 10 cut-by-deadline 1000000 10000
  # A memory bomb is refused at the 8 KiB cap every tick; the loop goes on.
  scenario "${p}memory-bomb" 0 bomb.bundle - -- 10 memory-capped
  # An unsigned bundle in the active slot is refused: the last good rule (fallback slot) runs.
  scenario "${p}unsigned-falls-back" 0 unsigned.bundle thermostat.bundle -- 20 fallback
  # A bundle signed by an untrusted key is refused the same way.
  scenario "${p}foreign-key-falls-back" 0 foreign.bundle thermostat.bundle -- 20 fallback
  # Corrupted active and unsigned fallback: no rule runs, the LEDs stay off, the loop keeps time.
  scenario "${p}corrupted-safe-default" 0 corrupted.bundle unsigned.bundle -- 10 safe-default
  # Empty flash: safe default.
  scenario "${p}empty-safe-default" 0 - - -- 5 safe-default
  # Self-check of the harness: the iloop rule judged as the thermostat must fail (outcome).
  scenario "${p}harness-self-check" 3 iloop.bundle - -- 3 thermostat

  printf '\nscenarios: %d passed, %d failed\n' "$passed" "$failed"
  [ "$failed" = 0 ]
}
