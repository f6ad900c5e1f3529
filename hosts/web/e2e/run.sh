#!/usr/bin/env bash
# Browser tests of /console and /play (docs/WEB.md): installs Debian's chromium if missing,
# builds palisade-server (which builds the browser runtime) and the signed fixtures, starts the
# server on loopback with a throwaway data directory, `npm ci`s playwright-core from the
# lockfile and runs test.mjs against it. Fails loudly if the browser cannot be installed.
#
#   hosts/web/e2e/run.sh              # from anywhere; ./ci.sh runs it
#   PALISADE_E2E_SHOTS=docs hosts/web/e2e/run.sh   # also refresh docs/console.png, docs/play.png
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
source "$root/scripts/setup.sh"
need_browser
cd "$root"

started=$SECONDS
cargo build -p palisade-server --bin palisade-server --example web_fixtures
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$target/debug/examples/web_fixtures" "$work/fixtures"
cat > "$work/palisade.toml" <<TOML
listen = "127.0.0.1:0"
workers = 2
log_format = "text"
trusted_keys = ["$(cat "$work/fixtures/trusted.pub")"]
TOML
"$target/debug/palisade-server" --data "$work/data" --config "$work/palisade.toml" \
  >"$work/stdout" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q '^listening on ' "$work/stdout" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "error: palisade-server exited" >&2; exit 1; }
  sleep 0.1
done
addr=$(sed -n 's/^listening on //p' "$work/stdout" | head -n1)
[ -n "$addr" ] || { cat "$work/server.log" >&2; echo "error: palisade-server did not start" >&2; exit 1; }

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
PALISADE_URL="http://$addr" \
  PALISADE_ADMIN_TOKEN="$(cat "$work/data/admin-token")" \
  PALISADE_FIXTURES="$work/fixtures" \
  PALISADE_PROFILE="$work/chromium-profile" \
  node "$here/test.mjs" || { echo "--- server log ---" >&2; tail -n 50 "$work/server.log" >&2; exit 1; }
echo "browser tests passed in $((SECONDS - started)) s (including the build)"
