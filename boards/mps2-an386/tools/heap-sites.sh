#!/usr/bin/env bash
# Which call sites hold the heap at its high-water mark, for one scenario of the scenario build:
#   tools/heap-sites.sh ACTIVE_BUNDLE TICKS EXPECT
#   tools/heap-sites.sh target/scenarios/thermostat-guest.bundle 3 thermostat-guest
# ELF=target/scenarios/prevalidated-scenarios.elf tools/heap-sites.sh ... runs another firmware
# (run-scenarios.sh keeps both scenario builds in target/scenarios).
# Run run-scenarios.sh first (it builds the firmware, pack_rule and the bundles). Boots QEMU
# halted with a gdb stub on port 3417 and drives it with gdb-multiarch (Debian package
# gdb-multiarch) and tools/heap_sites.py. Slow (a breakpoint per allocation): keep TICKS small.
# The verdict of a run under gdb means nothing (it usually ends with exit 3: the stops at every
# allocation disturb the virtual clock); the heap high-water mark matches run-scenarios.sh.
set -euo pipefail
BOARD="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$BOARD/../.." && pwd)"
ELF="${ELF:-$BOARD/target/thumbv7em-none-eabihf/release/palisade-board-mps2-an386}"
PACK="${CARGO_TARGET_DIR:-$ROOT/target}/debug/examples/pack_rule"
bundle=$1 ticks=$2 expect=$3
desc="$(mktemp)"
"$PACK" scenario "$desc" "$ticks" "$expect"
sym() { arm-none-eabi-nm "$ELF" | grep -E "$1" | cut -d' ' -f1; }
alloc=$(sym 'CountingHeap.*GlobalAlloc.*5alloc17')
dealloc=$(sym 'CountingHeap.*GlobalAlloc.*7dealloc17')
exit_fn=$(sym '_ZN11semihosting7process4exit')
qemu-system-arm -M mps2-an386 -nographic -icount shift=5,align=off,sleep=off \
  -semihosting-config enable=on,target=native -kernel "$ELF" \
  -device "loader,file=$desc,addr=0x3FF000" -device "loader,file=$bundle,addr=0x300000" \
  -gdb tcp::3417 -S > /dev/null &
qemu=$!
trap 'kill $qemu 2>/dev/null || true; rm -f "$desc"' EXIT
sleep 1
gdb-multiarch -q -batch -ex "target remote localhost:3417" \
  -ex "source $BOARD/tools/heap_sites.py" \
  -ex "python Alloc('*0x$alloc', internal=True)" \
  -ex "python Dealloc('*0x$dealloc', internal=True)" \
  -ex "python Exit('*0x$exit_fn', internal=True)" \
  -ex continue "$ELF" 2>&1 | grep -v -e "Internal error" -e "^warning:" -e "^0x" -e "^)" || true
