"""``backend="auto"`` / ``precision="auto"``: measure the installed candidates on this CPU, run the fastest.

A short probe at first use: every candidate (backend, precision) that this CPU and this model
file allow is built, its labels on the bundled agreement frames (not the int8 calibration frames:
agreement there is optimistic) are compared with fp32's (a candidate
below ``min_agreement`` is refused, and said so), and the rest are timed round-robin at the
network size (one forward of each per round, so load changes on a shared machine hit all of
them alike; the ratio to the first candidate is taken per round, then the median). The fastest
wins. The decision is cached on disk under a key of everything that could change it (model
file hash, CPU model and flags, library versions, network size, threads, what was asked for), so
the next start reads it instead of measuring. ``attanet bench`` ranks its rows with the same
``round_robin_ms`` and ``pick``.

Where the probe must not run (tests, a user who wants the same engine on every machine), set
``ATTANET_AUTO_PROBE=0`` or ``AutoSettings(probe=False)``: auto then takes the first candidate
of the fixed order below (torch fp32 for a checkpoint, onnxruntime for an .onnx), never measuring.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from .cpu_capabilities import CpuCapabilities, openvino_installed

log = logging.getLogger(__name__)

PROBE_ENV = "ATTANET_AUTO_PROBE"
MIN_AGREEMENT = 0.995
CACHE_FILE = "auto-backend.json"


@dataclass(frozen=True)
class Candidate:
    """One way to run the network on the CPU."""

    backend: str
    precision: str

    @property
    def name(self) -> str:
        return f"{self.backend} {self.precision}"


# the fixed order: without a probe the first allowed one runs (what the project ran before auto)
ORDER = (
    Candidate("torch", "fp32"),
    Candidate("torch", "bf16"),
    Candidate("onnxruntime", "fp32"),
    Candidate("onnxruntime", "int8"),
    Candidate("openvino", "fp32"),
    Candidate("openvino", "bf16"),
    Candidate("openvino", "int8"),
)


def probe_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """False when ``ATTANET_AUTO_PROBE`` is 0/off/false/no."""
    return environ.get(PROBE_ENV, "1").strip().lower() not in ("0", "off", "false", "no")


@dataclass
class AutoSettings:
    """How ``auto`` decides.

    Args:
        probe: measure (True), take the fixed order's first candidate (False), or None: as
            ``ATTANET_AUTO_PROBE`` says (default on).
        rounds: timed round-robin rounds (one forward of each candidate per round).
        min_agreement: a candidate whose labels agree with fp32 on fewer pixels is refused.
        cpu: the CPU's capabilities (None: this machine's); a test passes a CPU without BF16/AMX.
        timer: replaces the measurement: {name: run()} -> {name: ms} (tests inject timings).
        network_hw: the size to probe at (None: the model's network size for a ``frame_hw`` frame).
        frame_hw: the camera's frame size, when known (None: 1024x2048, the paper's Cityscapes frames).
            int8's label agreement and the ranking both change with the size, so a 512x1024 camera
            is best decided at its own network size.
        use_cache: read and write the decision cache.
    """

    probe: bool | None = None
    rounds: int = 5
    min_agreement: float = MIN_AGREEMENT
    cpu: CpuCapabilities | None = None
    timer: Callable[[dict[str, Callable[[], object]]], dict[str, float]] | None = None
    network_hw: tuple[int, int] | None = None
    frame_hw: tuple[int, int] | None = None
    use_cache: bool = True

    def probing(self) -> bool:
        return probe_enabled() if self.probe is None else self.probe


def cpu_candidates(
    cpu: CpuCapabilities,
    checkpoint: bool,
    int8_file: bool,
    backend: str = "auto",
    precision: str = "auto",
    openvino: bool | None = None,
) -> list[Candidate]:
    """The candidates, in ``ORDER``, that this CPU, this model file and the explicit choices allow.

    ``checkpoint``: the model is a .pt (torch can run it); ``int8_file``: an int8 .onnx (only int8 runs it).
    """
    openvino = openvino_installed() if openvino is None else openvino
    allowed = []
    for c in ORDER:
        if backend not in ("auto", c.backend) or precision not in ("auto", c.precision):
            continue
        if (c.backend == "torch" and not checkpoint) or (c.backend == "openvino" and not openvino):
            continue
        if int8_file and c.precision != "int8":
            continue
        if c.precision == "bf16" and not (cpu.torch_bf16 if c.backend == "torch" else cpu.openvino_bf16):
            continue
        allowed.append(c)
    return allowed


def round_robin_ms(
    runs: Mapping[str, Callable[[], object]], rounds: int, warmup: int = 1, best_of: int = 1
) -> dict[str, list[float]]:
    """Per-round times (ms, best of ``best_of`` calls) of every run, the runs taking turns each round."""
    for run in runs.values():
        for _ in range(warmup):
            run()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            best = float("inf")
            for _ in range(best_of):
                started = time.perf_counter()
                run()
                best = min(best, (time.perf_counter() - started) * 1e3)
            samples[name].append(best)
    return samples


def median_ratios(samples: Mapping[str, Sequence[float]], reference: str) -> dict[str, float]:
    """Each run's median over rounds of (its time / ``reference``'s time in the same round)."""
    ref = samples[reference]
    return {name: statistics.median(t / r for t, r in zip(times, ref, strict=True)) for name, times in samples.items()}


def label_agreement(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    """Fraction of pixels with the same label over pairs of label images."""
    same = sum(int((x == y).sum()) for x, y in zip(a, b, strict=True))
    return same / max(sum(x.size for x in a), 1)


@dataclass
class AutoDecision:
    """What auto chose and why (``reason`` is the log line), with what it measured."""

    backend: str
    precision: str
    reason: str
    ms: dict[str, float] = field(default_factory=dict)
    agreement: dict[str, float] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    from_cache: bool = False

    @property
    def candidate(self) -> Candidate:
        return Candidate(self.backend, self.precision)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("from_cache")
        return d

    @staticmethod
    def from_dict(d: dict) -> AutoDecision:
        return AutoDecision(**{k: d[k] for k in ("backend", "precision", "reason", "ms", "agreement", "refused")})


def pick(
    ms: Mapping[Candidate, float], agreement: Mapping[Candidate, float | None], min_agreement: float = MIN_AGREEMENT
) -> tuple[Candidate, list[str]]:
    """(the fastest candidate whose agreement with fp32 is >= ``min_agreement`` or unknown, the
    refusals as sentences). ValueError when every candidate is refused."""
    refused = [
        f"{c.name} refused: its labels agree with fp32 on {a:.2%} of pixels, below {min_agreement:.1%}"
        for c, a in agreement.items()
        if a is not None and a < min_agreement
    ]
    eligible = [c for c in ms if agreement.get(c) is None or agreement[c] >= min_agreement]
    if not eligible:
        raise ValueError("auto: every candidate was refused (" + "; ".join(refused) + "); choose a backend explicitly")
    return min(eligible, key=lambda c: ms[c]), refused


def library_versions() -> str:
    found = []
    for package in ("torch", "onnxruntime", "openvino"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{package} {metadata.version(package)}")
    return ", ".join(found)


# Bumped when the probe's judgement changes, so that older cached decisions are measured again
# (v2: agreement on frames int8 was not calibrated on; engines ending at the coarse logits + label head).
PROBE_VERSION = "probe v2"
# Frames the probe compares labels on: not the int8 calibration frames (quantize.CALIBRATION_DIR).
AGREEMENT_DIR = Path(__file__).parent / "assets" / "agreement"


def decision_key(model_sha: str, cpu: CpuCapabilities, hw: tuple[int, int], threads: int, asked: str) -> str:
    """Everything that can change the choice: the model file, the CPU, the libraries, the size, the threads,
    and how the probe judges (``PROBE_VERSION``)."""
    return "|".join(
        [PROBE_VERSION, model_sha, cpu.key(), library_versions(), f"{hw[0]}x{hw[1]}", f"threads {threads}", asked]
    )


class DecisionCache:
    """Auto's decisions in one JSON file, keyed by ``decision_key``; an unreadable file is ignored
    (and replaced at the next decision), never an error: it is a cache."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / CACHE_FILE

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, key: str) -> AutoDecision | None:
        entry = self._read().get(key)
        try:
            return AutoDecision.from_dict(entry) if entry else None
        except (KeyError, TypeError):
            return None

    def put(self, key: str, decision: AutoDecision) -> None:
        data = self._read()
        data[key] = decision.to_dict()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)


