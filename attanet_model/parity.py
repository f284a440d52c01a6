"""Torch vs ONNX Runtime agreement of an exported model, and int8 vs fp32 agreement of its quantized copy."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from .auto_backend import label_agreement
from .engines import padded_size
from .head import LabelHead, requested_kind
from .network import AttaNet
from .onnx_export import ExportGraph

# Sizes other than the export sample (256x512), two of them not multiples of 32.
PARITY_SIZES = ((192, 384), (300, 500), (512, 1024))


@torch.inference_mode()
def onnx_parity(model: AttaNet, onnx_path: str | Path, sizes=PARITY_SIZES, seed: int = 0) -> dict:
    """Fraction of pixels whose labels agree, and the largest logit difference, per size."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    output = [o.name for o in session.get_outputs()][0]
    argmax = output in ("labels", "coarse_logits")
    head = LabelHead(torch.get_num_threads(), requested_kind()) if output == "coarse_logits" else None
    graph = ExportGraph(model.eval().float(), argmax=False)
    rng = np.random.default_rng(seed)
    report = {}
    for h, w in sizes:
        x = rng.standard_normal((1, 3, h, w)).astype(np.float32)
        reference = graph(torch.from_numpy(x)).numpy()
        out = session.run(None, {"input": x})
        if head is not None:
            labels = head.labels(out[0][0], padded_size((h, w)), (h, w))[None]
        else:
            labels = out[0] if argmax else out[0].argmax(1)
        entry = {"label_agreement": float((labels == reference.argmax(1)).mean())}
        if not argmax:
            entry["max_abs_logit_diff"] = float(np.abs(out[0] - reference).max())
        report[f"{h}x{w}"] = entry
    return report


def int8_label_agreement(fp32_onnx: str | Path, int8_onnx: str | Path, images: Iterable[np.ndarray]) -> float:
    """Fraction of pixels on which the int8 model gives the fp32 model's label, at the deployment setting."""
    from .segmenter import Segmenter

    fp32 = Segmenter(fp32_onnx, backend="onnxruntime", precision="fp32")
    int8 = Segmenter(int8_onnx, backend="onnxruntime", precision="int8")
    return segmenter_agreement(fp32, int8, images)


def segmenter_agreement(a, b, images: Iterable[np.ndarray]) -> float:
    """Fraction of pixels, over ``images``, on which segmenters ``a`` and ``b`` give the same label."""
    pairs = [(a.segment(image).labels, b.segment(image).labels) for image in images]
    return label_agreement([x for x, _ in pairs], [y for _, y in pairs])
