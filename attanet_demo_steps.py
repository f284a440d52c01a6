"""The steps of ``attanet demo`` that every run shares (``attanet_demo.py`` runs them): its settings,
the synthetic drive and its bag (cached in ``--out``), the node's command line and environment, and
starting the node with the demo's subscriber, and scoring and writing each frame that comes back
(``FrameScorer``). ``attanet_demo.py`` keeps only the orchestration: the order of the steps, the viewer or
the headless loop, and the summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attanet_gui.frames import Frame
from attanet_gui.processes import ManagedProcess, ProcessGroup, wait_for
from attanet_gui.recorder import VideoRecorder
from attanet_gui.render import ViewSettings, render_view
from attanet_gui.ros_env import PARAMS_NAME, PROFILE_VARIABLE, shipped_config, shipped_dds_profile
from attanet_model.atomic_write import write_png
from attanet_ros.node import node_command as node_process

CAMERA_PREFIX = "/camera"
CAMERA_TOPIC = "/camera/image_raw"
GT_TOPIC = "/camera/gt_labels"
NODE_OUTPUTS = "/attanet"
NODE_NAME = "attanet"
DISCOVERY_RANGE_VARIABLE = "ROS_AUTOMATIC_DISCOVERY_RANGE"
DATA_MARKER = "attanet_demo_data.json"
BAG_MARKER = "attanet_demo_bag.json"


class DemoError(RuntimeError):
    """The demo cannot go on; the message says which step failed and where its log is."""


@dataclass
class DemoConfig:
    out: Path
    frames: int = 24
    height: int = 512
    width: int = 1024
    seed: int = 7
    rate_hz: float = 10.0
    model: Path | None = None
    input_scale: float | None = None  # frame -> network; None until resolved: the model's trained scale
    headless: bool = False
    domain_id: int | None = None
    node_timeout_s: float = 240.0  # a first start with backend auto measures the backends (cached after)
    timeout_s: float = 300.0
    alpha: float = 0.5
    progress: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.frames <= 10_000:
            raise ValueError(f"--frames must be in 1..10000, got {self.frames}")
        if self.height < 64 or self.width < 64 or self.height % 32 or self.width % 32:
            raise ValueError(
                f"--size must be multiples of 32 and at least 64 per side, got {self.height}x{self.width} (HxW)"
            )
        if not self.rate_hz > 0:
            raise ValueError(f"--rate must be > 0 Hz, got {self.rate_hz}")
        if self.model is not None and not self.model.is_file():
            raise ValueError(f"--model {self.model} does not exist")
        if self.domain_id is not None and not 0 <= self.domain_id <= 232:
            raise ValueError(f"--domain-id must be in 0..232, got {self.domain_id}")


# ---------------------------------------------------------------- data and bag (cached)


def prepare_data(config: DemoConfig, log=print) -> Path:
    """The synthetic sequence under ``out/data`` (generated unless a matching one is there)."""
    root = config.out / "data"
    wanted = {"frames": config.frames, "height": config.height, "width": config.width, "seed": config.seed}
    if _marker_matches(root / DATA_MARKER, wanted):
        log(f"reusing the synthetic sequence in {root}")
        return root
    _clear_owned(root, DATA_MARKER)
    from attanet_training.synth import generate_dataset

    log(f"generating {config.frames} synthetic frames of {config.height}x{config.width} (HxW) in {root}")
    generate_dataset(
        out_dir=root,
        num=config.frames,
        height=config.height,
        width=config.width,
        seed=config.seed,
        split="val",
        sequence=True,
        progress=config.progress,
    )
    (root / DATA_MARKER).write_text(json.dumps(wanted))
    return root


def prepare_bag(config: DemoConfig, data_root: Path, log=print) -> Path:
    """A rosbag2 of the sequence with ground truth under ``out/bag`` (written unless a matching one is there)."""
    from attanet_ros.bags.make import MakeConfig, make_bag
    from attanet_training.datasets import build_dataset

    bag = config.out / "bag"
    marker = config.out / BAG_MARKER
    wanted = {"data": json.loads((data_root / DATA_MARKER).read_text()), "rate_hz": config.rate_hz}
    if bag.is_dir() and _marker_matches(marker, wanted):
        log(f"reusing the bag {bag}")
        return bag
    if bag.exists():
        if not marker.exists():
            raise DemoError(f"{bag} exists and was not written by the demo; remove it or choose another --out")
        shutil.rmtree(bag)
    try:
        dataset = build_dataset(kind="cityscapes", root=data_root, split="val")
        made = make_bag(
            samples=dataset.samples,
            read_labels=dataset.read_labels,
            config=MakeConfig(out=bag, rate_hz=config.rate_hz, topic_prefix=CAMERA_PREFIX, progress=config.progress),
        )
    except ValueError as exc:  # dataset layout, bag writer and frame errors all say what is wrong
        raise DemoError(f"could not write the bag {bag} from {data_root}: {exc}") from exc
    log(f"wrote a {made['storage']} bag of {made['frames']} frames with ground truth to {bag}")
    marker.write_text(json.dumps(wanted))
    return bag


def ground_truth(bag: Path) -> dict[int, np.ndarray]:
    """{header stamp: HxW uint8 trainIds} of the bag's ground-truth topic."""
    from attanet_ros.bags.storage import BagReader, deserialize, labels_from_bag_msg

    out = {}
    with BagReader(bag) as reader:
        for message in reader.messages([GT_TOPIC]):
            msg = deserialize(message)
            out[msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec] = labels_from_bag_msg(
                msg, message.msgtype
            )
    return out


