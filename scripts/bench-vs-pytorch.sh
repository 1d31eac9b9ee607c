#!/usr/bin/env bash
# Burn (examples/train_speed.rs, CPU flex backend) against its PyTorch twin
# (scripts/bench_torch.py) on the same networks, batches, modes and threads, back to back,
# REPS times each. PyTorch comes from PyPI into a venv under ~/.cache (a few GiB: the PyPI
# wheel pulls CUDA libraries even for CPU use). Results go to BENCHMARKS.md by hand.
# With LIBTORCH=<venv>/lib/python3.X/site-packages/torch (a torch 2.9.0 install, as Burn's
# LibTorch backend needs), Burn is also run over that libtorch (`--features libtorch`) and the
# PyTorch twin runs from the same venv, so both use the same kernels.
# Usage: scripts/bench-vs-pytorch.sh [STEPS] [REPS]   (threads: THREADS, default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-10}"; reps="${2:-2}"; threads="${THREADS:-2}"
venv="${BENCH_VENV:-$HOME/.cache/unlearnable-bench-venv}"
tch="${LIBTORCH:-}"
if [ -n "$tch" ]; then
  venv="$(cd "$tch/../../../.." && pwd)"
  export LD_LIBRARY_PATH="$tch/lib:$(ls -d "$tch"/../nvidia/*/lib 2>/dev/null | tr '\n' ':')${LD_LIBRARY_PATH:-}"
  cargo build --release --quiet --features libtorch --example train_speed
else
  [ -x "$venv/bin/python" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install --quiet torch; }
  cargo build --release --quiet --example train_speed
fi
bin="${CARGO_TARGET_DIR:-target}/release/examples/train_speed"
res() { awk '/^RESULT/{print $5}'; }
ratio() { awk -v b="$1" -v t="$2" 'BEGIN{printf "%.2f", b/t}'; }
if [ -n "$tch" ]; then
  echo "| mode | model | batch | Burn flex images/s | Burn libtorch images/s | PyTorch images/s | flex / PyTorch | libtorch / PyTorch |"
  echo "|---|---|---|---|---|---|---|---|"
else
  echo "| mode | model | batch | Burn images/s | PyTorch images/s | ratio |"
  echo "|---|---|---|---|---|---|"
fi
for mode in train delta; do
  for cfg in "small-cnn 128" "medium-cnn 64" "resnet18 128"; do
    set -- $cfg
    for r in $(seq "$reps"); do
      b=$(RAYON_NUM_THREADS="$threads" "$bin" "$1" "$2" "$steps" "$mode" cpu | res)
      t=$(TORCH_THREADS="$threads" "$venv/bin/python" scripts/bench_torch.py "$1" "$2" "$steps" "$mode" 2>/dev/null | res)
      if [ -n "$tch" ]; then
        l=$(OMP_NUM_THREADS="$threads" "$bin" "$1" "$2" "$steps" "$mode" libtorch | res)
        echo "| $mode | $1 | $2 | $b | $l | $t | $(ratio "$b" "$t") | $(ratio "$l" "$t") |"
      else
        echo "| $mode | $1 | $2 | $b | $t | $(ratio "$b" "$t") |"
      fi
    done
  done
done
