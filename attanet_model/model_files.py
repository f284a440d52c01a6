"""The ONNX file a backend runs, for any model file the user gives: exported or quantized once, cached.

ONNX Runtime and OpenVINO run ONNX graphs; a user who passes a checkpoint (the bundled model
included) expects them to work anyway. The first use exports the checkpoint exactly as
``attanet export --argmax`` does: for the CPU a graph ending at the coarse logits (the label head,
``head.py``, does the rest), for CUDA one ending with the full-size argmax (``--head graph``). Each
format has its own file name (``GRAPH_FILES``), so an export cached in another format (older
versions cached the full-size one as ``model.onnx``) is never handed back. For int8 it quantizes
that file as ``attanet export --int8`` does, calibrated on the bundled frames, with the weight width
this CPU's int8 kernels need (``int8_weight_bits``: 7 without VNNI/AMX-INT8, each width its own
file). The cache folder is
named after the SHA-256 of the source file, so an edited or replaced checkpoint never reuses a
stale export. Files are written under a temporary name and renamed, so two processes starting at
once never read half a file.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

INT8_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearConv", "ConvInteger", "MatMulInteger"})


# the cached export of each graph format (onnx_export.GRAPH_OUTPUTS); names carry the format
GRAPH_FILES = {True: "model.coarse_logits.onnx", False: "model.labels.onnx"}


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/attanet`` (``~/.cache/attanet``): derived model files and auto-backend choices."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "attanet"


def model_file_meta(path: str | Path):
    """The ModelMeta of a checkpoint or .onnx file, with its integrity checked, without building the
    network: for tools that must refuse a bad model file before they start anything else."""
    path = Path(path)
    if path.suffix == ".onnx":
        from .onnx_export import read_onnx_meta

        return read_onnx_meta(path)[0]
    from .checkpoint import ModelMeta, read_checkpoint

    return ModelMeta.from_dict(read_checkpoint(path)["meta"])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def is_int8_onnx(path: Path) -> bool:
    """Whether an ONNX graph is quantized (QDQ or integer operators), i.e. runs int8 wherever it runs."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return any(node.op_type in INT8_OPS for node in graph.node)


