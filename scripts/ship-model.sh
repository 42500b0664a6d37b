#!/usr/bin/env bash
# Ship a trained model to the page: store its weights small, measure it as stored, list it.
#
# Usage: scripts/ship-model.sh RUN_DIR NAME "DESCRIPTION" DATA
#   RUN_DIR      a `gattanet train --out` directory (config.json, model.safetensors, metrics.json)
#   NAME         folder under www/models/ and the name shown in the picker and in links
#   DATA         the data set for the evaluation (CIFAR-10 image folders or binary files)
# Env: NOISE=0,0.05,0.1  noise levels of the evaluation [default: eval's, 0 to 0.2]
#
# Writes www/models/NAME/{config.json, model.safetensors, training.json, eval.json, eval.png}:
# f16 when the file stays within 5 MB, else int8 with per-row scales; eval.json is the accuracy
# (clean and under Gaussian noise) of the weights exactly as shipped, on the full test split.
# Then adds or updates NAME in www/models/index.json (existing entries keep their order; the
# first entry is the page's default).
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[ $# -ge 4 ] || { sed -n 2,15p "$0"; exit 2; }
RUN="$1" NAME="$2" DESC="$3" DATA="$4"
BIN="${GATTANET_BIN:-target/release/gattanet}"
[ -x "$BIN" ] || cargo build --release --locked --bin gattanet
OUT="www/models/$NAME"

rm -rf "$OUT"
# convert prints "wrote DIR (STORAGE, SIZE MB); ...": keep STORAGE for the picker's description.
dtype=$("$BIN" convert --model "$RUN" --out "$OUT" --dtype auto | tee /dev/stderr | sed -n 's/^wrote .* (\([a-z0-9]*\), .*/\1/p')
# The run's record, with paths of the machine that trained it shortened to their last component.
node -e '
const fs = require("fs"), path = require("path");
const m = JSON.parse(fs.readFileSync(process.argv[1]));
const short = (s) => s.split(" ").map((a, i) => (i === 0 || a.startsWith("/") ? path.basename(a) : a)).join(" ");
m.command_line = short(m.command_line);
if (m.data.startsWith("/")) m.data = path.basename(m.data);
fs.writeFileSync(process.argv[2], JSON.stringify(m, null, 2) + "\n");
' "$RUN/metrics.json" "$OUT/training.json"
"$BIN" eval --model "$OUT" --data "$DATA" --json "$OUT/eval.json" ${NOISE:+--noise "$NOISE"}

node - "$NAME" "$DESC" "$dtype" <<'EOF'
const fs = require('fs');
const [name, description, dtype] = process.argv.slice(2);
const dir = `www/models/${name}`;
const evalj = JSON.parse(fs.readFileSync(`${dir}/eval.json`));
const index = fs.existsSync('www/models/index.json') ? JSON.parse(fs.readFileSync('www/models/index.json')) : [];
const entry = {
  name, path: name, accuracy: Math.round(evalj.accuracy * 1e4) / 1e4,
  bytes: fs.statSync(`${dir}/model.safetensors`).size, description: `${description} Weights stored ${dtype}.`,
};
const i = index.findIndex((e) => e.name === name);
if (i >= 0) index[i] = entry; else index.push(entry);
fs.writeFileSync('www/models/index.json', JSON.stringify(index, null, 2) + '\n');
console.log(`${name}: accuracy ${entry.accuracy} as stored (${dtype}, ${(entry.bytes / 1e6).toFixed(2)} MB)`);
EOF
