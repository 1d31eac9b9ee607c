#!/usr/bin/env bash
# Burn (examples/train_speed.rs, CPU flex backend) against its PyTorch twin
# (scripts/bench_torch.py) on the same networks, batches, modes and threads, back to back,
# REPS times each. PyTorch comes from PyPI into a venv under ~/.cache (a few GiB: the PyPI
# wheel pulls CUDA libraries even for CPU use). Results go to BENCHMARKS.md by hand.
# Usage: scripts/bench-vs-pytorch.sh [STEPS] [REPS]   (threads: THREADS, default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-10}"; reps="${2:-2}"; threads="${THREADS:-2}"
venv="${BENCH_VENV:-$HOME/.cache/unlearnable-bench-venv}"
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install --quiet torch; }
cargo build --release --quiet --example train_speed
bin="${CARGO_TARGET_DIR:-target}/release/examples/train_speed"
echo "| mode | model | batch | Burn images/s | PyTorch images/s | ratio |"
echo "|---|---|---|---|---|---|"
for mode in train delta; do
  for cfg in "small-cnn 128" "medium-cnn 64" "resnet18 128"; do
    set -- $cfg
    for r in $(seq "$reps"); do
      b=$(RAYON_NUM_THREADS="$threads" "$bin" "$1" "$2" "$steps" "$mode" | awk '/^RESULT/{print $5}')
      t=$(TORCH_THREADS="$threads" "$venv/bin/python" scripts/bench_torch.py "$1" "$2" "$steps" "$mode" | awk '/^RESULT/{print $5}')
      echo "| $mode | $1 | $2 | $b | $t | $(awk -v b="$b" -v t="$t" 'BEGIN{printf "%.2f", b/t}') |"
    done
  done
done
