#!/usr/bin/env bash
# Browser tests of the page: build dist/ with trunk (release), serve it on a free localhost port
# under a sub-path, drive Debian Chromium with playwright-core (tests/e2e/page.test.mjs), print
# the transfer sizes, and exit non-zero when a check fails.
#
# Usage: tests/e2e/run.sh [--no-build] [--screenshots DIR]
#        --no-build: test the dist/ that is there
#        --screenshots DIR: afterwards, copy the README's pictures of the page there
#          (DIR/screenshot-page.png, DIR/screenshot-attention.png)
# Env:   E2E_OUT=target/e2e  screenshots and the exported PNG go here
#        E2E_ONLY=substring  run only the checks whose name contains it
#        GATTANET_BIN=path   a built `gattanet` CLI for making random models (default: cargo run)
#
# Models: trunk copies www/models/ (the trained models and index.json) into dist/models/. The
# checks run on a copy of dist/; when the zoo lacks a class-attention model (or has no index.json
# at all), random-weight ones are generated into that copy with `gattanet init` (those checks need
# shapes, not accuracy). Test models never enter dist/ or git.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
log() { echo "[e2e] $*"; }

scripts/setup.sh wasm trunk wasm-bindgen wasm-opt browser
eval "$(scripts/setup.sh env)"

BUILD=1
SHOTS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0 ;;
    --screenshots) SHOTS="${2:?--screenshots needs a folder}"; shift ;;
    *) echo "usage: tests/e2e/run.sh [--no-build] [--screenshots DIR]" >&2; exit 2 ;;
  esac
  shift
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

# The checks run on a copy of dist/ (target/e2e/site) so test-only models never reach the site
# that scripts/serve.sh serves or that gets deployed.
SITE="$ROOT/target/e2e/site"
rm -rf "$SITE"; mkdir -p "$(dirname "$SITE")"; cp -r dist "$SITE"
gattanet() {
  if [ -n "${GATTANET_BIN:-}" ]; then "$GATTANET_BIN" "$@"; else cargo run --locked --quiet --bin gattanet -- "$@"; fi
}
random_model() {  # NAME: random weights for configs/NAME.json into the site, one manifest entry
  gattanet init --config "configs/$1.json" --out "$SITE/models/$1" >/dev/null
  echo "{\"name\": \"$1\", \"path\": \"$1\", \"accuracy\": null, \"bytes\": $(wc -c < "$SITE/models/$1/model.safetensors"), \"description\": \"Random weights (test only): the maps show the mechanism, not learned attention.\"}"
}
if [ ! -f "$SITE/models/index.json" ]; then
  log "no www/models/index.json: generating random-weight models for the tests"
  mkdir -p "$SITE/models"
  echo "[$(random_model toy-gattanet), $(random_model patchconv-gattanet)]" > "$SITE/models/index.json"
elif ! grep -qs '"class_attention"' "$SITE"/models/*/config.json; then
  # The class-attention views need a model that has them: add one with random weights.
  log "no class-attention model shipped: adding a random-weight one for the tests"
  entry="$(random_model patchconv-gattanet)"
  node -e 'const fs=require("fs"), f=process.argv[1], m=JSON.parse(fs.readFileSync(f)); m.push(JSON.parse(process.argv[2])); fs.writeFileSync(f, JSON.stringify(m, null, 2))' \
    "$SITE/models/index.json" "$entry"
fi

# "Open your model…" gets files from the user's disk, never from the site: a random-weight
# ImageNet ResNet-18 at 128×128 and a ResNet-50 at 224×224 (f16), and two broken pairs (a config
# error; weights that do not match their config).
OWN="$ROOT/target/e2e/own"
rm -rf "$OWN"; mkdir -p "$OWN/config" "$OWN/bad-config" "$OWN/mismatch"
edit_config() {  # IN OUT JS: OUT = IN's JSON with the edit JS applied to `c`
  node -e 'const fs=require("fs"), c=JSON.parse(fs.readFileSync(process.argv[1])); eval(process.argv[3]); fs.writeFileSync(process.argv[2], JSON.stringify(c))' "$1" "$2" "$3"
}
edit_config configs/imagenet-resnet18-gattanet.json "$OWN/config/config.json" 'c.name="resnet18-128"; c.input.size=[128,128]'
gattanet init --config "$OWN/config/config.json" --out "$OWN/f32" >/dev/null
gattanet convert --model "$OWN/f32" --out "$OWN/resnet18" --dtype f16 >/dev/null
rm -rf "$OWN/f32" "$OWN/config"
gattanet init --config configs/imagenet-resnet50-gattanet.json --out "$OWN/f32" >/dev/null   # for the page's figure at 224
gattanet convert --model "$OWN/f32" --out "$OWN/resnet50" --dtype f16 >/dev/null
rm -rf "$OWN/f32"
edit_config "$OWN/resnet18/config.json" "$OWN/bad-config/config.json" 'c.backbone.depth=19'
edit_config "$OWN/resnet18/config.json" "$OWN/mismatch/config.json" 'c.backbone.depth=34'
for d in bad-config mismatch; do cp "$OWN/resnet18/model.safetensors" "$OWN/$d/"; done
export E2E_OWN_MODELS="$OWN"

node tests/e2e/sizes.mjs "$SITE"
node tests/e2e/page.test.mjs "$SITE"
if [ -n "$SHOTS" ]; then
  OUT_DIR="${E2E_OUT:-$ROOT/target/e2e}"
  mkdir -p "$SHOTS"
  cp "$OUT_DIR/desktop.png" "$SHOTS/screenshot-page.png"
  [ -f "$OUT_DIR/attention.png" ] && cp "$OUT_DIR/attention.png" "$SHOTS/screenshot-attention.png"
  log "screenshots copied to $SHOTS"
fi
