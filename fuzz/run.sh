#!/usr/bin/env bash
# Builds the fuzz targets and, for each, replays its corpus and its regression inputs, then
# fuzzes for a while. Installs cargo-fuzz (pinned) when it is missing. The pinned stable
# toolchain builds the targets with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags), so no
# nightly toolchain is needed.
#
#   fuzz/run.sh                       # every target, 20 s each (what ./ci.sh runs)
#   FUZZ_SECONDS=600 fuzz/run.sh execute slices
#   SANITIZER=address fuzz/run.sh     # with AddressSanitizer (about 10x slower)
set -euo pipefail
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-20}
sanitizer=${SANITIZER:-none}
targets=("$@")
((${#targets[@]})) || targets=(bundle register execute slices differential host_calls rollout)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz 0.13.2 (cargo install --locked)"
  cargo install cargo-fuzz --version 0.13.2 --locked
fi
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/target}

cargo fuzz build -O -s "$sanitizer"
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "regressions/$t"
  echo "==> fuzz $t: replay corpus/$t and regressions/$t, then fuzz ${seconds} s"
  log="$CARGO_TARGET_DIR/fuzz-$t.log"
  rc=0
  cargo fuzz run -O -s "$sanitizer" "$t" "corpus/$t" "regressions/$t" -- \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1 || rc=$?
  grep -E '^#[0-9]+ +(INITED|DONE)|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)|panicked|SUMMARY|Test unit written' "$log" || true
  if [ "$rc" != 0 ]; then
    tail -n 40 "$log"
    echo "fuzz $t FAILED (exit $rc); the input is in fuzz/artifacts/$t/, the log in $log"
    exit 1
  fi
done
