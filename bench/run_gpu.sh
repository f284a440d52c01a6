#!/usr/bin/env bash
# GPU benchmark + GPU tests on a fresh CUDA machine, with nothing but this repository.
# Uses the machine's own CUDA torch (does not install torch); installs the few pure-Python
# pieces it needs into a venv that sees the system packages. Logs land in one folder.
#   usage: bash bench/run_gpu.sh [LOG_DIR]        (default: bench/gpu-logs-<date>)
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=${1:-${OUT:-bench/gpu-logs-$(date +%Y%m%d-%H%M%S)}}
mkdir -p "$LOG"
PY=${PYTHON:-python3}
if [ ! -x .venv-gpu/bin/python ]; then
  $PY -m venv --system-site-packages .venv-gpu
fi
VPY=.venv-gpu/bin/python
$VPY -m pip install --quiet --no-deps -e . >"$LOG/install.log" 2>&1
$VPY -m pip install --quiet pyyaml tqdm opencv-python-headless pytest onnxscript >>"$LOG/install.log" 2>&1 || true
{ nvidia-smi; $VPY -c "import torch, onnxruntime as o; print(torch.__version__, torch.cuda.get_device_name(0), o.get_available_providers())"; } >"$LOG/env.txt" 2>&1
export QT_QPA_PLATFORM=offscreen
$VPY -m pytest -q -rs tests/model/test_segmenter.py tests/model/test_device_pipeline.py >"$LOG/gpu-tests.log" 2>&1
echo "gpu tests: $(tail -1 "$LOG/gpu-tests.log")"
timeout 280 $VPY -m attanet_cli bench --suite gpu --markdown "$LOG/RESULTS-gpu.md" >"$LOG/bench.log" 2>"$LOG/bench.err"
echo "bench exit $?"
cat "$LOG/bench.log"
