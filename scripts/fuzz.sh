#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/) for SECONDS each (default 300), on nightly Rust, and
# prints the executions and crashes of each. A tool, not part of the test command: every crash
# it finds gets fixed and its input kept as a regression test in the normal suite.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs: rustup toolchain install nightly; cargo install cargo-fuzz.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECONDS_EACH="${1:-300}"
shift || true
command -v cargo-fuzz >/dev/null 2>&1 || { echo "fuzz: cargo install cargo-fuzz first" >&2; exit 2; }
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || mapfile -t TARGETS < <(cd fuzz && cargo +nightly fuzz list)
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
printf '%-14s %12s %8s\n' target executions crashes
for t in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="fuzz/artifacts/$t/last-run.log"
  # -rss_limit_mb: a hostile input must not need more than 2 GB; -timeout: nor 20 s.
  (cd fuzz && cargo +nightly fuzz run --release "$t" "corpus/$t" -- \
      -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1) >"$log" 2>&1 || true
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  crashes=$(find "fuzz/artifacts/$t" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
  printf '%-14s %12s %8s\n' "$t" "${execs:-?}" "$crashes"
done
