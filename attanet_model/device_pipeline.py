"""The whole frame path as torch ops on one device: the GPU fast path.

uint8 BGR frames on the host -> pinned staging buffer -> asynchronous upload -> resize and
normalize on the device -> network (fp16/bf16, channels_last) -> argmax + confidence ->
nearest resize of the labels to the output size on the device -> uint8 download. The sizes
come from a ``SizePlan`` per frame shape (``preprocess.size_plan``). On CUDA the
fixed-shape part can be captured once per input shape as a CUDA graph and replayed, which
removes the per-kernel launch cost that dominates a ~1 ms network.

Everything but the graph capture runs on the CPU as well, so the logic is tested there; the
CPU Segmenter keeps its OpenCV path, which is faster on a CPU.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .engine_options import PRECISIONS, torch_dtype
from .layers import fold_batchnorm
from .network import AttaNet
from .onnx_export import labels_and_confidence
from .preprocess import SizePlan


class ShapeCache:
    """A small LRU of per-shape state (CUDA graphs, pinned buffers): a camera rarely changes size,
    but a multi-camera node sees a few, and a stream of odd sizes must not grow memory."""

    def __init__(self, build: Callable[[Hashable], Any], capacity: int = 4) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self._build, self.capacity = build, capacity
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self.builds = 0

    def get(self, key: Hashable) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = self._build(key)
        self.builds += 1
        self._items[key] = value
        if len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items


def capture_cuda_graph(fn: Callable[[], Any], warmup: int = 3) -> tuple[torch.cuda.CUDAGraph, Any]:
    """(graph, outputs) of ``fn`` captured as one CUDA graph; ``graph.replay()`` reruns it on
    whatever its input tensors then hold and refreshes ``outputs`` in place. The warm-up calls run
    on a side stream first, so cudnn autotuning and lazy allocations stay out of the capture."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.inference_mode():
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.inference_mode():
        outputs = fn()
    return graph, outputs


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def inductor_mode(mode: str, own_graphs: bool) -> str:
    """The torch.compile mode to use: Inductor's own CUDA graphs are left out when the caller
    captures the compiled function in its graph (graphs inside a capture cannot work)."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile mode {mode!r} is not one of {', '.join(COMPILE_MODES)}")
    if own_graphs and mode in ("reduce-overhead", "max-autotune"):
        return "default" if mode == "reduce-overhead" else "max-autotune-no-cudagraphs"
    return mode


class DevicePipeline:
    """Frames (B x H x W x 3 uint8 BGR, numpy) -> labels (B x h x w uint8) and confidence on ``device``.

    ``plan``: frame (H, W) -> its ``SizePlan``: the network size the frame is resized to and the
    output size (h, w) the labels are resized to (e.g. ``lambda h, w: size_plan((h, w), 0.5)``).
    ``cuda_graphs`` replays a captured graph per input
    shape (CUDA only; ignored elsewhere). ``confidence=False`` skips the softmax confidence (its
    computation, resize and 4-byte-per-pixel download): labels only, the fastest path.
    ``compile_mode`` (None, "default", "max-autotune", ...) runs ``forward`` through
    ``torch.compile`` (pre-processing, network, argmax and resize fused where Inductor can),
    compiled once per input shape on first use; with ``cuda_graphs`` the compiled kernels are
    what the graph captures ("max-autotune" then becomes "max-autotune-no-cudagraphs": the
    pipeline's own graphs, not Inductor's). Compiling takes tens of seconds.
    """

    def __init__(
        self,
        model: AttaNet,
        mean,
        std,
        plan: Callable[[int, int], SizePlan],
        device: str = "cpu",
        precision: str = "fp32",
        cuda_graphs: bool = False,
        confidence: bool = True,
        compile_mode: str | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r} is not supported; choose one of {', '.join(PRECISIONS)}")
        self.device = torch.device(device)
        self.dtype = torch_dtype(precision)
        if self.device.type == "cpu" and self.dtype == torch.float16:
            raise ValueError("fp16 needs a CUDA device; on the CPU use fp32 or bf16")
        self.cuda = self.device.type == "cuda"
        # BatchNorm folded into the convolutions in fp32, then cast (in place: the caller's model)
        self.model = fold_batchnorm(model.eval()).to(self.device, self.dtype)
        if self.cuda:
            self.model = self.model.to(memory_format=torch.channels_last)
            torch.backends.cudnn.benchmark = True  # fixed shapes: autotune each convolution once
        std_t = torch.tensor(std, dtype=torch.float32)
        # RGB order; the BGR->RGB flip happens by indexing before the affine normalize.
        self.scale = (1.0 / (255.0 * std_t)).view(1, 3, 1, 1).to(self.device)
        self.shift = (torch.tensor(mean, dtype=torch.float32) / std_t).view(1, 3, 1, 1).to(self.device)
        self.plan = plan
        self.use_graphs = cuda_graphs and self.cuda
        self.with_confidence = confidence
        self.zero_copy_calls = 0  # calls whose frames already were the input_buffer()
        self.compute = self.forward
        self.compile_mode = compile_mode
        if compile_mode is not None:
            mode = inductor_mode(compile_mode, self.use_graphs)
            self.compute = torch.compile(self.forward, mode=mode, dynamic=False)
        self.staging = ShapeCache(self._make_staging)
        self.graphs = ShapeCache(self._capture) if self.use_graphs else None

    def input_buffer(self, shape: tuple[int, ...]) -> np.ndarray:
        """The (pinned, on CUDA) host buffer that frames of ``shape`` (B x H x W x 3, or H x W x 3)
        are uploaded from. Decode or copy a frame straight into it and pass the buffer itself:
        the pipeline then skips its own host copy of the frame (about 6 MB at 1024x2048)."""
        shape = tuple(shape)
        if len(shape) == 3:
            return self.input_buffer((1, *shape))[0]
        if len(shape) != 4 or shape[3] != 3:
            raise ValueError(f"frame shape must be B x H x W x 3 or H x W x 3, got {shape}")
        return self.staging.get(shape)["frames"].numpy()

    # -- per-shape state ---------------------------------------------------------------------
    def _make_staging(self, shape: tuple[int, ...]) -> dict[str, torch.Tensor]:
        b, h, w, _ = shape
        plan = self.plan(h, w)
        if not isinstance(plan, SizePlan):
            raise TypeError(
                f"plan({h}, {w}) must return a SizePlan (see attanet_model.preprocess.size_plan), "
                f"got {type(plan).__name__} {plan!r}"
            )
        out_h, out_w = plan.output_hw
        pin = self.cuda
        staging = {
            "frames": torch.empty(shape, dtype=torch.uint8, pin_memory=pin),
            "labels": torch.empty((b, out_h, out_w), dtype=torch.uint8, pin_memory=pin),
        }
        if self.with_confidence:
            staging["confidence"] = torch.empty((b, out_h, out_w), dtype=torch.float32, pin_memory=pin)
        return staging

    def _capture(self, shape: tuple[int, ...]):
        static_in = torch.zeros(shape, dtype=torch.uint8, device=self.device)
        graph, static_out = capture_cuda_graph(lambda: self.compute(static_in))
        return graph, static_in, static_out

    # -- the device-side computation ----------------------------------------------------------
    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """B x H x W x 3 uint8 BGR on the device -> (B x h x w uint8 labels, float32 confidence or
        None when the pipeline was made with ``confidence=False``), (h, w) the plan's output size."""
        _, h, w, _ = frames.shape
        plan = self.plan(h, w)
        x = frames.permute(0, 3, 1, 2).flip(1).float()  # BGR -> RGB, NCHW (no index tensor: graph-safe)
        if plan.resizes_input:
            x = F.interpolate(x, size=plan.network_hw, mode="bilinear", align_corners=False)
        x = (x * self.scale - self.shift).to(self.dtype)
        if self.cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = self.model(x).logits  # only tensors leave forward (CUDA graphs, torch.compile)
        if self.with_confidence:
            labels, confidence = labels_and_confidence(logits.float())
        else:  # argmax straight on the half-precision logits: the cast is monotonic
            labels, confidence = logits.argmax(1).to(torch.uint8), None
        if plan.resizes_output:
            out_hw = plan.output_hw
            labels = F.interpolate(labels[:, None], size=out_hw, mode="nearest")[:, 0]
            if confidence is not None:
                confidence = F.interpolate(confidence[:, None], size=out_hw, mode="bilinear", align_corners=False)
                confidence = confidence[:, 0]
        return labels, confidence

    @torch.inference_mode()
    def __call__(self, frames: np.ndarray, copy: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels (and confidence) of ``frames`` on the host. ``copy=False`` returns views of the
        pipeline's own (pinned) output buffers instead of fresh arrays, saving a host copy (2 MB of
        labels at 1024x2048): they hold this call's result until the next call with frames of the
        same shape overwrites them."""
        if frames.ndim == 3:
            labels, confidence = self(frames[None], copy)
            return labels[0], None if confidence is None else confidence[0]
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
            raise ValueError(f"frames must be B x H x W x 3 uint8 BGR, got {frames.dtype} {frames.shape}")
        shape = tuple(frames.shape)
        staging = self.staging.get(shape)
        host = staging["frames"].numpy()
        if frames.__array_interface__["data"][0] == host.__array_interface__["data"][0]:
            self.zero_copy_calls += 1  # the caller wrote into input_buffer(): no host copy
        else:
            host[...] = frames
        if self.graphs is not None:
            graph, static_in, (static_labels, static_conf) = self.graphs.get(shape)
            static_in.copy_(staging["frames"], non_blocking=True)  # upload straight into the graph's input
            graph.replay()
            labels, confidence = static_labels, static_conf
        else:
            labels, confidence = self.compute(staging["frames"].to(self.device, non_blocking=True))
        staging["labels"].copy_(labels, non_blocking=True)
        if confidence is not None:
            staging["confidence"].copy_(confidence, non_blocking=True)
        if self.cuda:
            torch.cuda.current_stream().synchronize()
        labels_out = staging["labels"].numpy()
        confidence_out = None if confidence is None else staging["confidence"].numpy()
        if copy:
            labels_out = labels_out.copy()
            confidence_out = None if confidence_out is None else confidence_out.copy()
        return labels_out, confidence_out
