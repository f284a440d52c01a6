"""Every parameter of the ``attanet`` node in one table: name, default, meaning, and its check.

ROS-free on purpose: the node declares parameters from ``PARAMETERS`` and turns their values into
``NodeSettings`` with ``settings_from_values``; tests and ``config/attanet.yaml`` read the same
table, so a parameter cannot exist in one place and not the other.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from attanet_model.engine_options import BACKENDS, DEVICES, PRECISIONS, engine_problems
from attanet_model.preprocess import OUTPUT_SIZES

OUTPUTS = ("labels", "color", "overlay", "confidence", "attention")
MODES = ("live", "replay")


class ParamError(ValueError):
    """A parameter value the node cannot run with; the message names it, the value and what is allowed."""


def _range(lo: float, hi: float) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if lo <= value <= hi else f"must be in [{lo}, {hi}]"

    return check


def _at_least(lo: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value >= lo else f"must be >= {lo}"

    return check


def _outputs(value: Any) -> str | None:
    unknown = [v for v in value if v not in OUTPUTS]
    return f"has unknown output(s) {unknown}; choose from {list(OUTPUTS)}" if unknown else None


def _camera_names(value: Any) -> str | None:
    # each name becomes a topic namespace (<name>/image, ~/<name>/labels): one ROS name token
    bad = [v for v in value if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", v)]
    if bad:
        return f"has invalid camera name(s) {bad}; use letters, digits and _ (starting with a letter)"
    repeated = sorted({v for v in value if list(value).count(v) > 1})
    return f"names camera(s) {repeated} more than once" if repeated else None


def _network_side(value: Any) -> str | None:
    return (
        None if value == 0 or (value > 0 and value % 32 == 0) else "must be 0 (by scale) or a positive multiple of 32"
    )


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any  # its Python type is the ROS parameter type (bool, int, float, str, list[str])
    description: str
    choices: tuple[str, ...] = ()
    check: Callable[[Any], str | None] | None = None  # returns why a value is wrong, None if fine
    dynamic: bool = False  # may change while the node runs

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable for this parameter, or None."""
        if self.choices and value not in self.choices:
            return f"must be one of {list(self.choices)}"
        return self.check(value) if self.check else None


PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("model_path", "", "attanet checkpoint (.pt) or exported .onnx; empty = the bundled model"),
    ParamSpec(
        "backend",
        "auto",
        "inference backend; auto = the fastest installed on this CPU (measured once, cached; torch on cuda, and "
        "torch when outputs has 'attention')",
        choices=BACKENDS,
    ),
    ParamSpec("device", "cpu", "where the network runs", choices=DEVICES),
    ParamSpec(
        "precision",
        "auto",
        "network precision; auto = the fastest whose labels agree with fp32 (fp32 on cuda); fp16 needs cuda",
        choices=PRECISIONS,
    ),
    ParamSpec("cuda_graphs", True, "torch + cuda: replay one captured CUDA graph per frame size (ignored elsewhere)"),
    ParamSpec(
        "torch_compile",
        "",
        "torch + cuda: torch.compile mode for the frame path; empty = eager",
        choices=("", "default", "max-autotune"),
    ),
    ParamSpec("network_scale", 0.0, "frame -> network size factor; 0 = the model's (0.5)", check=_range(0, 4)),
    ParamSpec("network_height", 0, "fixed network input height (multiple of 32); 0 = by scale", check=_network_side),
    ParamSpec("network_width", 0, "fixed network input width (multiple of 32); 0 = by scale", check=_network_side),
    ParamSpec("output_resolution", "input", "labels at camera or network size", choices=OUTPUT_SIZES),
    ParamSpec("outputs", ["labels", "color", "overlay", "confidence"], "outputs to advertise", check=_outputs),
    ParamSpec("overlay_alpha", 0.5, "weight of the class colours in ~/overlay", check=_range(0, 1), dynamic=True),
    ParamSpec("confidence_threshold", 0.0, "max softmax below this -> label 255", check=_range(0, 1), dynamic=True),
    ParamSpec("attention_column", -1, "~/attention: image column x; -1 = centre", check=_at_least(-1), dynamic=True),
    ParamSpec("attention_row", -1, "~/attention: pixel row y; -1 = the whole strip", check=_at_least(-1), dynamic=True),
    ParamSpec("mode", "live", "live: newest frame only; replay: every frame in order", choices=MODES),
    ParamSpec("replay_queue", 8, "replay: frames buffered before the input callback blocks", check=_at_least(1)),
    ParamSpec("input_reliability", "best_effort", "live input QoS reliability", choices=("best_effort", "reliable")),
    ParamSpec("input_depth", 5, "live input QoS history depth", check=_range(1, 1000)),
    ParamSpec("subscribe_compressed", False, "also subscribe to image/compressed (jpeg/png)"),
    ParamSpec("diagnostics_period", 1.0, "seconds between /diagnostics messages", check=_range(0.05, 3600)),
    ParamSpec("log_throttle_period", 5.0, "seconds between repeated bad-input log lines", check=_range(0, 3600)),
    ParamSpec("warmup", True, "run one frame through the network at start-up so the first camera frame is not slow"),
    ParamSpec(
        "warmup_height",
        0,
        "warm-up frame height: the camera's, so CUDA graphs/compile happen at start and backend auto decides at "
        "its size (else at a 1024x2048 frame's); 0 = 256",
        check=_at_least(0),
    ),
    ParamSpec("warmup_width", 0, "warm-up frame width; 0 = 512", check=_at_least(0)),
    ParamSpec(
        "cameras",
        [],
        "several cameras, one model: names; each reads <name>/image, publishes ~/<name>/...; empty = image",
        check=_camera_names,
    ),
    ParamSpec(
        "camera_stale_after", 2.0, "seconds without a frame before a camera is reported stale", check=_range(0.1, 3600)
    ),
    ParamSpec("trt_cache", "", "onnxruntime + cuda: TensorRT engine/timing cache folder; empty = beside the model"),
    ParamSpec("allow_fallback", False, "onnxruntime + cuda: run on what is installed when a GPU provider is missing"),
)

