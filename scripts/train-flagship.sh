#!/usr/bin/env bash
# Train the conv-groups flagship and its no-attention twin with the same recipe, seed and
# epochs. The flagship's first PLAIN epochs run one pass (α = 0 at initialisation, so the later
# passes would only repeat it); in those epochs it trains exactly as the twin does, so the twin
# starts from that checkpoint (scripts/fork-plain-twin.py drops GAttANet's tensors) instead of
# computing the same epochs again. Then both runs finish. Safe to stop and rerun: a run with a
# checkpoint resumes exactly, a finished run is skipped.
#
#   scripts/train-flagship.sh DATA [OUT]
#     DATA  CIFAR-10 (image folders with train/ and test/, or the binary files)
#     OUT   where the runs go [default: runs]
# Env: SEED (0), EPOCHS (6), PLAIN (2), GATTANET_CONFIG and TWIN_CONFIG (the two configs).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n '2,13p' "$0"; exit 2; }
DATA=$1 OUT=${2:-runs}
SEED=${SEED:-0} EPOCHS=${EPOCHS:-6} PLAIN=${PLAIN:-2}
GATTANET_CONFIG=${GATTANET_CONFIG:-configs/convgroups-gattanet.json}
TWIN_CONFIG=${TWIN_CONFIG:-configs/convgroups-baseline.json}
cargo build --release --quiet --bin gattanet
BIN=${CARGO_TARGET_DIR:-target}/release/gattanet

name() { sed -n 's/^ *"name": *"\([^"]*\)".*/\1/p' "$1" | head -1; }
FLAGSHIP=$OUT/$(name "$GATTANET_CONFIG")-s$SEED
TWIN=$OUT/$(name "$TWIN_CONFIG")-s$SEED
done_() { grep -qs '"complete": true' "$1/metrics.json"; }

# The recipe: SGD Nesterov for the BatchNorm trunk, AdamW for the class-attention head and
# GAttANet; batch 512, one-cycle schedule, label smoothing 0.2, flip + 2-pixel translations.
RECIPE=(--seed "$SEED" --epochs "$EPOCHS" --plain-epochs "$PLAIN" --batch 512 --lr 0.3 --head-lr 0.003
  --warmup 0.25 --weight-decay 5e-4 --label-smoothing 0.2 --crop-pad 2 --eval-limit 2000 --quiet)

if [ ! -d "$FLAGSHIP/checkpoint" ] && ! done_ "$FLAGSHIP"; then
  echo "== $FLAGSHIP: $PLAIN plain epochs"
  "$BIN" train --config "$GATTANET_CONFIG" --data "$DATA" --out "$FLAGSHIP" "${RECIPE[@]}" --stop-after "$PLAIN"
fi
if [ ! -d "$TWIN" ]; then
  plain_done=$(sed -n 's/^  "epochs_done": \([0-9]*\),/\1/p' "$FLAGSHIP/checkpoint/state.json")
  [ "$plain_done" = "$PLAIN" ] || { echo "$FLAGSHIP is past its plain epochs ($plain_done): train $TWIN from scratch with the recipe" >&2; exit 1; }
  echo "== $TWIN: forked from $FLAGSHIP after its $PLAIN plain epochs"
  python3 scripts/fork-plain-twin.py "$FLAGSHIP/checkpoint" "$TWIN_CONFIG" "$TWIN"
fi
for run in "$FLAGSHIP" "$TWIN"; do
  if done_ "$run"; then echo "== $run: trained"; continue; fi
  echo "== $run: training to epoch $EPOCHS"
  "$BIN" train --data "$DATA" --out "$run" --resume --quiet
done
