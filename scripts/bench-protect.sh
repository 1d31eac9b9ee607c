#!/usr/bin/env bash
# Benchmark: protect N distinct 12-megapixel photos (4000×3000, made by upscaling the samples)
# and report wall time, photos/s and peak memory. Usage: scripts/bench-protect.sh [N] [method] [extra protect flags...]
# Needs ImageMagick (`convert`) and GNU time (`/usr/bin/time`). Results go to BENCHMARKS.md by hand.
# PROFILE=release times the release build (what users run; a clean release build takes ~30 min
# on 2 cores); the default is the `dev` build, which compiles this crate at opt-level 1.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-8}"; method="${2:-conv}"; shift $(( $# > 2 ? 2 : $# ))
work="$(mktemp -d)"; trap 'du -sh "$work/out"; rm -rf "$work"' EXIT
mkdir -p "$work/album"
# Distinct photos: the five samples in turn, upscaled to 4000×3000, mirrored on every other lap.
samples=(assets/samples/*.jpg)
for i in $(seq 0 $((n - 1))); do
  src="${samples[$((i % ${#samples[@]}))]}"
  flip=$([ $(( (i / ${#samples[@]}) % 2 )) -eq 1 ] && echo -flop || true)
  convert "$src" $flip -resize '4000x3000!' -quality 92 "$work/album/photo$(printf %03d "$i").jpg"
done
profile="${PROFILE:-dev}"
cargo build --quiet --profile "$profile" --bin unlearnable
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
bin="${CARGO_TARGET_DIR:-target}/$dir/unlearnable"
/usr/bin/time -v "$bin" protect "$work/album" --out "$work/out" --method "$method" "$@" 2> "$work/time.txt" >/dev/null || true
grep -E "protected|device:" "$work/time.txt" || true
secs=$(grep "Elapsed (wall clock)" "$work/time.txt" | awk '{print $NF}')
rss=$(grep "Maximum resident set size" "$work/time.txt" | awk '{print $NF}')
echo "photos=$n method=$method wall=$secs peak_rss_mib=$((rss / 1024))"
