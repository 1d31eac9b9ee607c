#!/usr/bin/env bash
# Fuzz the photo loader: ./scripts/fuzz.sh [seconds per seed] [first seed] [seeds]
# Runs examples/fuzz_loaders.rs (see its header) seed after seed; panicking inputs land in
# fuzz/crashes/, and every run appends its totals to fuzz/runs.log.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-600}"; first="${2:-1}"; count="${3:-1}"
cargo build --locked --example fuzz_loaders
bin="${CARGO_TARGET_DIR:-target}/debug/examples/fuzz_loaders"
for ((s = first; s < first + count; s++)); do
  RAYON_NUM_THREADS=1 "$bin" --seconds "$secs" --seed "$s"
done