def check_model_file(model: Path | None):
    """The model's ModelMeta; CheckpointError for a damaged file, before any data is generated."""
    from attanet_model import default_model_path
    from attanet_model.segmenter import model_file_meta

    return model_file_meta(model or default_model_path())


def check_model_scores_bag(model: Path | None, bag: Path) -> None:
    """Refuse (ClassTableMismatch) a model whose classes are not the bag's ground truth's, before any
    process starts: a score of floor against road means nothing."""
    from attanet_model import CITYSCAPES_CLASSES, check_same_classes, default_model_path
    from attanet_ros.bags.storage import BagReader, class_info_topic

    path = model or default_model_path()
    meta = check_model_file(model)
    with BagReader(bag) as reader:
        # demo bags are always the synthetic Cityscapes-layout drive; ones cached before bags carried
        # their class table have none
        truth = reader.class_table(class_info_topic(GT_TOPIC)) or CITYSCAPES_CLASSES
    check_same_classes(meta.classes, truth, f"model {path}", "the demo's ground truth")


def _marker_matches(marker: Path, wanted: dict) -> bool:
    try:
        return json.loads(marker.read_text()) == wanted
    except (OSError, ValueError):
        return False


def _clear_owned(folder: Path, marker_name: str) -> None:
    """Remove a previous demo's folder; refuse to touch a non-empty folder the demo did not write."""
    if not folder.exists():
        return
    if not (folder / marker_name).exists() and any(folder.iterdir()):
        raise DemoError(f"{folder} exists and was not written by the demo; remove it or choose another --out")
    shutil.rmtree(folder)


# ---------------------------------------------------------------- processes


def ros_environment(config: DemoConfig) -> dict[str, str]:
    """This process's environment plus the DDS profile (and domain) every demo process shares."""
    env = dict(os.environ)
    profile = shipped_dds_profile()
    if profile is None:
        raise DemoError("the Fast DDS profile config/fastdds_shm.xml is missing from this installation")
    env.setdefault(PROFILE_VARIABLE, str(profile))
    if config.domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(config.domain_id)
    return env


def node_command(config: DemoConfig, mode: str) -> list[str]:
    params = shipped_config(PARAMS_NAME)
    if params is None:
        raise DemoError("the node's parameter file config/attanet.yaml is missing from this installation")
    overrides = {"mode": mode} | ({"model_path": config.model.resolve()} if config.model is not None else {})
    overrides |= {"network_scale": config.input_scale} if config.input_scale is not None else {}
    # the camera's size: the node warms up (and backend auto decides) at the frames it will get
    overrides |= {"warmup_height": config.height, "warmup_width": config.width}
    return node_process.node_command(params_file=params, params=overrides, remaps={"image": CAMERA_TOPIC})


