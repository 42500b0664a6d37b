#!/usr/bin/env bash
# Training speed of our trainer next to PyTorch on the CPU: the toy CNN with and without GAttANet,
# batch 128, the same thread count, both measured back to back in one invocation.
#
#   scripts/bench-train.sh                      # configs/toy-baseline.json + configs/toy-gattanet.json
#   THREADS=2 BATCH=128 ROUNDS=5 scripts/bench-train.sh configs/a.json configs/b.json
#
# The first run installs PyTorch into a virtual environment under $BENCH_CACHE
# (default ~/.cache/gattanet-bench), from PyPI only, CPU use only: the torch wheel without its
# dependency list, its few pure-Python dependencies, and from the NVIDIA wheels only the shared
# libraries that torch's libraries name as needed (the loader wants them present; nothing calls
# them on the CPU). That downloads about 2.3 GB once and keeps about 3.1 GB; later runs skip it.
# Not part of scripts/test.sh: a benchmark, not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${THREADS:-2}
BATCH=${BATCH:-128}
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-2}
BENCH_CACHE=${BENCH_CACHE:-$HOME/.cache/gattanet-bench}
TORCH_VERSION=2.15.0
# The NVIDIA wheels torch 2.15.0 pins (its METADATA), and the libraries of each that the loader needs.
NVIDIA_WHEELS=(
  nvidia-cuda-runtime==13.2.86 nvidia-cuda-cupti==13.2.86 nvidia-cuda-nvrtc==13.2.86
  nvidia-cublas==13.4.1.3 nvidia-cufft==12.2.0.57 nvidia-cufile==1.17.1.22
  nvidia-cusparse==12.7.10.12 nvidia-nvjitlink==13.5.37 nvidia-cudnn-cu13==9.26.0.51
  nvidia-cusparselt-cu13==0.8.1 nvidia-nccl-cu13==2.30.7 nvidia-nvshmem-cu13==3.7.2
)
NEEDED_LIBS='cudart\.so\.13|cupti\.so\.13|nvrtc\.so\.13|cublas\.so\.13|cublasLt\.so\.13|cufft\.so\.12|cufile\.so\.0|cusparse\.so\.12|nvJitLink\.so\.13|cudnn\.so\.9|cusparseLt\.so\.0|nccl\.so\.2|nvshmem_host\.so\.3'

VENV=$BENCH_CACHE/venv
PY=$VENV/bin/python
READY=$VENV/.torch-$TORCH_VERSION-cpu-ready

install_torch() {
  echo "== installing PyTorch $TORCH_VERSION for the CPU into $VENV (once)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  local dl
  dl=$(mktemp -d "$BENCH_CACHE/download.XXXXXX")
  "$PY" -m pip download -q --no-deps -d "$dl" "torch==$TORCH_VERSION" "${NVIDIA_WHEELS[@]}"
  "$PY" -m pip install -q --no-deps --no-warn-conflicts "$dl"/torch-*.whl
  "$PY" -m pip install -q filelock 'typing-extensions>=4.13' 'sympy>=1.13.3' mpmath 'networkx>=2.5.1' jinja2 'fsspec>=0.8.5' numpy
  local site
  site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  "$PY" - "$site" "$NEEDED_LIBS" "$dl"/nvidia_*.whl <<'EOF'
import re, sys, zipfile
site, needed, wheels = sys.argv[1], re.compile(r"^nvidia/[^/]+/lib/lib(" + sys.argv[2] + r")$"), sys.argv[3:]
for w in wheels:
    with zipfile.ZipFile(w) as z:
        for name in z.namelist():
            if needed.match(name):
                z.extract(name, site)
EOF
  rm -rf "$dl"
  "$PY" -c 'import torch; assert not torch.cuda.is_available(); print("torch", torch.__version__, "imports; CPU capability", torch.backends.cpu.get_cpu_capability())'
  touch "$READY"
}

mkdir -p "$BENCH_CACHE"
[ -f "$READY" ] || install_torch

echo "== building the release CLI"
cargo build --release --bin gattanet --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/gattanet

configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(configs/toy-baseline.json configs/toy-gattanet.json)
cfg_args=()
for c in "${configs[@]}"; do cfg_args+=(--config "$c"); done

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "== ours (candle)"
RAYON_NUM_THREADS=$THREADS "$BIN" bench --train "${cfg_args[@]}" --batch "$BATCH" --rounds "$ROUNDS" --warmup "$WARMUP" --json "$out/ours.json"
echo "== PyTorch (after checking that its models give our logits on the same weights)"
OMP_NUM_THREADS=$THREADS "$PY" scripts/bench_train_torch.py "${cfg_args[@]}" --batch "$BATCH" --threads "$THREADS" \
  --rounds "$ROUNDS" --warmup "$WARMUP" --json "$out/torch.json" --parity "$BIN"

echo "== images/s, batch $BATCH, $THREADS threads, load average $(cut -d' ' -f1-3 /proc/loadavg) (ratio = ours / PyTorch, goal >= 1.0)"
"$PY" - "$out/ours.json" "$out/torch.json" <<'EOF'
import json, sys
ours, torch = (json.load(open(p)) for p in sys.argv[1:3])
print(f"| model | mode | ours img/s | PyTorch img/s | ratio |")
print(f"|---|---|---|---|---|")
for mode, key in (("training", "train_images_per_s"), ("inference", "forward_images_per_s")):
    for o, t in zip(ours, torch):
        print(f"| {o['model']} | {mode} | {o[key]:.0f} | {t[key]:.0f} | {o[key] / t[key]:.2f} |")
EOF
