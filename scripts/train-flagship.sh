#!/usr/bin/env bash
# Train the conv-groups flagship and its no-attention twin with the same recipe, seed and
# epochs, one after the other. Safe to stop and rerun: a run with a checkpoint resumes exactly,
# a finished run is skipped.
#
#   scripts/train-flagship.sh DATA [OUT]
#     DATA  CIFAR-10 (image folders with train/ and test/, or the binary files)
#     OUT   where the runs go [default: runs]
# Env: SEED (0), EPOCHS (6), PLAIN (2: epochs with one pass before GAttANet's passes start),
#      CONFIGS (the flagship's and the twin's configs).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n '2,10p' "$0"; exit 2; }
DATA=$1 OUT=${2:-runs}
SEED=${SEED:-0} EPOCHS=${EPOCHS:-6} PLAIN=${PLAIN:-2}
CONFIGS=${CONFIGS:-"configs/convgroups-gattanet.json configs/convgroups-baseline.json"}
cargo build --release --quiet --bin gattanet
BIN=${CARGO_TARGET_DIR:-target}/release/gattanet

for config in $CONFIGS; do
  name=$(sed -n 's/^ *"name": *"\([^"]*\)".*/\1/p' "$config" | head -1)
  run=$OUT/$name-s$SEED
  if grep -qs '"complete": true' "$run/metrics.json"; then
    echo "== $run: trained"; continue
  elif [ -d "$run/checkpoint" ]; then
    echo "== $run: resuming"
    "$BIN" train --data "$DATA" --out "$run" --resume --quiet
    continue
  fi
  echo "== $run: training $config, seed $SEED, $EPOCHS epochs"
  # The recipe: SGD Nesterov for the BatchNorm trunk, AdamW for the class-attention head and
  # GAttANet; batch 512, one-cycle schedule, label smoothing 0.2, flip + 2-pixel translations.
  "$BIN" train --config "$config" --data "$DATA" --out "$run" --seed "$SEED" --epochs "$EPOCHS" \
    --plain-epochs "$PLAIN" --batch 512 --lr 0.3 --head-lr 0.003 --warmup 0.25 --weight-decay 5e-4 \
    --label-smoothing 0.2 --crop-pad 2 --eval-limit 2000 --quiet
done
