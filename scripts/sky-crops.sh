#!/usr/bin/env bash
# 1:1 crops of the smoothest region of each sample photo — the original on top, then today's
# `em` and the `shield` method at Medium strength — written to docs/crops/ (README shows them).
# Usage: scripts/sky-crops.sh [out_dir]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/crops}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cargo run --locked -q -- protect assets/samples --method em --out "$tmp/em"
cargo run --locked -q -- protect assets/samples --method shield --out "$tmp/shield"
cargo run --locked -q --example sky_crops -- assets/samples "$out" "$tmp/em" "$tmp/shield"