SPECS: dict[str, ParamSpec] = {spec.name: spec for spec in PARAMETERS}


@dataclass(frozen=True)
class NodeSettings:
    """The node's parameters, checked; dynamic ones are replaced by ``with_update``."""

    model_path: str
    backend: str
    device: str
    precision: str
    cuda_graphs: bool
    torch_compile: str
    network_scale: float
    network_height: int
    network_width: int
    output_resolution: str
    outputs: tuple[str, ...]
    overlay_alpha: float
    confidence_threshold: float
    attention_column: int
    attention_row: int
    mode: str
    replay_queue: int
    input_reliability: str
    input_depth: int
    subscribe_compressed: bool
    diagnostics_period: float
    log_throttle_period: float
    warmup: bool
    warmup_height: int
    warmup_width: int
    cameras: tuple[str, ...]
    camera_stale_after: float
    trt_cache: str
    allow_fallback: bool

    @property
    def warmup_shape(self) -> tuple[int, int, int]:
        """The start-up frame (H, W, 3): the camera's size when given (CUDA graphs and torch.compile
        are per frame size, so the first camera frame then finds them ready), else 256 x 512."""
        return (self.warmup_height or 256, self.warmup_width or 512, 3)

    @property
    def camera_hw(self) -> tuple[int, int] | None:
        """The camera's frame size when the warm-up names it (both sides given), else None."""
        return (self.warmup_height, self.warmup_width) if self.warmup_height and self.warmup_width else None

    @property
    def network_size(self) -> tuple[int, int] | None:
        return (self.network_height, self.network_width) if self.network_height else None

    def with_update(self, name: str, value: Any) -> NodeSettings:
        """A copy with one dynamic parameter changed; ParamError says why a value is refused."""
        reason = update_problem(name, value)
        if reason:
            raise ParamError(reason)
        return NodeSettings(**{**self.__dict__, name: _coerce(SPECS[name], value)})


