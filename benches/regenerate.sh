#!/usr/bin/env bash
# Regenerates docs/BENCHMARKS.md and docs/benchmarks-total.png from a real run of every engine.
#
#   benches/regenerate.sh                # short measurement (the machine is shared)
#   MEASURE=5 WARMUP=1 SAMPLES=20 benches/regenerate.sh   # longer, quieter numbers
#   FEATURES=wasmtime benches/regenerate.sh               # a subset of the engines
#
# Installs what it needs when missing: libclang-dev (wasm3's bindgen) and fonts-dejavu-core (the
# plot's font) through apt, and the pinned toolchain's targets (the guests are wasm32). The first
# run builds wasmtime, which takes several minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
need_packages /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core :libclang-dev
need_toolchain

features=${FEATURES:-all-engines}
measure=${MEASURE:-2}
warmup=${WARMUP:-0.5}
samples=${SAMPLES:-10}
target=${CARGO_TARGET_DIR:-target}
criterion_dir="$target/criterion"
log="$target/engines-bench.log"

# Old results of engines or workloads that are gone would otherwise leak into the report.
rm -rf "$criterion_dir"
mkdir -p "$target"

cargo bench -p palisade-benches --features "$features" --bench engines -- \
  --measurement-time "$measure" --warm-up-time "$warmup" --sample-size "$samples" \
  --noplot "$@" | tee "$log"

cargo run -p palisade-benches --features report --bin bench-report -- \
  --criterion "$criterion_dir" --log "$log" \
  --out docs/BENCHMARKS.md --plot docs/benchmarks-total.png \
  --command "benches/regenerate.sh (FEATURES=$features MEASURE=$measure WARMUP=$warmup SAMPLES=$samples)" \
  --settings "warm-up ${warmup} s, measurement ${measure} s, ${samples} samples per benchmark"
