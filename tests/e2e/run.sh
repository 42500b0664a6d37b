#!/usr/bin/env bash
# Browser tests of the page: build dist/ with trunk (release), serve it on a free localhost port
# under a sub-path, drive Debian Chromium with playwright-core (tests/e2e/page.test.mjs), print
# the transfer sizes, and exit non-zero when a check fails.
#
# Usage: tests/e2e/run.sh [--no-build]     (--no-build: test the dist/ that is there)
# Env:   E2E_OUT=target/e2e  screenshots and the exported PNG go here
#        E2E_ONLY=substring  run only the checks whose name contains it
#        GATTANET_BIN=path   a built `gattanet` CLI for making random models (default: cargo run)
#
# Models: trunk copies www/models/ (the trained models and index.json) into dist/models/. When
# there is no www/models/index.json yet, random-weight models are generated into dist/models/
# with `gattanet init` (the checks need shapes, not accuracy); they never enter git.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
log() { echo "[e2e] $*"; }

scripts/setup.sh wasm trunk wasm-bindgen wasm-opt browser
eval "$(scripts/setup.sh env)"

BUILD=1
for a in "$@"; do
  case "$a" in
    --no-build) BUILD=0 ;;
    *) echo "usage: tests/e2e/run.sh [--no-build]" >&2; exit 2 ;;
  esac
done

mkdir -p www/models   # trunk's copy-dir needs the folder even before any model is shipped
if [ "$BUILD" -eq 1 ]; then
  cargo fetch --locked   # trunk --offline also passes --offline to cargo
  t0=$(date +%s)
  trunk build --release --offline
  log "trunk build: $(( $(date +%s) - t0 ))s"
fi
[ -f dist/index.html ] || { log "dist/index.html missing: build first"; exit 1; }
for f in worker.js worker_bg.wasm worker_loader.js; do
  [ -f "dist/$f" ] || { log "dist/$f missing (the inference worker)"; exit 1; }
done

if [ ! -f dist/models/index.json ]; then
  log "no www/models/index.json: generating random-weight models for the tests"
  mkdir -p dist/models
  entries=()
  for name in toy-gattanet patchconv-gattanet; do
    if [ -n "${GATTANET_BIN:-}" ]; then
      "$GATTANET_BIN" init --config "configs/$name.json" --out "dist/models/$name" >/dev/null
    else
      cargo run --locked --quiet --bin gattanet -- init --config "configs/$name.json" --out "dist/models/$name" >/dev/null
    fi
    bytes=$(wc -c < "dist/models/$name/model.safetensors")
    entries+=("{\"name\": \"$name\", \"path\": \"$name\", \"accuracy\": null, \"bytes\": $bytes, \"description\": \"Random weights (no trained model shipped yet): the maps show the mechanism, not learned attention.\"}")
  done
  (IFS=,; echo "[${entries[*]}]") > dist/models/index.json
fi

node tests/e2e/sizes.mjs dist
node tests/e2e/page.test.mjs dist
