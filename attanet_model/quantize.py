"""Static int8 quantization of an exported model for ONNX Runtime on the CPU.

QDQ format, per-channel int8 weights, uint8 activations calibrated (MinMax) on a handful of
real frames pre-processed exactly as the Segmenter does. SAM's affinity (the MatMul/Softmax
pair) and the final logits stay in fp32: quantizing the softmax inputs flips labels for
little gain, since the convolutions hold almost all the multiply-adds.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .atomic_write import write_bytes_atomic
from .checkpoint import ModelMeta
from .onnx_export import sealed_model_bytes
from .preprocess import check_image, network_size, normalize_bgr

log = logging.getLogger(__name__)

# Six synthetic street frames shipped for calibration when the user gives no folder of their own.
CALIBRATION_DIR = Path(__file__).parent / "assets" / "calibration"


def calibration_inputs(
    images: Iterable[np.ndarray], meta: ModelMeta, size: tuple[int, int] | None = None
) -> list[np.ndarray]:
    """Network inputs (1x3xHxW float32) for calibration frames, resized as at inference."""
    inputs = []
    for image in images:
        image = check_image(image)
        h, w = size or network_size(image.shape[0], image.shape[1], meta.input_scale, meta.input_size)
        resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
        inputs.append(normalize_bgr(resized, meta.mean, meta.std))
    if not inputs:
        raise ValueError("int8 calibration needs at least one frame")
    return inputs


@dataclass
class CalibrationSet:
    """The frames int8 calibration runs on, and the files that could not be used (path, reason)."""

    images: list[np.ndarray]
    paths: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def load_calibration(folder: str | Path, limit: int = 16) -> CalibrationSet:
    """Up to ``limit`` usable images (png/jpg) from a folder tree, sorted by path; unreadable or
    unusable files are skipped and named. ValueError when none is usable."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"calibration folder not found: {folder}")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    paths = [p for p in paths if "gtFine" not in p.parts]
    if not paths:
        raise ValueError(f"no .png/.jpg images under {folder} to calibrate int8 with")
    found = CalibrationSet([], [])
    for path in paths:
        if len(found.images) == limit:
            break
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        try:
            if image is None:
                raise ValueError("not a readable image (truncated, empty or another format)")
            found.images.append(check_image(image))
            found.paths.append(path)
        except ValueError as exc:
            found.skipped.append((path, str(exc)))
    if not found.images:
        named = "; ".join(f"{p}: {why}" for p, why in found.skipped[:3])
        raise ValueError(f"none of the {len(found.skipped)} images under {folder} can calibrate int8 ({named})")
    return found


def read_images(folder: str | Path, limit: int = 16) -> list[np.ndarray]:
    """Up to ``limit`` images (png/jpg) from a folder tree, sorted by path; ValueError naming any
    file that cannot be used."""
    found = load_calibration(folder, limit)
    if found.skipped:
        path, why = found.skipped[0]
        raise ValueError(f"calibration image {path} cannot be used: {why}")
    return found.images


WEIGHT_BITS = (8, 7)


@dataclass(frozen=True)
class Int8Recipe:
    """How the int8 copy is made. ``calibration``: how activation ranges are taken from the frames
    (``minmax``, ``percentile`` or ``entropy``, onnxruntime's calibrators); ``fp32_classifier``:
    the convolution that makes the class logits runs in fp32 (its quantized output rounds the
    logits themselves, flipping the labels of close pixels); ``fp32_first_conv``: the stem
    convolution runs in fp32 on the normalized image itself; ``weight_bits``: 8, or 7 for CPUs without
    VNNI/AMX-INT8 (``CpuCapabilities.int8_weight_bits``): there the runtimes' AVX2 int8 kernels add two
    u8 x s8 products in int16 and 8-bit weights saturate it (bundled model, AVX2-only AMD EPYC, labels vs
    fp32 at 512x1024: 99.35 % with 8-bit weights, 99.61 % with 7-bit, OpenVINO and ONNX Runtime alike)."""

    calibration: str = "minmax"
    fp32_classifier: bool = False
    fp32_first_conv: bool = False
    weight_bits: int = 8


def classifier_convs(model) -> list[str]:
    """Names of the Conv nodes whose output reaches the graph's outputs (labels/logits) through no
    other Conv: the classifier that makes the logits."""
    producer = {out: node for node in model.graph.node for out in node.output}
    found, seen = [], set()
    todo = [o.name for o in model.graph.output]
    while todo:
        node = producer.get(todo.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type == "Conv":
            found.append(node.name)
        else:
            todo.extend(i for i in node.input if i)
    return sorted(found)


def stem_nodes(model) -> list[str]:
    """Names of the nodes from the image to the first Conv(s) included (the stem, and a Pad before it)."""
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        if node.input and node.op_type != "Shape":  # follow the image's data, not its size
            consumers.setdefault(node.input[0], []).append(node)
    found, todo = set(), [i.name for i in model.graph.input]
    while todo:
        for node in consumers.get(todo.pop(), []):
            found.add(node.name)
            if node.op_type != "Conv":
                todo.extend(node.output)
    return sorted(found)


def quantize_int8(
    fp32_onnx: str | Path,
    out: str | Path,
    meta: ModelMeta,
    images: Iterable[np.ndarray],
    size: tuple[int, int] | None = None,
    recipe: Int8Recipe = Int8Recipe(),
) -> Path:
    """Write a QDQ int8 copy of ``fp32_onnx`` calibrated on ``images``; metadata is kept. The quantizer
    works in a temporary folder; ``out`` is written atomically (``OutputError`` when it cannot be)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    if recipe.calibration not in methods:
        raise ValueError(f"int8 calibration {recipe.calibration!r} is not one of {', '.join(methods)}")
    if recipe.weight_bits not in WEIGHT_BITS:
        raise ValueError(
            f"int8 weight bits must be one of {', '.join(map(str, WEIGHT_BITS))}, got {recipe.weight_bits}"
        )
    inputs = calibration_inputs(images, meta, size)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(inputs)

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {"input": x}

    out = Path(out)
    model = onnx.load(str(fp32_onnx))
    keep_fp32 = [n.name for n in model.graph.node if n.op_type in ("Softmax", "MatMul", "Resize")]
    keep_fp32 += classifier_convs(model) if recipe.fp32_classifier else []
    keep_fp32 += stem_nodes(model) if recipe.fp32_first_conv else []
    with tempfile.TemporaryDirectory() as tmp:
        prepared, quantized_path = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(fp32_onnx), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(quantized_path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=recipe.weight_bits == 7,  # symmetric weights in [-64, 64]; activations stay 8-bit
            nodes_to_exclude=keep_fp32,
            calibrate_method=methods[recipe.calibration],
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
        quantized = onnx.load(str(quantized_path))
    del quantized.metadata_props[:]
    quantized.metadata_props.extend(model.metadata_props)
    write_bytes_atomic(out, sealed_model_bytes(quantized))  # a new hash: the graph and weights are new
    log.info("int8 model written to %s (calibrated on %d frames, %s)", out, len(inputs), recipe)
    return out
