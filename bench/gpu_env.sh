# Sourced by bench/run_gpu.sh and scripts/gpu_session.sh: use the machine's own CUDA torch and
# packages, with no pip install (GPU machines are often offline). The repository's training/,
# gui/ and bench/ folders are importable under their installed names through symlinks.
PY=${PYTHON:-python3}
ATTANET_SHIM=${ATTANET_SHIM:-/tmp/attanet-shim}
mkdir -p "$ATTANET_SHIM"
ln -sfn "$PWD/training" "$ATTANET_SHIM/attanet_training"
ln -sfn "$PWD/gui" "$ATTANET_SHIM/attanet_gui"
ln -sfn "$PWD/bench" "$ATTANET_SHIM/attanet_bench"
export PYTHONPATH="$PWD:$ATTANET_SHIM${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 QT_QPA_PLATFORM=offscreen
missing=$($PY - <<'PY'
import importlib.util
need = ["torch", "numpy", "cv2", "yaml", "tqdm", "onnx", "onnxruntime", "onnxscript", "pytest", "cityscapesscripts"]
print(" ".join(n for n in need if importlib.util.find_spec(n) is None))
PY
)
if [ -n "$missing" ]; then
  echo "gpu_env: missing Python packages: $missing (pip install them, or carry wheels)" >&2
fi
