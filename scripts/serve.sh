#!/usr/bin/env bash
# Build the GAttANet Explorer page (src/bin/app.rs -> wasm, via trunk) and serve it locally.
#
# Usage: scripts/serve.sh [extra trunk serve args]
#   PORT=8080 (default)  ADDRESS=127.0.0.1 (default)
#
# First run installs the wasm32 target, trunk 0.21.14, wasm-bindgen-cli (Cargo.lock's
# version) and wasm-opt (npm binaryen@132 in .tools/): about 10 min on 2 cores; the first
# release build takes about 2 min more. Later runs start in seconds and rebuild on change.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/setup.sh wasm trunk wasm-bindgen wasm-opt
eval "$(scripts/setup.sh env)"   # wasm-opt (version_132) and cargo tools on PATH for trunk

PORT="${PORT:-8080}"
ADDRESS="${ADDRESS:-127.0.0.1}"

# trunk --offline also makes cargo offline, so fetch the crates first (no-op when cached).
cargo fetch --locked
mkdir -p www/models   # index.html copies it into dist/; git does not keep an empty folder

echo "[serve] building the page, then serving GAttANet Explorer at http://$ADDRESS:$PORT/ (Ctrl-C stops)"
# `--offline` must follow the subcommand: `trunk --offline serve` parses --offline's optional
# value and fails. trunk otherwise tries to download tools from GitHub.
exec trunk serve --release --offline --address "$ADDRESS" --port "$PORT" "$@"
