#!/usr/bin/env bash
# GPU tests + the GPU benchmark suite on a fresh CUDA machine, with nothing but this repository.
# Uses the machine's own CUDA torch; installs nothing (bench/gpu_env.sh). Logs land in one folder.
#   usage: bash bench/run_gpu.sh [LOG_DIR]        (default: bench/gpu-logs-<date>)
#   BENCH_TIMEOUT=seconds caps the suite (default 280); SKIP_TESTS=1 runs the suite alone,
#   TESTS_ONLY=1 the GPU tests alone, SKIP_ORT=1 skips the ONNX Runtime GPU / TensorRT measurements
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=$(realpath -m "${1:-bench/gpu-logs-$(date +%Y%m%d-%H%M%S)}")
mkdir -p "$LOG"
source bench/gpu_env.sh
{ nvidia-smi; $PY -c "import torch, onnxruntime as o; print(torch.__version__, torch.cuda.get_device_name(0), o.get_available_providers())"; } >"$LOG/env.txt" 2>&1
if [ -z "${SKIP_TESTS:-}" ]; then
  timeout 240 $PY -m pytest -q -rs -p no:cacheprovider tests/model/test_segmenter.py tests/model/test_device_pipeline.py \
    tests/model/test_ort_providers.py tests/ros/node/test_cameras_logic.py >"$LOG/gpu-tests.log" 2>&1
  echo "gpu tests: $(tail -1 "$LOG/gpu-tests.log")"
fi
[ -n "${TESTS_ONLY:-}" ] && exit 0
# ONNX Runtime GPU: TensorRT engine build time, cached start-up, FPS per provider (needs onnxruntime-gpu;
# says what it could not measure). ORT_TIMEOUT caps it (default 600; an r18 1024x2048 engine build takes minutes)
if [ -z "${SKIP_ORT:-}" ]; then
  timeout "${ORT_TIMEOUT:-600}" $PY bench/ort_gpu_bench.py --out "$LOG/RESULTS-ort-gpu.md" >"$LOG/ort-gpu.log" 2>&1
  echo "ort gpu bench exit $?"
fi
# the suite starts no step in its last 60 s (torch.compile steps run last and take tens of seconds)
BENCH_TIMEOUT=${BENCH_TIMEOUT:-280}
timeout "$BENCH_TIMEOUT" $PY -m attanet_cli bench --suite gpu --time-limit $((BENCH_TIMEOUT - 60)) --markdown "$LOG/RESULTS-gpu.md" >"$LOG/bench.log" 2>"$LOG/bench.err"
echo "bench exit $?"
cat "$LOG/bench.log"
