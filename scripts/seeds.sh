#!/usr/bin/env bash
# Several seeds of several configs, trained one after another, then evaluated and pooled: the
# mean ± spread rows of README's "Trained models". Safe to stop and rerun at any point: a run
# with a checkpoint resumes (exactly), a finished run is not trained again, an evaluated run is
# not evaluated again.
#
#   DATA=/path/to/cifar10-jpg OUT=runs scripts/seeds.sh "0 1 2" configs/toy-baseline.json configs/toy-gattanet.json
#
# Per config and seed: OUT/<config name>-s<seed>/ (a model directory + metrics.json + eval.json).
# At the end: OUT/noise-seeds.png and the table from `gattanet plot-noise` (runs of one config pool).
# Env: EPOCHS (15), NOISE (0,0.01,0.02,0.05,0.1,0.2), GATTANET (the CLI; built in release if unset).
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 2 ] || { sed -n '2,11p' "$0"; exit 2; }
: "${DATA:?set DATA to the data set (image folders, CIFAR binary or IDX)}"
OUT=${OUT:-runs}
EPOCHS=${EPOCHS:-15}
NOISE=${NOISE:-0,0.01,0.02,0.05,0.1,0.2}
if [ -z "${GATTANET:-}" ]; then
  cargo build --release --quiet --bin gattanet
  GATTANET=${CARGO_TARGET_DIR:-target}/release/gattanet
fi

seeds=$1
shift
evals=()
for seed in $seeds; do
  for config in "$@"; do
    name=$(sed -n 's/^ *"name": *"\([^"]*\)".*/\1/p' "$config" | head -1)
    [ -n "$name" ] || { echo "$config: no \"name\"" >&2; exit 1; }
    run=$OUT/$name-s$seed
    if grep -qs '"complete": true' "$run/metrics.json"; then
      echo "== $run: trained"
    elif [ -d "$run/checkpoint" ]; then
      echo "== $run: resuming"
      "$GATTANET" train --data "$DATA" --out "$run" --resume --quiet
    else
      echo "== $run: training seed $seed of $config for $EPOCHS epochs"
      "$GATTANET" train --config "$config" --data "$DATA" --out "$run" --epochs "$EPOCHS" --seed "$seed" --quiet
    fi
    if [ ! -f "$run/eval.json" ]; then
      "$GATTANET" eval --model "$run" --data "$DATA" --noise "$NOISE" --json "$run/eval.json"
    fi
    evals+=("$run/eval.json")
  done
done
"$GATTANET" plot-noise "${evals[@]}" --out "$OUT/noise-seeds.png"
