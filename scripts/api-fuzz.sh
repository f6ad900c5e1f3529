#!/usr/bin/env bash
# Property-based test of palisade-server's HTTP API against its own OpenAPI description
# (GET /v1/openapi.json) with schemathesis: a throwaway server on 127.0.0.1, with its own data
# directory, an admin token, a tenant token and a metrics token, and one plugin (`echo`)
# uploaded and promoted through `palisade remote`. Passes only with zero 5xx answers and zero
# answers that break the description (status, content type, headers, body schema).
#
#   scripts/api-fuzz.sh                 # API_FUZZ_EXAMPLES (default 30) cases per operation
#   API_FUZZ_SEED=123 scripts/api-fuzz.sh   # replay a run (schemathesis prints its seed)
#   API_FUZZ_CHECKS=all scripts/api-fuzz.sh # every schemathesis check (see docs/SERVER.md)
#
# Reports (JUnit, and a pytest file reproducing failures) go to target/api-fuzz/report.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source scripts/setup.sh

OUT="$ROOT/target/api-fuzz"
mkdir -p "$OUT"
need_packages curl:curl
need_schemathesis "$OUT/venv"

cargo build -q -p palisade-server -p palisade-cli
# The binaries are where cargo puts them (CARGO_TARGET_DIR may move the target directory).
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
BIN="$TARGET_DIR/debug"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/palisade-api-fuzz.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

METRICS_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
cat > "$WORK/server.toml" <<TOML
workers = 2
allow_unsigned = true
max_upload_bytes = 1048576
metrics_token = "$METRICS_TOKEN"
log_format = "json"
shutdown_grace_ms = 1000
TOML

# stdout carries `listening on ADDR`; the log (JSON lines) is kept for a failure's diagnosis.
mkfifo "$WORK/stdout"
RUST_LOG=warn "$BIN/palisade-server" --data "$WORK/data" --config "$WORK/server.toml" \
  --listen 127.0.0.1:0 > "$WORK/stdout" 2> "$OUT/server.log" &
SERVER_PID=$!
ADDR=""
exec 3< "$WORK/stdout"
if read -r -t 30 line <&3; then ADDR=${line#listening on }; fi
if [ -z "$ADDR" ]; then
  echo "error: palisade-server did not start; its log:" >&2
  cat "$OUT/server.log" >&2
  exit 1
fi
# Keep draining stdout so the server never blocks on it.
cat <&3 > /dev/null &
URL="http://$ADDR"
echo "palisade-server on $URL (data in $WORK/data)"

# One plugin, through the CLI an operator uses.
export PALISADE_SERVER="$URL" PALISADE_TOKEN_FILE="$WORK/data/admin-token"
export PALISADE_CONFIG="$WORK/remote.toml"
"$BIN/palisade" pack scripts/api-fuzz/echo.wat --unsigned --name echo --plugin-version 1.0.0 \
  --out "$WORK/echo.bundle" > /dev/null
"$BIN/palisade" remote push "$WORK/echo.bundle" > /dev/null
"$BIN/palisade" remote promote echo 1.0.0 > /dev/null

ADMIN_TOKEN=$(tr -d '\n' < "$WORK/data/admin-token")
TENANT_TOKEN=$(curl -sS --fail-with-body -X PUT "$URL/v1/admin/tenants/fuzz" \
  -H "authorization: Bearer $ADMIN_TOKEN" \
  --data '{"plugins": ["echo"], "grants": ["log", "kv.read", "kv.write"], "limits": {"calls_per_second": 0}}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')

export PALISADE_ADMIN_TOKEN="$ADMIN_TOKEN" PALISADE_TENANT_TOKEN="$TENANT_TOKEN"
export PALISADE_METRICS_TOKEN="$METRICS_TOKEN"
seed=()
if [ -n "${API_FUZZ_SEED:-}" ]; then seed=(--seed "$API_FUZZ_SEED"); fi
started=$SECONDS
# Rotating the admin token would lock the rest of the run out: it has its own test
# (hosts/server/tests/all/operator.rs). Run from $OUT: schemathesis keeps its replay cache
# (.schemathesis/) in the working directory. One worker: with two, CPython 3.11.7's `ast` (which
# hypothesis calls from both threads) failed a run with "AST constructor recursion depth mismatch".
cd "$OUT"
"$OUT/venv/bin/schemathesis" --config-file "$ROOT/scripts/api-fuzz/schemathesis.toml" run \
  "$URL/v1/openapi.json" \
  --checks "${API_FUZZ_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance}" \
  --phases examples,coverage,fuzzing \
  --exclude-path /v1/admin/token/rotate \
  --max-examples "${API_FUZZ_EXAMPLES:-30}" \
  --workers 1 \
  --request-timeout 10 \
  --suppress-health-check too_slow \
  --report junit,pytest --report-dir "$OUT/report" \
  "${seed[@]}"
echo "schemathesis passed in $((SECONDS - started))s"