def int8_weight_bits(path: Path) -> int:
    """7 when every int8 tensor of a quantized graph lies in [-64, 64] (``Int8Recipe(weight_bits=7)``), else 8."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path), load_external_data=False).graph
    widest = max(
        (
            int(abs(numpy_helper.to_array(t).astype(np.int16)).max(initial=0))
            for t in graph.initializer
            if t.data_type == onnx.TensorProto.INT8
        ),
        default=0,
    )
    return 7 if widest <= 64 else 8


def int8_sibling(onnx_path: Path) -> Path:
    """Where ``attanet export --int8`` writes the int8 model of ``out.onnx``: ``out.int8.onnx``."""
    return onnx_path.with_suffix(".int8.onnx")


@dataclass
class ModelFiles:
    """The files derived from one model file (a checkpoint or an .onnx), made on first need.

    Args:
        source: what the user gave.
        cache_dir: where exports and int8 copies go (``<cache_dir>/<sha256 prefix>/``).
        int8_weight_bits: the weight width of an int8 copy made here (``CpuCapabilities.int8_weight_bits``).
    """

    source: Path
    cache_dir: Path
    int8_weight_bits: int = 8

    def __post_init__(self) -> None:
        self.source = Path(self.source)
        self.cache_dir = Path(self.cache_dir)
        self._width_checked: set[Path] = set()

    @property
    def is_onnx(self) -> bool:
        return self.source.suffix == ".onnx"

    @functools.cached_property
    def sha256(self) -> str:
        return file_sha256(self.source)

    @functools.cached_property
    def source_is_int8(self) -> bool:
        return self.is_onnx and is_int8_onnx(self.source)

    @functools.cached_property
    def meta(self):
        """The source's ModelMeta, its integrity checked (once)."""
        return model_file_meta(self.source)

    def folder(self) -> Path:
        return self.cache_dir / self.sha256[:16]

    def onnx(self, int8: bool = False, coarse: bool = True) -> Path:
        """The fp32 (``int8=False``) or int8 ONNX model of the source, made now if it is not there yet.
        ``coarse``: a checkpoint's export ends at the coarse logits (CPU engines), else at the full-size
        labels (CUDA); an .onnx source is run as it is, whatever its graph ends with."""
        if self.is_onnx:
            if self.source_is_int8:
                if not int8:
                    raise ValueError(
                        f"{self.source} is an int8 model; it cannot run in fp32 or bf16: use precision int8 (or auto),"
                        " or the fp32 .onnx it was quantized from"
                    )
                return self._checked_width(self.source)
            if not int8:
                return self.source
            sibling = int8_sibling(self.source)
            return self._checked_width(sibling) if sibling.is_file() else self._cached_int8(self.source)
        fp32 = self._cached_fp32(coarse)
        return self._cached_int8(fp32) if int8 else fp32

    def _checked_width(self, int8_file: Path) -> Path:
        """``int8_file``, said in the log once when its weights are wider than this CPU's int8 kernels take
        without saturating (8-bit weights on a CPU without VNNI: labels stray further from fp32 than they need to)."""
        if int8_file in self._width_checked:
            return int8_file
        self._width_checked.add(int8_file)
        if self.int8_weight_bits == 8:
            return int8_file
        try:
            bits = int8_weight_bits(int8_file)
        except Exception:  # a damaged file: the runtime's loader names what is wrong with it, not this check
            return int8_file
        if bits > self.int8_weight_bits:
            log.warning(
                "%s has 8-bit int8 weights, but this CPU has no VNNI/AMX-INT8: its int8 kernels add pairs of products "
                "in int16, which such weights can saturate, so labels may differ from fp32 more than they need to; "
                "re-export it with `attanet export --int8 --int8-weight-bits 7` for this CPU",
                int8_file,
            )
        return int8_file

    def _cached_fp32(self, coarse: bool) -> Path:
        out = self.folder() / GRAPH_FILES[coarse]
        if not out.is_file():
            from .checkpoint import load_checkpoint
            from .onnx_export import export_onnx

            model, meta, _ = load_checkpoint(self.source)
            log.info("exporting %s to ONNX once for ONNX Runtime/OpenVINO (cached in %s)", self.source, out.parent)
            output = "coarse_logits" if coarse else "labels"
            self._write(out, lambda tmp: export_onnx(model, meta, tmp, output=output))
        return out

    def _cached_int8(self, fp32: Path) -> Path:
        bits = self.int8_weight_bits
        out = fp32.with_suffix(".int8.onnx" if bits == 8 else f".int8w{bits}.onnx")
        if not out.is_file():
            from .onnx_export import read_onnx_meta
            from .quantize import CALIBRATION_DIR, Int8Recipe, quantize_int8, read_images

            meta, _ = read_onnx_meta(fp32)
            # calibrated as `attanet export --int8` does: each frame at its own network size. Calibrating
            # at a 1024x2048 camera's 512x1024 instead was measured worse (bundled model: 99.16 % vs
            # 99.50 % agreement with fp32 at 256x512, 99.71 % vs 99.74 % at 512x1024).
            log.info(
                "quantizing %s to int8 (%d-bit weights) once, calibrated on the bundled frames (cached in %s; for "
                "your camera, `attanet export --int8 --calib DIR` and pass the .int8.onnx)",
                self.source,
                bits,
                out.parent,
            )
            recipe = Int8Recipe(weight_bits=bits)
            self._write(out, lambda tmp: quantize_int8(fp32, tmp, meta, read_images(CALIBRATION_DIR), recipe=recipe))
        return out

    @staticmethod
    def _write(out: Path, make) -> None:
        """``make(tmp)`` writes the file; it becomes ``out`` only once complete."""
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.{os.getpid()}.partial.onnx")
        started = time.perf_counter()
        try:
            make(tmp)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        log.info("wrote %s in %.1f s", out, time.perf_counter() - started)