def start_node_and_source(config: DemoConfig, group: ProcessGroup, mode: str, source, log=print) -> ManagedProcess:
    """Start the node, start ``source`` (a RosTopicSource), and wait until the node's class_info has arrived
    and its labels/confidence publishers are known to the source (so the first frame's results are not lost)."""
    node = group.start("node", node_command(config, mode))
    source.start()
    log(f"waiting for the node (pid {node.pid}; log {node.log_path}) ...")
    ok = wait_for(
        lambda: (
            (source.class_info_received and source.outputs_discovered.is_set()) or not node.running() or source.error
        ),
        config.node_timeout_s,
    )
    if source.error:
        raise DemoError(f"the demo's subscriber failed: {source.error}")
    if not node.running():
        raise DemoError(
            f"the node exited with code {node.popen.returncode}; its log {node.log_path} ends:\n{node.log_tail()}"
        )
    if not ok:
        raise DemoError(
            f"the node did not come up within {config.node_timeout_s:.0f} s (no ~/class_info, or no ~/labels "
            "and ~/confidence publishers; a first start with backend auto at a new network size measures every "
            f"backend first, minutes on a busy CPU, cached after); its log {node.log_path} ends:\n{node.log_tail()}"
        )
    return node


# ---------------------------------------------------------------- scoring and output writing


@dataclass
class HeadlessOutputs:
    overlays: Path
    video: Path
    summary: Path
    logs: Path


class OverlayWriter:
    """Draws and writes each frame's overlay (a PNG and a video frame) on a thread of its own at the
    lowest CPU priority, so that the demo's own files do not slow down the node whose speed it reports
    (PNG encoding alone costs about as much as the light network's inference at 512x1024 on two
    cores). The queue is bounded: a full one makes the demo wait, a frame is never dropped. A write
    that fails (full disk, read-only folder) ends the demo with its ``OutputError`` at the next frame
    or at ``close``."""

    def __init__(self, overlays: Path, recorder: VideoRecorder, alpha: float, depth: int = 32) -> None:
        self.overlays, self.recorder, self.alpha = overlays, recorder, alpha
        self.written = 0
        self._queue: queue.Queue[tuple[int, Frame] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="demo-overlay-writer", daemon=True)
        self._thread.start()

    def put(self, index: int, frame: Frame) -> None:
        self._raise_error()
        self._queue.put((index, frame))

    def close(self) -> None:
        """Write what is queued, finish the video; raises the first write error, if any."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        with contextlib.suppress(AttributeError, OSError):  # Linux: a thread's nice value is its own
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        failed = False
        while (item := self._queue.get()) is not None:
            if failed:
                continue  # keep draining so that put() never blocks on a dead writer
            index, frame = item
            try:
                overlay = render_view(frame, ViewSettings("overlay", self.alpha))
                write_png(self.overlays / f"frame_{index:04d}.png", overlay[:, :, ::-1])  # checked, atomic
                self.recorder.write(overlay)
                self.written += 1
            except BaseException as exc:
                self._error, failed = exc, True
        try:
            self.recorder.close()
        except BaseException as exc:
            self._error = self._error or exc


class FrameScorer:
    """Scores each frame the node sends back against ground truth; its overlay goes to an ``OverlayWriter``."""

    def __init__(self, outputs: HeadlessOutputs, truth: dict[int, np.ndarray], rate_hz: float, alpha: float) -> None:
        from attanet_model.metrics import ConfusionMatrix

        self._matrix_type = ConfusionMatrix
        self.outputs, self.truth = outputs, truth
        if outputs.overlays.exists():
            shutil.rmtree(outputs.overlays)
        outputs.overlays.mkdir(parents=True)
        self.recorder = VideoRecorder(outputs.video, fps=min(rate_hz, 30.0))
        self.writer = OverlayWriter(outputs.overlays, self.recorder, alpha)
        self.matrix = None
        self.latencies: list[float] = []
        self.frames = 0
        self.unmatched = 0
        self.classes: tuple = ()

    def add(self, frame: Frame, bag_stamp: int | None) -> None:
        if self.matrix is None:
            self.matrix, self.classes = self._matrix_type(len(frame.classes)), frame.classes
        gt = self.truth.get(bag_stamp) if bag_stamp is not None else None
        if gt is None or gt.shape != frame.labels.shape:
            self.unmatched += 1
        else:
            self.matrix.update(frame.labels, gt)
        self.latencies.append(frame.latency_ms)
        self.writer.put(self.frames, frame)
        self.frames += 1

    def close(self) -> None:
        try:
            self.writer.close()
        finally:
            self.outputs.video = self.recorder.path  # .avi when the MP4 codec was missing

    def scores(self) -> dict:
        if self.matrix is None or self.frames == self.unmatched:
            return {"miou": None, "iou": {}, "pixel_acc": None}
        return self.matrix.summary([c.name for c in self.classes])
