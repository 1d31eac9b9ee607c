#!/usr/bin/env bash
# GPU benchmark (issue #14): the plain build and the `gpu-fast` build (Burn's fusion +
# autotune) side by side on one GPU, plus PyTorch on the same GPU as a reference.
#
# Usage: scripts/bench-gpu.sh BIN_PLAIN BIN_FAST CIFAR_DIR OUT
#   BIN_*     folders holding `unlearnable` and `train_speed` of each build
#             (`cargo build --bin unlearnable --example train_speed [--features gpu-fast]`)
#   CIFAR_DIR a class-per-folder album (e.g. 500 images per class of ../shared/datasets/cifar10-jpg)
#   OUT       where protected photos go
# Needs a Vulkan loader and driver, python3 with numpy + Pillow (12 MP photos are made from
# assets/samples; protected pixels of the two builds are compared), torch with CUDA for the
# reference rows (skipped when missing). Every row is bounded by `timeout`, and rows are
# skipped once DEADLINE seconds (default 480) have passed, most important first.
set -uo pipefail
plain="$1"; fast="$2"; cifar="$3"; out="$4"
deadline="${DEADLINE:-480}"
mkdir -p "$out"
log() { echo "== [${SECONDS}s] $*"; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }
# row LABEL TIMEOUT CMD...: run one benchmark, keep its result lines and wall time.
row() {
  local b="$1" t="$2"; shift 2
  if (( SECONDS > deadline )); then echo "   [$b] skipped (deadline): $*"; return; fi
  local s; s=$(ms)
  timeout "$t" "$@" 2>&1 | grep -E "RESULT|images/s|protected|device|error|Error|panick|rounds" | tail -4
  echo "   [$b] $(( $(ms) - s )) ms wall: ${*: -6}"
}
bin() { if [ "$1" = fast ]; then echo "$fast"; else echo "$plain"; fi; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader || true

# 4 distinct 12 MP photos (4000x3000), as scripts/bench-protect.sh makes them with ImageMagick.
python3 - "$out/album" <<'EOF'
import sys, glob, os
from PIL import Image
d = sys.argv[1]; os.makedirs(d, exist_ok=True)
src = sorted(glob.glob("assets/samples/*.jpg"))
for i in range(4):
    im = Image.open(src[i % len(src)]).convert("RGB").resize((4000, 3000), Image.LANCZOS)
    im.save(f"{d}/photo{i:03d}.jpg", quality=92)
EOF

log "medium CNN, 32 px, 20 timed steps after 5 warm-up steps"
for b in plain fast; do
  for r in "64 20 delta" "512 20 delta" "64 20 train" "512 20 train"; do
    row "$b" 60 env WARMUP=5 "$(bin $b)/train_speed" medium-cnn $r wgpu
  done
done
row fast-f16 60 env FLOAT=f16 WARMUP=5 "$fast/train_speed" medium-cnn 512 20 delta wgpu

log "whole jobs: shield on 4 x 12 MP (GPU default preset), em-class --quality fast on $(find "$cifar" -type f | wc -l) images"
for b in plain fast; do
  [ -n "${SKIP_JOBS:-}" ] && break
  row "$b" 150 "$(bin $b)/unlearnable" protect "$out/album" --out "$out/shield-$b" --method shield --device wgpu --seed 7
  row "$b" 150 "$(bin $b)/unlearnable" protect "$cifar" --out "$out/em-$b" --method em-class --quality fast --device wgpu --seed 7
done
# The fused build keeps tuned kernels on disk (CubeCL's persistent cache): a second run of the
# same job shows what is left of the tuning cost.
[ -z "${SKIP_JOBS:-}" ] && row fast-again 150 "$fast/unlearnable" protect "$cifar" --out "$out/em-fast-again" \
  --method em-class --quality fast --device wgpu --seed 7

log "protected pixels, plain vs fast"
python3 - "$out" <<'EOF'
import sys, glob, os
import numpy as np
from PIL import Image
o = sys.argv[1]
for m in ["shield", "em"]:
    n, maxd, off, tot = 0, 0, 0, 0
    for p in sorted(glob.glob(f"{o}/{m}-plain/**/*.png", recursive=True)):
        q = p.replace(f"{m}-plain", f"{m}-fast")
        if not os.path.exists(q):
            continue
        x = np.asarray(Image.open(p), dtype=np.int16); y = np.asarray(Image.open(q), dtype=np.int16)
        d = np.abs(x - y); n += 1; maxd = max(maxd, int(d.max())); off += int((d > 0).sum()); tot += d.size
    print(f"{m}: {n} photos compared, max |diff| {maxd} levels, {off} of {tot} values differ ({100*off/max(tot,1):.4f} %)")
EOF

log "ResNet-18 (CIFAR), 32 px, 8 timed steps after 3 warm-up steps"
for b in plain fast; do
  for r in "128 8 delta" "512 8 delta" "128 8 train" "512 8 train"; do
    row "$b" 90 env WARMUP=3 "$(bin $b)/train_speed" resnet18 $r wgpu
  done
done
row fast-f16 90 env FLOAT=f16 WARMUP=3 "$fast/train_speed" resnet18 512 8 train wgpu

if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  log "PyTorch $(python3 -c 'import torch;print(torch.__version__)') on the same GPU (fp32, cuDNN defaults)"
  for r in "medium-cnn 512 20 delta" "medium-cnn 512 20 train" "resnet18 512 8 delta" "resnet18 512 8 train"; do
    row torch 60 env TORCH_DEVICE=cuda WARMUP=3 python3 scripts/bench_torch.py $r
  done
fi
log done
