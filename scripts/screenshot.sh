#!/usr/bin/env bash
# Start the real app under Xvfb with Mesa's software renderer (lavapipe via wgpu), load the
# sample photos, protect them, open the compare view, save a screenshot, and quit.
#
#   scripts/screenshot.sh [out.png] [extra app arguments...]
#
# Needs: xvfb (Xvfb), mesa-vulkan-drivers, libvulkan1, libxkbcommon-x11-0, libxcursor1,
# libxrandr2, libxi6 (apt). The screenshot is taken by the app itself (egui's viewport
# screenshot), so no ImageMagick is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/screenshot.png}
shift || true
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/unlearnable-target}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-$UID}
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
mkdir -p "$(dirname "$out")"
cargo build --locked --bin unlearnable
bin="$CARGO_TARGET_DIR/debug/unlearnable"

display=:$((90 + RANDOM % 100))
Xvfb "$display" -screen 0 1400x900x24 -nolisten tcp &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done

# A throw-away settings folder, so the screenshot shows defaults, not this user's choices.
home=$(mktemp -d)
trap 'kill $xvfb 2>/dev/null || true; rm -rf "$home"' EXIT
# Force X11 (no Wayland socket under Xvfb) and the software Vulkan driver.
env -u WAYLAND_DISPLAY DISPLAY="$display" HOME="$home" XDG_DATA_HOME="$home/.local/share" \
    XDG_CONFIG_HOME="$home/.config" WGPU_BACKEND=vulkan \
    timeout 600 "$bin" gui assets/samples --protect --screenshot "$out" "$@"
echo "wrote $out"
