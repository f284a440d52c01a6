"""OpenVINO's CPU plugin running an exported (fp32 or int8) ONNX model.

OpenVINO reads ONNX directly. A static shape compiles to faster kernels than a dynamic one, so
the model is reshaped to each network size and compiled once per size (kept in a dict keyed by
(H, W); a camera rarely changes size). The precision is never left to OpenVINO's defaults: on
CPUs with AMX or AVX512-BF16 its CPU plugin otherwise infers in bf16 even for an fp32 model
(shared/notes/CPU-SPEED.md), so ``INFERENCE_PRECISION_HINT`` is always set, and what the compiled
model reports back is what ``provider`` says. An int8 (QDQ) file runs its quantized convolutions
in int8 with the f32 hint for the rest, as the project's quantizer intends (SAM's MatMul/Softmax
stay fp32, ``quantize.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np

from .engines import OnnxGraphOutputs
from .onnx_export import read_onnx_meta

log = logging.getLogger(__name__)

# the precision hint each precision name sets; int8 files keep their non-quantized layers in f32
PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


def precision_name(element_type) -> str:
    """OpenVINO's element type as its short name: 'f32', 'bf16', 'f16'."""
    return element_type.to_string() if hasattr(element_type, "to_string") else str(element_type)


class OpenVinoEngine(OnnxGraphOutputs):
    """One ONNX file on OpenVINO's CPU plugin, compiled per network size.

    Args:
        path: the exported .onnx (its metadata is read and its weights hash checked).
        precision: "fp32", "bf16" (where the CPU has it; ``engine_options`` checks) or "int8"
            (``path`` is then an int8 file).
        threads: inference threads (the cores torch would use); latency hint, one stream.
    """

    backend = "openvino"

    def __init__(self, path: Path, precision: str, threads: int, confidence_every_frame: bool = False) -> None:
        import openvino as ov

        self.meta, info = read_onnx_meta(path)
        super().__init__(info, threads, confidence_every_frame)
        self.sam_direction = self.meta.arch_config.get("sam_direction", "vertical")
        self.path, self.precision, self.threads = Path(path), precision, threads
        self.hint = PRECISION_HINTS[precision]
        self._core = ov.Core()
        self._model = self._core.read_model(str(path))
        self._compiled: dict[tuple[int, int], tuple[object, object]] = {}
        self._lock = threading.Lock()  # an infer request runs one inference at a time
        self.compiles = 0
        self.inference_precision: str | None = None  # read back from the first compiled model

    @property
    def provider(self) -> str:
        ran = self.inference_precision or f"{self.hint} hint, not compiled yet"
        return f"openvino CPU {self.precision} (inference precision {ran}, {self.threads} threads)"

    def config(self) -> dict:
        return {
            "INFERENCE_PRECISION_HINT": self.hint,
            "INFERENCE_NUM_THREADS": self.threads,
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
        }

    def _request(self, height: int, width: int):
        key = (height, width)
        if key not in self._compiled:
            started = time.perf_counter()
            self._model.reshape({"input": [1, 3, height, width]})
            compiled = self._core.compile_model(self._model, "CPU", self.config())
            self.compiles += 1
            actual = precision_name(compiled.get_property("INFERENCE_PRECISION_HINT"))
            if actual != self.hint:  # the reported precision must be the precision run
                raise RuntimeError(
                    f"OpenVINO compiled {self.path.name} with inference precision {actual}, not the {self.hint} "
                    f"that precision {self.precision} asks for; use another precision or backend"
                )
            self.inference_precision = actual
            log.info(
                "openvino compiled %s for %dx%d in %.1f s: precision %s, inference precision %s, %d threads",
                self.path.name,
                height,
                width,
                time.perf_counter() - started,
                self.precision,
                actual,
                compiled.get_property("INFERENCE_NUM_THREADS"),
            )
            self._compiled[key] = (compiled, compiled.create_infer_request())
        return self._compiled[key]

    def _infer(self, x: np.ndarray) -> list[np.ndarray]:
        compiled, request = self._request(x.shape[2], x.shape[3])
        with self._lock:
            results = request.infer({0: x})
            return [np.array(results[out]) for out in compiled.outputs]

    def run(self, x: np.ndarray, with_attention: bool):
        self.check_attention(with_attention)
        if x.shape[0] != 1:
            raise ValueError(f"the openvino engine runs one frame at a time, got a batch of {x.shape[0]}")
        return self.labels(self._infer(x), x.shape[2:])

    def logits(self, x: np.ndarray) -> np.ndarray:
        self.check_logits()
        return self.full_logits(self._infer(x), x.shape[2:])
