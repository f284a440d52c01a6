"""Figures of a bag evaluation: per-class IoU bars and a latency histogram.

Nineteen IoU numbers or a thousand latencies are easier to judge as a picture: which classes
fail, and whether the latency has a long tail that a p95 hides. matplotlib is imported here
only, with the Agg backend, so bag tools run headless and without it unless ``--plots`` is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attanet_model import ClassInfo


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise RuntimeError("--plots needs matplotlib; install it with `pip install matplotlib`") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_iou(iou: dict[str, float | None], classes: tuple[ClassInfo, ...], path: Path, title: str) -> Path:
    """Horizontal bars, one per class in its display colour; classes absent from the bag are marked n/a."""
    plt = _pyplot()
    names = [c.name for c in classes]
    values = [iou.get(n) for n in names]
    colors = [tuple(v / 255 for v in c.color) for c in classes]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(names) + 1.5))
    ax.barh(names, [v or 0.0 for v in values], color=colors, edgecolor="black", linewidth=0.5)
    for y, v in enumerate(values):
        ax.text(min((v or 0.0) + 0.01, 0.9), y, "n/a" if v is None else f"{v:.3f}", va="center", fontsize=8)
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("IoU")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_latency(latencies_ms: list[float], path: Path, title: str) -> Path:
    """Histogram of per-frame latency with p50 and p95 marked."""
    import numpy as np

    plt = _pyplot()
    lat = np.asarray(latencies_ms, np.float64)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(lat, bins=min(50, max(5, lat.size // 4)), color="#4477aa", edgecolor="white")
    for q, style in ((50, "-"), (95, "--")):
        value = float(np.percentile(lat, q))
        ax.axvline(value, color="#cc3311", linestyle=style, label=f"p{q} {value:.1f} ms")
    ax.set_xlabel("latency per frame (ms)")
    ax.set_ylabel("frames")
    ax.set_title(title, fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_plots(
    report: dict[str, Any], classes: tuple[ClassInfo, ...], out_dir: Path, latencies_ms: list[float]
) -> list[Path]:
    """The figures that apply to ``report`` (a bag-eval summary) in ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    name = Path(report["bag"]).name
    written = []
    if report.get("iou"):
        miou = report["miou"]
        title = f"{name}: per-class IoU, mIoU {miou:.3f} over {report['matched']} frames"
        written.append(plot_iou(report["iou"], classes, out_dir / "iou_per_class.png", title))
    if latencies_ms:
        title = f"{name}: latency ({report['latency_ms']['source']})"
        written.append(plot_latency(latencies_ms, out_dir / "latency_hist.png", title))
    return written
