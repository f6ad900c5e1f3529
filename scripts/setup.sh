# Shared setup for the project's scripts (sourced, not run): each script names what it needs and
# these functions install what is missing, so every command works on a fresh machine.
#
#   source "$ROOT/scripts/setup.sh"
#   need_packages qemu-system-arm:qemu-system-arm arm-none-eabi-size:binutils-arm-none-eabi
#   need_toolchain

# need_packages CHECK:PACKAGE... — installs, through apt in one go, every Debian PACKAGE whose CHECK
# fails. CHECK is a command (missing from PATH), an absolute path (does not exist), or empty (dpkg
# does not list PACKAGE as installed: for libraries).
need_packages() {
  local missing=() pair cmd pkg
  for pair in "$@"; do
    cmd=${pair%%:*} pkg=${pair#*:}
    case $cmd in
      /*) [ -e "$cmd" ] || missing+=("$pkg") ;;
      "") dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg") ;;
      *) command -v "$cmd" >/dev/null || missing+=("$pkg") ;;
    esac
  done
  ((${#missing[@]})) || return 0
  echo "installing system packages: ${missing[*]} (apt-get)"
  if ! command -v apt-get >/dev/null; then
    echo "error: apt-get is not available; install these packages with your package manager: ${missing[*]}" >&2
    return 1
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "error: run as root or install sudo to install: ${missing[*]}" >&2; return 1; }
    sudo=sudo
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# need_guest_packages — what guests/artifacts/build.rs needs besides Rust to build every guest
# from source: clang and wasm-ld (lld) for the C guests, Debian's wasi-libc sysroot and
# compiler-rt's wasm32 builtins (without them the WASI link fails) for the C WASI guest, and
# Node.js with npm for the AssemblyScript guest (its compiler comes from
# guests/assemblyscript/package-lock.json through `npm ci`; it needs Node.js 18 or later).
need_guest_packages() {
  need_packages clang:clang wasm-ld:lld /usr/include/wasm32-wasi/stdio.h:wasi-libc \
    :libclang-rt-14-dev-wasm32 node:nodejs npm:npm
}

# need_toolchain — the toolchain pinned in rust-toolchain.toml with its components and targets.
# rustup adds the listed targets only when it installs the toolchain itself; `rustup toolchain
# install` (no argument) also completes a toolchain that is already there.
need_toolchain() {
  if ! command -v rustup >/dev/null; then
    echo "error: rustup is not on PATH. Install Rust with rustup (https://rustup.rs):" >&2
    echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh" >&2
    return 1
  fi
  rustup toolchain install >/dev/null
}

# need_browser — Debian's Chromium for the browser tests (hosts/web/e2e/run.sh), driven by the
# npm package playwright-core with `executablePath` /usr/bin/chromium (Playwright's own browser
# download is not used), and Node.js with npm for that package.
need_browser() {
  need_packages /usr/bin/chromium:chromium node:nodejs npm:npm
  if [ ! -x /usr/bin/chromium ]; then
    echo "error: /usr/bin/chromium is missing after installing the Debian package chromium" >&2
    return 1
  fi
}

# need_postgres — Debian's PostgreSQL server (initdb, pg_ctl, postgres) for the server's
# PostgreSQL tests; scripts/postgres.sh runs a throwaway cluster with it. Debian installs the
# binaries under /usr/lib/postgresql/VERSION/bin, off PATH, so the check looks there.
need_postgres() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
  need_packages :postgresql
}

# need_schemathesis VENV — schemathesis at the exact versions of scripts/api-fuzz/requirements.txt,
# installed from PyPI into the virtualenv VENV (made with python3's venv module), once per
# version of that file. Fails, never skips, when python3 or PyPI is missing: the API fuzz step
# is part of CI.
need_schemathesis() {
  local venv=$1 root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  local requirements="$root/scripts/api-fuzz/requirements.txt"
  local stamp="$venv/.requirements.sha256" want
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ -x "$venv/bin/schemathesis" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  if ! command -v python3 >/dev/null; then
    need_packages python3:python3 || return 1
  fi
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    need_packages :python3-venv || return 1
  fi
  echo "installing schemathesis into $venv (pip, pinned by scripts/api-fuzz/requirements.txt)"
  rm -rf "$venv"
  python3 -m venv "$venv" || { echo "error: cannot create a Python virtualenv at $venv" >&2; return 1; }
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" || {
    echo "error: cannot install schemathesis from PyPI (scripts/api-fuzz/requirements.txt); the API fuzz step needs it" >&2
    return 1
  }
  echo "$want" > "$stamp"
}
