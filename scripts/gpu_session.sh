#!/usr/bin/env bash
# One GPU session (what produced the GPU figures in bench/RESULTS-gpu.md and the bundled model):
#   1. synthetic data rendered on the CPUs while the GPU tests run, then the GPU bench suite alone;
#   2. attanet_light trained on the GPU within the time left (--budget-minutes), augmenting on the
#      GPU from frames cached there (synthetic_light_gpu): by default one run, s10, at input scale
#      1.0 (512x1024 network input for 512x1024 frames); RUNS="s05 s10" adds the stock config at
#      the deployment scale 0.5, both at once;
#   3. each evaluated on 40 unseen 512x1024 frames (seed 1000) at input scales 0.5 / 0.75 / 1.0.
# Writes OUT/summary.txt, OUT/logs.tgz and the released models OUT/light_s05.pt, OUT/light_s10.pt.
#   usage: bash scripts/gpu_session.sh OUT [TOTAL_SECONDS]     (default 540: the whole session)
#   NTRAIN / NVAL / NTEST frames (1600 / 20 / 40), BENCH_TIMEOUT seconds (200), RESERVE (75),
#   RUNS ("s10"), SKIP_BENCH=1 (training only), INIT_FROM=checkpoint (fine-tune, e.g. the bundled model),
#   LR (base learning rate; the config's 0.03 when unset, lower for fine-tuning)
# Needs the machine's CUDA torch plus cityscapesScripts (training's label table); on an offline
# machine carry its wheel: pip install --no-index --no-deps --target /tmp/site cityscapesscripts-*.whl
# and PYTHONPATH=/tmp/site (bench/gpu_env.sh names anything missing).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:?usage: gpu_session.sh OUT [TOTAL_SECONDS]}")
TOTAL=${2:-540}
T0=$(date +%s)
WORK=${WORK:-/tmp/attanet-gpu-session}
LOG=$WORK/logs
rm -rf "$WORK"
mkdir -p "$OUT" "$LOG"
source bench/gpu_env.sh
J=$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))
elapsed() { echo $(( $(date +%s) - T0 )); }
say() { echo "[$(elapsed)s] $*" | tee -a "$LOG/session.log"; }

say "rendering data with $J jobs while the GPU tests run"
(
  $PY -m attanet_cli synth --out "$WORK/data" --num "${NTRAIN:-1600}" --seed 0 --split train --jobs "$J" --json >/dev/null &&
  $PY -m attanet_cli synth --out "$WORK/data" --num "${NVAL:-20}" --seed 2000 --split val --jobs "$J" --json >/dev/null &&
  $PY -m attanet_cli synth --out "$WORK/test" --num "${NTEST:-40}" --seed 1000 --split val --jobs "$J" --json >/dev/null
) >"$LOG/synth.log" 2>&1 &
SYNTH=$!
TESTS_ONLY=1 bash bench/run_gpu.sh "$LOG/bench" >"$LOG/run_gpu_tests.out" 2>&1
say "$(cat "$LOG/run_gpu_tests.out")"
wait $SYNTH || say "synth FAILED: $(tail -3 "$LOG/synth.log")"
say "data ready: $(find "$WORK/data/leftImg8bit/train" -name '*.png' 2>/dev/null | wc -l) train frames"

# the suite alone on the machine: host-side copies in the end-to-end rows feel any CPU load
if [ -z "${SKIP_BENCH:-}" ]; then
  say "GPU bench suite"
  BENCH_TIMEOUT=${BENCH_TIMEOUT:-200} SKIP_TESTS=1 bash bench/run_gpu.sh "$LOG/bench" >"$LOG/run_gpu.out" 2>&1
  say "$(head -1 "$LOG/run_gpu.out")"
fi

# the runs: s05 = the stock config (input scale 0.5); s10 = input scale 1.0 on 512x512 crops
RUNS=(${RUNS:-s10})
WORKERS=$(( ($(nproc) - 2) / ${#RUNS[@]} > 1 ? ($(nproc) - 2) / ${#RUNS[@]} : 1 ))
LEFT=$(( TOTAL - $(elapsed) - ${RESERVE:-75} ))
if [ "$LEFT" -gt 60 ]; then
  MIN=$(python3 -c "print(round($LEFT / 60, 2))")
  say "training ${RUNS[*]} for $MIN minutes each, concurrently, $WORKERS data workers each"
  # a hung run must not eat the session: each gets its budget plus a minute
  TRAIN="timeout $((LEFT + 60)) $PY -m attanet_cli train"
  common=(--config synthetic_light_gpu --data-root "$WORK/data" --budget-minutes "$MIN" --no-progress
          --workers "$WORKERS" ${INIT_FROM:+--init-from "$INIT_FROM"} ${LR:+--set lr=$LR})
  declare -A PIDS
  for run in "${RUNS[@]}"; do
    case $run in
      s05) extra=() ;;
      s10) extra=(--crop-size 512x512 --set input_scale=1.0 --set base_scale=1.0
                  --set scales=0.5,0.75,1.0,1.25,1.5,1.75) ;;
      *) say "unknown run $run (s05 or s10)"; continue ;;
    esac
    $TRAIN "${common[@]}" "${extra[@]}" --out "$WORK/run_$run" --release "$OUT/light_$run.pt" \
      >"$LOG/train_$run.log" 2>&1 &
    PIDS[$run]=$!
  done
  for run in "${!PIDS[@]}"; do
    wait "${PIDS[$run]}"
    say "train $run exit $?: $(grep -c '"iter"' "$WORK/run_$run/log.jsonl" 2>/dev/null) log lines"
    cp "$WORK/run_$run/log.jsonl" "$LOG/train_$run.jsonl" 2>/dev/null
  done
else
  say "no time left to train ($LEFT s)"
fi

for run in "${RUNS[@]}"; do
  [ -f "$OUT/light_$run.pt" ] || continue
  for scale in 0.5 0.75 1.0; do
    $PY -m attanet_cli eval --model "$OUT/light_$run.pt" --data-root "$WORK/test" --split val \
      --input-scale "$scale" --json >"$LOG/eval_light_${run}_$scale.json" 2>"$LOG/eval_light_${run}_$scale.err" &
  done
done
wait
{
  echo "session on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null), $(elapsed) s"
  cat "$LOG/session.log"
  echo "--- bench"
  cat "$LOG/bench/bench.log" 2>/dev/null
  grep -h "agree\|MiB\|failed\|no CUDA provider\|compile+graphs" "$LOG/bench/bench.err" 2>/dev/null
  echo "--- gpu tests: $(tail -1 "$LOG/bench/gpu-tests.log" 2>/dev/null)"
  echo "--- eval (mIoU on 40 unseen 512x1024 frames)"
  for f in "$LOG"/eval_*.json; do
    [ -s "$f" ] && python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[1].split('/')[-1], round(100*d['miou'],2))" "$f"
  done
} >"$OUT/summary.txt" 2>&1
tar -czf "$OUT/logs.tgz" -C "$WORK" logs
cat "$OUT/summary.txt"
