#!/usr/bin/env bash
# A trained ResNet-18 AttaNet, made here on the CPU, for judging int8/bf16 label agreement and
# mIoU on unseen frames (docs/SPEED.md): 200 synthetic training frames (seed 0), 12 for model
# selection (seed 2000), 20 unseen frames for the benchmark (seed 1000, no training run uses it),
# then `attanet train --config synthetic_r18` to a wall-time budget.
#   bench/train_r18_synthetic.sh [OUT_DIR] [BUDGET_MINUTES]    (default: build/r18-synthetic, 20)
# OUT_DIR/run/best.pt is the model; OUT_DIR/eval the frames to pass as --eval-data.
set -euo pipefail
OUT=${1:-build/r18-synthetic}
BUDGET=${2:-20}
ATTANET=${ATTANET:-.venv/bin/attanet}
test -d "$OUT/data/leftImg8bit/train" || "$ATTANET" synth --out "$OUT/data" --num 200 --seed 0 --split train --jobs 2 --no-progress
test -d "$OUT/data/leftImg8bit/val" || "$ATTANET" synth --out "$OUT/data" --num 12 --seed 2000 --split val --no-progress
test -d "$OUT/eval/leftImg8bit/val" || "$ATTANET" synth --out "$OUT/eval" --num 20 --seed 1000 --split val --no-progress
"$ATTANET" train --config synthetic_r18 --data-root "$OUT/data" --out "$OUT/run" --device cpu \
    --budget-minutes "$BUDGET" --no-progress
