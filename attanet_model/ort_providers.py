"""Which ONNX Runtime execution providers run the network, with which options; no silent fallback.

``device="cuda"`` asks for TensorRT, then CUDA, then CPU (ONNX Runtime gives each graph node to
the first provider in the list that can run it; CPU stays last for the few nodes the GPU
providers refuse). TensorRT builds an engine per input-shape profile, which takes minutes for a
large frame; the engine and its timing cache are kept in a folder (``trt_cache``) so that only
``attanet export --trt-cache DIR --sizes ...`` on the target machine pays for the build and the
node then loads the engines at start-up.

Everything here is a pure function of (what is installed, what was asked for), so it is tested
without a GPU; ``check_session_providers`` compares the request with what the created session
actually runs (``InferenceSession.get_providers()``): ONNX Runtime itself falls back to the CPU
with only a log line when a GPU provider cannot load (e.g. TensorRT libraries missing).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

TENSORRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"
GPU_PROVIDERS = (TENSORRT, CUDA)
PROFILE_FILE = "attanet_trt_profile.json"  # the input shapes the cached engines were built for


class ProviderError(ValueError):
    """The providers asked for cannot run here; the message says what is missing and what to do."""


@dataclass(frozen=True)
class ProviderRequest:
    """What the user asked for.

    Args:
        device: "cpu" or "cuda".
        precision: "fp32" or "fp16" (fp16 is TensorRT's; the CUDA provider runs the fp32 graph).
        cache_dir: TensorRT engine + timing cache folder.
        allow_fallback: with a GPU provider missing, run on what is installed instead of failing.
        input_shapes: NCHW network input shapes to build TensorRT engines for (one profile
            spanning them); empty = TensorRT builds for the first frame's shape.
    """

    device: str
    precision: str = "fp32"
    cache_dir: Path | None = None
    allow_fallback: bool = False
    input_shapes: tuple[tuple[int, int, int, int], ...] = ()


@dataclass(frozen=True)
class ProviderPlan:
    providers: list  # for InferenceSession(providers=...): names or (name, options)
    warnings: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [p[0] if isinstance(p, tuple) else p for p in self.providers]


def default_cache_dir(model_path: Path) -> Path:
    """Beside the model, hidden: ``<folder>/.<stem>.trt-cache``."""
    return model_path.parent / f".{model_path.stem}.trt-cache"


def tensorrt_options(precision: str, cache_dir: Path, input_shapes=()) -> dict:
    """TensorRT provider options: fp16 when asked, engine and timing caches in ``cache_dir``,
    and an explicit shape profile when ``input_shapes`` are given (min/max over them, opt the
    first), so the cached engine covers every camera size and is not rebuilt for a new one."""
    options = {
        "trt_fp16_enable": precision == "fp16",
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache_dir),
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(cache_dir),
    }
    if input_shapes:
        lo = [min(s[i] for s in input_shapes) for i in range(4)]
        hi = [max(s[i] for s in input_shapes) for i in range(4)]
        options["trt_profile_min_shapes"] = "input:" + "x".join(map(str, lo))
        options["trt_profile_max_shapes"] = "input:" + "x".join(map(str, hi))
        options["trt_profile_opt_shapes"] = "input:" + "x".join(map(str, input_shapes[0]))
    return options


def provider_plan(available: list[str], request: ProviderRequest) -> ProviderPlan:
    """The providers (with options) for ``request`` given the installed ``available`` ones.

    Raises ProviderError when a GPU provider is asked for and missing, unless ``allow_fallback``.
    """
    if request.device == "cpu":
        return ProviderPlan([CPU])
    if request.device != "cuda":
        raise ProviderError(f"device {request.device!r} is not supported; choose cpu or cuda")
    missing = [p for p in GPU_PROVIDERS if p not in available]
    providers: list = []
    if TENSORRT in available:
        if request.cache_dir is None:
            raise ProviderError("TensorRT needs an engine cache folder; set trt_cache")
        providers.append((TENSORRT, tensorrt_options(request.precision, request.cache_dir, request.input_shapes)))
    if CUDA in available:
        providers.append((CUDA, {"cudnn_conv_algo_search": "EXHAUSTIVE"}))
    warnings: list[str] = []
    if missing:
        message = (
            f"device 'cuda' asks onnxruntime for {' and '.join(GPU_PROVIDERS)}, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed (installed: {', '.join(available)})"
        )
        if not request.allow_fallback:
            raise ProviderError(
                message + "; install onnxruntime-gpu (`make install GPU=1`) and TensorRT, or set allow_fallback: true"
            )
        warnings.append(message + "; allow_fallback is set, running on " + (providers[0][0] if providers else CPU))
    if request.precision == "fp16" and TENSORRT not in available:
        message = "precision fp16 needs TensorRT; the CUDA provider runs the fp32 graph"
        if not request.allow_fallback:
            raise ProviderError(message + "; use precision fp32, install TensorRT, or set allow_fallback: true")
        warnings.append(message)
    return ProviderPlan([*providers, CPU], tuple(warnings))


def check_session_providers(requested: list[str], actual: list[str], allow_fallback: bool) -> list[str]:
    """Warnings for GPU providers the session dropped, or ProviderError without ``allow_fallback``.

    ``requested``: the plan's provider names; ``actual``: ``session.get_providers()``.
    """
    dropped = [p for p in requested if p in GPU_PROVIDERS and p not in actual]
    if not dropped:
        return []
    message = (
        f"ONNX Runtime could not start {', '.join(dropped)} (it runs {', '.join(actual)}); its log above "
        "says why (often a missing CUDA/cuDNN/TensorRT library)"
    )
    if not allow_fallback:
        raise ProviderError(message + "; fix the installation, or set allow_fallback: true")
    return [message + "; allow_fallback is set"]


def prepare_cache_dir(path: Path) -> Path:
    """Create the cache folder (and parents); ProviderError when that is impossible or it is not writable."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ProviderError(f"TensorRT cache {path} is a file, not a folder; give a folder for trt_cache")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProviderError(f"cannot create the TensorRT cache folder {path}: {exc.strerror}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise ProviderError(f"TensorRT cache folder {path} is not writable; choose another trt_cache")
    return path


def write_profile(cache_dir: Path, input_shapes: list[tuple[int, int, int, int]]) -> Path:
    """Record the shapes the engines in ``cache_dir`` were built for (read back by ``read_profile``)."""
    path = Path(cache_dir) / PROFILE_FILE
    path.write_text(json.dumps({"input_shapes": [list(s) for s in input_shapes]}))
    return path


def read_profile(cache_dir: Path) -> tuple[tuple[int, int, int, int], ...]:
    """The shapes ``attanet export --trt-cache`` built engines for; () when it has not run there.

    The node must ask TensorRT for the same profile, or the cached engines do not match and
    TensorRT builds again at start-up.
    """
    path = Path(cache_dir) / PROFILE_FILE
    if not path.is_file():
        return ()
    try:
        shapes = json.loads(path.read_text())["input_shapes"]
        return tuple(tuple(int(v) for v in s) for s in shapes if len(s) == 4)
    except (ValueError, KeyError, TypeError) as exc:
        raise ProviderError(f"{path} is not a valid TensorRT profile record ({exc}); delete it and rebuild") from exc