def _coerce(spec: ParamSpec, value: Any) -> Any:
    if isinstance(spec.default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(spec.default, list):
        return tuple(value)
    return value


def _type_problem(spec: ParamSpec, value: Any) -> str | None:
    want = type(spec.default)
    ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if want is list:
        ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    kind = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(want, "a list of strings")
    return None if ok else f"must be {kind}, got {value!r}"


def value_problem(name: str, value: Any) -> str | None:
    """Why ``value`` is not acceptable for parameter ``name`` (its type, allowed values, range), or None."""
    spec = SPECS[name]
    return _type_problem(spec, value) or spec.problem(value)


def update_problem(name: str, value: Any) -> str | None:
    """Why the node refuses to set ``name`` to ``value`` at run time, or None if it accepts it."""
    spec = SPECS.get(name)
    if spec is None:
        return f"unknown parameter {name!r}"
    if not spec.dynamic:
        return f"{name} is fixed at start-up; restart the node (with --params-file) to change it"
    reason = value_problem(name, value)
    return f"{name}={value!r} {reason}" if reason else None


def settings_from_values(values: dict[str, Any]) -> NodeSettings:
    """Check every parameter value (missing ones take their defaults) and build ``NodeSettings``.

    All problems are reported together, so a user fixes their YAML once rather than once per key.
    """
    problems = []
    merged = {}
    for spec in PARAMETERS:
        value = values.get(spec.name, spec.default)
        reason = value_problem(spec.name, value)
        if reason:
            problems.append(f"parameter {spec.name}={value!r} {reason}")
        merged[spec.name] = _coerce(spec, value)
    if not problems and bool(merged["network_height"]) != bool(merged["network_width"]):
        problems.append(
            f"network_height={merged['network_height']} and network_width={merged['network_width']}: "
            "set both (fixed network size) or neither (size by network_scale)"
        )
    if not problems and bool(merged["warmup_height"]) != bool(merged["warmup_width"]):
        problems.append(
            f"warmup_height={merged['warmup_height']} and warmup_width={merged['warmup_width']}: "
            "set both (the camera's frame size) or neither"
        )
    if not problems:  # the rules between backend, device, precision and torch.compile, as everywhere
        rules = engine_problems(
            merged["backend"],
            merged["device"],
            merged["precision"],
            merged["torch_compile"] or None,
            cuda_available=True,
        )
        problems += [f"parameters backend/device/precision/torch_compile: {rule}" for rule in rules]
    backend = "onnxruntime" if merged["model_path"].endswith(".onnx") else merged["backend"]  # as Segmenter does
    if not problems and merged["trt_cache"] and (backend, merged["device"]) != ("onnxruntime", "cuda"):
        problems.append(
            f"trt_cache={merged['trt_cache']!r} is for backend 'onnxruntime' on device 'cuda' (TensorRT engines; "
            f"got {backend} on {merged['device']}); leave it empty"
        )
    if not problems and "attention" in merged["outputs"]:
        problems += attention_problems(merged["backend"], merged["model_path"])
    if problems:
        raise ParamError("; ".join(problems))
    return NodeSettings(**merged)


def attention_problems(backend: str, model_path: str) -> list[str]:
    """Why output 'attention' cannot run: SAM's attention maps come from the torch network only, so they
    need a checkpoint and backend torch or auto (auto then runs torch, said in the log)."""
    if str(model_path).lower().endswith(".onnx"):
        return [
            f"output 'attention' needs the torch network, but model_path {model_path!r} is an ONNX file, whose "
            "graph has no attention output; remove 'attention' from outputs or give the checkpoint (.pt)"
        ]
    if backend not in ("torch", "auto"):
        return [
            f"output 'attention' needs backend 'torch' (or 'auto', which then runs torch), but backend is "
            f"{backend!r}, whose ONNX graph has no attention output; remove 'attention' from outputs or change backend"
        ]
    return []


def parameters_help(node_name: str = "attanet") -> str:
    """``attanet_node --help``: every parameter with its type, default, allowed values and meaning."""
    lines = [
        "usage: attanet_node [--help] --ros-args [--params-file FILE] [-p NAME:=VALUE ...] [-r image:=TOPIC ...]",
        "",
        f"The {node_name} node: sensor_msgs/Image on `image` in, semantic labels on ~/labels (and ~/color,",
        "~/overlay, ~/confidence, ~/attention) out. Parameters (config/attanet.yaml has them all;",
        "a params file addresses the node as '/**' or by its fully-qualified name, e.g. '/attanet'):",
        "",
    ]
    for spec in PARAMETERS:
        kind = "list of strings" if isinstance(spec.default, list) else type(spec.default).__name__
        default = "[" + ", ".join(spec.default) + "]" if isinstance(spec.default, list) else repr(spec.default)
        extra = f"; one of {', '.join(repr(c) for c in spec.choices)}" if spec.choices else ""
        run_time = "; run-time changeable" if spec.dynamic else ""
        lines.append(f"  {spec.name} ({kind}, default {default}{extra}{run_time})")
        lines.append(f"      {spec.description}")
    lines += [
        "",
        "Unknown parameters (a typo in a params file or -p) stop the node with exit code 2, as do bad values.",
        "Without FASTDDS_DEFAULT_PROFILES_FILE the node uses its shipped shared-memory profile (docs/ROS.md).",
    ]
    return "\n".join(lines)