def probe(
    candidates: Sequence[Candidate],
    engines: Mapping[Candidate, object],
    inputs: Sequence[np.ndarray],
    reference: list[np.ndarray] | None,
    settings: AutoSettings,
    hw: tuple[int, int],
) -> AutoDecision:
    """Measure ``engines`` (built for ``candidates``) on ``inputs`` (network inputs at ``hw``):
    agreement with ``reference`` labels (None: no fp32 to compare with), then time round-robin.
    A candidate that fails on its first frames (OpenVINO compiles per size, on first use: a CPU whose
    flags promise bf16 to a runtime that then compiles f32) is skipped and named, not fatal."""
    agreement: dict[Candidate, float | None] = {}
    failed: list[str] = []
    for c in candidates:
        try:
            labels = [engines[c].run(x, False)[0] for x in inputs]
        except (RuntimeError, ValueError, OSError) as exc:
            failed.append(f"{c.name} skipped: {exc}")
            log.warning("auto: %s failed on the probe's frames: %s", c.name, exc)
            continue
        agreement[c] = label_agreement(labels, reference) if reference is not None else None
    candidates = [c for c in candidates if c in agreement]
    if not candidates:
        raise ValueError("auto: every candidate failed (" + "; ".join(failed) + ")")
    x = inputs[0]
    runs = {c.name: (lambda e=engines[c]: e.run(x, False)) for c in candidates}
    if settings.timer is not None:
        by_name = settings.timer(runs)
    else:
        samples = round_robin_ms(runs, settings.rounds)
        first = candidates[0].name
        ratios = median_ratios(samples, first)
        base = statistics.median(samples[first])
        by_name = {name: ratios[name] * base for name in runs}  # ratios, in ms of the first candidate
    ms = {c: by_name[c.name] for c in candidates}
    choice, refused = pick(ms, agreement, settings.min_agreement)
    refused = refused + failed

    def said(c: Candidate) -> str:
        agree = f", labels {agreement[c]:.2%} = fp32" if agreement[c] is not None else ""
        return f"{c.name} {ms[c]:.1f} ms{agree}"

    measured = "; ".join(said(c) for c in sorted(candidates, key=lambda c: ms[c]))
    reason = f"auto picked {choice.name}: fastest at {hw[0]}x{hw[1]} on this CPU ({measured})"
    if refused:
        reason += "; " + "; ".join(refused)
    if reference is None:
        reason += "; the model is an int8 file, so there is no fp32 to compare labels with"
    return AutoDecision(
        choice.backend,
        choice.precision,
        reason,
        {c.name: round(ms[c], 3) for c in candidates},
        {c.name: round(a, 6) for c, a in agreement.items() if a is not None},
        refused,
    )
