#!/usr/bin/env bash
# Every protection method under one protocol (issue #13's comparison), one `evaluate` per
# method, then one Markdown table: clean-arm accuracy against each method's, under each
# defence. Prepared for a lent GPU (the 5 000-image protocol of EVALUATION.md at ~1 min per
# arm on an H200; a `gpu-fast` build trains 4-9x faster), and runs anywhere at smaller sizes.
#
# Usage: scripts/compare-methods.sh DATA REPORTS [BIN]
#   DATA     a `train/<class>/` + `test/<class>/` folder (e.g. ../shared/datasets/cifar10-jpg, extracted)
#   REPORTS  a folder for one report per method
#   BIN      the unlearnable binary (default: the dev build under CARGO_TARGET_DIR or target/)
# Environment (defaults in brackets): DEVICE [wgpu], METHODS [em em-class rem tue clusters
# shield random], DEFENCES [none jpeg75 grayscale], TRAIN [500] and TEST [100] images per class,
# EPOCHS [20], MODEL [medium-cnn], QUALITY [balanced], PER_RUN_TIMEOUT seconds [900],
# CLEAN_DEFENCE (e.g. `same`: the clean reference also trains under each defence).
set -uo pipefail
data="$1"; reports="$2"
bin="${3:-${CARGO_TARGET_DIR:-target}/debug/unlearnable}"
device="${DEVICE:-wgpu}"
methods=(${METHODS:-em em-class rem tue clusters shield random})
defences=(${DEFENCES:-none jpeg75 grayscale})
mkdir -p "$reports"
dargs=(); for d in "${defences[@]}"; do dargs+=(--defence "$d"); done
clean_arm=()   # the first method's report also trains the clean reference
[ -n "${CLEAN_DEFENCE:-}" ] && clean_arm=(--clean-defence "$CLEAN_DEFENCE")
for m in "${methods[@]}"; do
  echo "== [${SECONDS}s] $m"
  timeout "${PER_RUN_TIMEOUT:-900}" "$bin" evaluate --data "$data" --method "$m" "${dargs[@]}" \
    --train-per-class "${TRAIN:-500}" --test-per-class "${TEST:-100}" --epochs "${EPOCHS:-20}" \
    --model "${MODEL:-medium-cnn}" --quality "${QUALITY:-balanced}" --device "$device" \
    "${clean_arm[@]}" --report "$reports/$m" 2>&1 | tail -3
  clean_arm=(--no-clean-arm)
done
echo "== [${SECONDS}s] table"
python3 - "$reports" "${methods[@]}" <<'EOF'
import json, os, sys
root, methods = sys.argv[1], sys.argv[2:]
clean, rows = {}, []
for m in methods:
    p = os.path.join(root, m, "report.json")
    if not os.path.exists(p):
        rows.append((m, None)); continue
    r = json.load(open(p))
    arms = {}
    for a in r["arms"]:
        (arms if a["protected"] else clean)[a["defence"]] = a["final_test_acc"]
    rows.append((m, arms))
defs = sorted({d for _, a in rows if a for d in a} | set(clean))
print("| method | " + " | ".join(f"final test accuracy, {d} (%)" for d in defs) + " |")
print("|---|" + "---|" * len(defs))
fmt = lambda v: "–" if v is None else f"{100 * v:.1f}"
print("| clean | " + " | ".join(fmt(clean.get(d)) for d in defs) + " |")
for m, a in rows:
    print(f"| {m} | " + " | ".join(fmt(a.get(d) if a else None) for d in defs) + " |")
EOF
