#!/usr/bin/env bash
# Regenerate the viewer pictures in docs/img (used by README.md and docs/VIEWER.md).
# Uses the bundled model unless MODEL=path/to/checkpoint.pt is given. Needs no display.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-.venv/bin/python}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
MODEL_ARGS=()
if [ -n "${MODEL:-}" ]; then MODEL_ARGS=(--model "$MODEL"); fi

"$PY" -m attanet_cli synth --out "$WORK/data" --num 2 --height 512 --width 1024 --seed 11 --split val
SRC="$WORK/data/leftImg8bit/val"
"$PY" -m attanet_cli viewer --source "$SRC" "${MODEL_ARGS[@]}" --view overlay --screenshot docs/img/viewer_overlay.png
"$PY" -m attanet_cli viewer --source "$SRC" "${MODEL_ARGS[@]}" --click 700,150 --screenshot docs/img/viewer_attention.png
"$PY" -m attanet_cli viewer --source "$SRC" "${MODEL_ARGS[@]}" --view labels --screenshot docs/img/viewer_labels.png
# The viewer on the live node's outputs, through the demo (node process, DDS, camera player).
"$PY" -m attanet_cli demo --out "$WORK/demo" --frames 8 "${MODEL_ARGS[@]}" --no-progress \
    --screenshot docs/img/demo_live.png
