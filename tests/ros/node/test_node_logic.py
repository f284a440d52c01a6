"""The node's ROS-free parts: parameters, the frame queue, statistics, diagnostics, the pipeline."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
import yaml
from ros_harness import PARAMS_FILE, street_image

from attanet_model import IGNORE_INDEX, AttentionQuery, Segmenter, labels_to_color, overlay
from attanet_model.device_pipeline import DevicePipeline
from attanet_ros.common.frame_pipeline import FrameOptions, FramePipeline, scale_camera_info
from attanet_ros.node.diagnostics import OK, WARN, diagnostic_report, sim_clock_report
from attanet_ros.node.frame_queue import FrameQueue
from attanet_ros.node.params import PARAMETERS, ParamError, settings_from_values, update_problem
from attanet_ros.node.stats import STAGES, FrameStats, RateLimitedLog


def test_config_yaml_lists_every_parameter_with_its_default():
    values = yaml.safe_load(PARAMS_FILE.read_text())["/**"]["ros__parameters"]
    assert list(values) == [spec.name for spec in PARAMETERS]
    for spec in PARAMETERS:
        assert values[spec.name] == spec.default, spec.name
    assert settings_from_values(values).mode == "live"


def test_settings_report_every_problem_at_once():
    with pytest.raises(ParamError) as info:
        settings_from_values({"overlay_alpha": 1.5, "backend": "tensorrt", "outputs": ["labels", "depth"]})
    text = str(info.value)
    assert "overlay_alpha=1.5 must be in [0, 1]" in text
    assert "backend='tensorrt' must be one of ['auto', 'torch', 'onnxruntime', 'openvino']" in text
    assert "unknown output(s) ['depth']" in text
    with pytest.raises(ParamError, match="set both"):
        settings_from_values({"network_height": 256})
    with pytest.raises(ParamError, match="'attention' needs backend 'torch'.*but backend is 'onnxruntime'"):
        settings_from_values({"outputs": ["attention"], "backend": "onnxruntime"})
    with pytest.raises(ParamError, match="'attention' needs backend 'torch'.*but backend is 'openvino'"):
        settings_from_values({"outputs": ["attention"], "backend": "openvino"})
    # the defaults are auto on the CPU; with attention, auto runs torch (the node says so in its log)
    assert (settings_from_values({}).backend, settings_from_values({}).precision) == ("auto", "auto")
    assert settings_from_values({"outputs": ["labels", "attention"]}).backend == "auto"
    with pytest.raises(ParamError, match="must be a number"):
        settings_from_values({"overlay_alpha": "half"})
    with pytest.raises(ParamError, match=r"torch.compile \(mode 'default'\) is for backend 'torch', not onnxruntime"):
        settings_from_values({"torch_compile": "default", "backend": "onnxruntime"})
    with pytest.raises(ParamError, match=r"torch_compile='fast' must be one of \['', 'default', 'max-autotune'\]"):
        settings_from_values({"torch_compile": "fast", "device": "cuda"})
    gpu = settings_from_values({"torch_compile": "max-autotune", "device": "cuda", "precision": "fp16"})
    assert gpu.torch_compile == "max-autotune" and gpu.cuda_graphs
    with pytest.raises(ParamError, match="warmup_height=720 and warmup_width=0: set both"):
        settings_from_values({"warmup_height": 720})
    assert settings_from_values({}).warmup_shape == (256, 512, 3)
    assert settings_from_values({"warmup_height": 720, "warmup_width": 1280}).warmup_shape == (720, 1280, 3)
    # the camera's size, for backend auto to decide at, only when the warm-up names it
    assert settings_from_values({}).camera_hw is None
    assert settings_from_values({"warmup_height": 720, "warmup_width": 1280}).camera_hw == (720, 1280)


def test_run_time_updates():
    settings = settings_from_values({})
    assert update_problem("overlay_alpha", 0.3) is None
    assert settings.with_update("overlay_alpha", 1).overlay_alpha == 1.0  # an integer is fine for a float
    assert "must be in [0, 1]" in update_problem("confidence_threshold", 2.0)
    assert "fixed at start-up" in update_problem("mode", "replay")
    assert "unknown parameter" in update_problem("nope", 1)
    with pytest.raises(ParamError):
        settings.with_update("overlay_alpha", -1.0)


def test_live_queue_keeps_only_the_newest_and_counts_drops():
    q = FrameQueue("live")
    assert [q.put(i) for i in range(5)] == [0, 1, 1, 1, 1]
    assert q.get(0) == 4 and q.get(0.01) is None


def test_replay_queue_blocks_when_full_and_keeps_order():
    q = FrameQueue("replay", capacity=2)
    q.put(0)
    q.put(1)
    done = threading.Event()
    threading.Thread(target=lambda: (q.put(2), done.set()), daemon=True).start()
    assert not done.wait(0.3)  # back-pressure: the producer waits for room
    assert q.get(1) == 0
    assert done.wait(2)
    assert [q.get(1), q.get(1)] == [1, 2]
    q.close()
    assert q.get(1) is None


def test_stats_percentiles_and_counters():
    stats = FrameStats(window=100)
    for i in range(1, 101):
        stats.on_received()
        stats.on_processed(float(i), float(i) / 2, {"inference": 10.0, "decode": 1.0})
    stats.on_dropped(3)
    stats.on_error("short_data")
    snap = stats.snapshot()
    assert (snap["received"], snap["processed"], snap["dropped"]) == (100, 100, 3)
    assert snap["errors"] == {"short_data": 1}
    assert snap["latency_p50_ms"] == pytest.approx(np.percentile(np.arange(1, 101), 50))
    assert snap["latency_p95_ms"] == pytest.approx(np.percentile(np.arange(1, 101), 95))
    # stamp -> received: each frame's latency less its time in the node (i - i/2)
    assert snap["arrival_p50_ms"] == pytest.approx(np.percentile(np.arange(1, 101) / 2, 50))
    assert snap["stages_p50_ms"]["inference"] == 10.0
    assert np.isnan(snap["stages_p50_ms"]["publish"])


def test_diagnostics_report_levels_and_keys():
    stats = FrameStats()
    first = stats.snapshot()
    level, message, _ = diagnostic_report(first, None, {"backend": "torch"}, 1.0)
    assert (level, message) == (OK, "waiting for images")
    stats.on_received()
    stats.on_error("bad_step")
    level, message, values = diagnostic_report(stats.snapshot(), first, {"backend": "torch"}, 1.0)
    keys = dict(values)
    assert level == WARN and "1 bad input frame(s)" in message and "bad_step=1" in message
    assert keys["errors.bad_step"] == "1" and keys["backend"] == "torch"
    second = stats.snapshot()
    stats.on_received()
    stats.on_processed(20.0, 15.0, {"inference": 12.0})
    level, message, values = diagnostic_report(stats.snapshot(), second, {}, 1.0)
    assert level == OK and message.startswith("1.0 fps")  # an old error no longer warns


def test_camera_clock_ahead_is_flagged_and_kept_out_of_the_latency():
    stats = FrameStats()
    stats.on_received()
    stats.on_processed(40.0, 30.0, {})
    first = stats.snapshot()
    for offset in (1945.0, 1950.0, 1940.0):
        stats.on_received()
        stats.on_processed(-offset, 30.0, {})
    snap = stats.snapshot()
    assert snap["latency_p50_ms"] == 40.0 and snap["clock_ahead"] == 3 and snap["clock_ahead_p50_ms"] == 1945.0
    level, message, values = diagnostic_report(snap, first, {}, 1.0)
    assert level == WARN and message.startswith("camera clock ahead by 1945 ms (3 frame(s)")
    assert dict(values)["frames_clock_ahead"] == "3" and dict(values)["latency_p50_ms"] == "40.0"
    level, message, _ = diagnostic_report(stats.snapshot(), snap, {}, 1.0, problems=[(WARN, "two nodes")])
    assert level == WARN and message.startswith("two nodes; ")


def test_camera_clock_behind_is_flagged_and_kept_out_of_the_latency():
    """Stamps from 1970 (a camera without a real-time clock): 1.8e12 ms is an offset, not a latency."""
    stats = FrameStats()
    stats.on_received()
    stats.on_processed(40.0, 30.0, {})
    first = stats.snapshot()
    now_ms = 1_796_000_000_000.0
    for stamp_ms in (1000.0, 2000.0, 3000.0):
        stats.on_received()
        stats.on_processed(now_ms - stamp_ms, 30.0, {})
    stats.on_processed(59_000.0, 30.0, {})  # under a minute: a (long) latency, kept
    snap = stats.snapshot()
    assert snap["clock_behind"] == 3 and snap["clock_behind_p50_ms"] == now_ms - 2000.0 - 30.0
    assert snap["latency_p50_ms"] == (40.0 + 59_000.0) / 2
    level, message, values = diagnostic_report(snap, first, {}, 1.0)
    assert level == WARN and message.startswith(
        "camera clock behind by 1795999998.0 s (3 frame(s) stamped more than 60 s"
    )
    assert dict(values)["frames_clock_behind"] == "3" and "left out of the latency figures" in message


def test_sim_time_without_clock_is_said():
    assert sim_clock_report(False, 0) == ([], {"use_sim_time": "false"})
    assert sim_clock_report(True, 5) == ([], {"use_sim_time": "true", "sim_clock": "running"})
    (problem,), values = sim_clock_report(True, 0)
    assert problem[0] == WARN and problem[1].startswith("use_sim_time is true but no /clock has arrived")
    assert values["sim_clock"] == "no /clock yet"
    # the node does not take "now - stamp" at time 0 for a clock ahead: no latency is taken at all
    stats = FrameStats()
    stats.on_processed(None, 30.0, {})
    assert stats.snapshot()["clock_ahead"] == 0 and stats.snapshot()["clock_behind"] == 0


def test_rate_limited_log():
    now = [0.0]
    lines: list[str] = []
    log = RateLimitedLog(lines.append, period=5.0, clock=lambda: now[0])
    assert log("a", "first")
    assert not log("a", "again") and not log("a", "again")
    assert log("b", "other kind")
    now[0] = 6.0
    assert log("a", "later")
    assert lines == ["first", "other kind", "later (2 more like this since the last message)"]


def half_up_mono8(values: np.ndarray) -> np.ndarray:
    """[0, 1] float32 -> 0..255 rounded half up in float32, as the node publishes it (np.round would
    round a 142.5 to 142, float64 arithmetic a 151.4999986 to 151)."""
    return np.floor(values.astype(np.float32) * np.float32(255) + np.float32(0.5)).astype(np.uint8)


@pytest.fixture(scope="module")
def pipeline_input():
    return Segmenter(), street_image(96, 160, seed=1)


def test_pipeline_outputs_match_the_segmenter(pipeline_input):
    segmenter, bgr = pipeline_input
    pipeline = FramePipeline(segmenter)
    reference = segmenter.segment(bgr)
    out = pipeline.run(bgr, {"labels", "color", "overlay", "confidence"}, FrameOptions(overlay_alpha=0.7))
    np.testing.assert_array_equal(out.labels, reference.labels)
    np.testing.assert_array_equal(out.color, labels_to_color(reference.labels, segmenter.classes))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(out.overlay, overlay(rgb, reference.labels, 0.7, segmenter.classes))
    np.testing.assert_array_equal(out.confidence, half_up_mono8(reference.confidence))
    assert out.attention is None and set(out.timings_ms) == {"preprocess", "inference", "postprocess"}


def test_pipeline_computes_only_what_is_wanted_and_applies_the_threshold(pipeline_input):
    segmenter, bgr = pipeline_input
    reference = segmenter.segment(bgr)
    threshold = float(np.median(reference.confidence))
    out = FramePipeline(segmenter).run(bgr, {"labels"}, FrameOptions(confidence_threshold=threshold))
    assert out.color is None and out.overlay is None and out.confidence is None
    low = reference.confidence < threshold
    assert (out.labels[low] == IGNORE_INDEX).all()
    np.testing.assert_array_equal(out.labels[~low], reference.labels[~low])
    attention = FramePipeline(segmenter).run(bgr, {"attention"}, FrameOptions(attention_column=10)).attention
    assert attention.shape == bgr.shape[:2] and attention.max() == 255


def test_pipeline_at_network_resolution():
    pipeline = FramePipeline(Segmenter(output="network"))
    bgr = street_image(256, 512)
    assert pipeline.output_size(256, 512) == (128, 256)
    out = pipeline.run(bgr, {"labels", "overlay", "attention"}, FrameOptions(attention_column=40))
    assert out.labels.shape == (128, 256) and out.overlay.shape == (128, 256, 3)
    assert out.attention.shape == (128, 256) and set(out.timings_ms) == {"preprocess", "inference", "postprocess"}
    # what the node did before the Segmenter owned the sizes: resize the frame itself (OpenCV
    # bilinear), segment it at scale 1, draw the overlay on the resized frame
    small = cv2.resize(bgr, (256, 128), interpolation=cv2.INTER_LINEAR)
    at_scale_1 = Segmenter(input_scale=1.0)
    reference = at_scale_1.segment(small, AttentionQuery(40))
    np.testing.assert_array_equal(out.labels, reference.labels)
    small_rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(out.overlay, overlay(small_rgb, reference.labels, 0.5, at_scale_1.classes))
    np.testing.assert_array_equal(out.attention, half_up_mono8(reference.attention))


@pytest.mark.parametrize("device_path", [False, True])
def test_every_frame_path_fills_every_diagnostics_stage(device_path):
    """The host path and the GPU frame path (its DevicePipeline run on the CPU; batched, as the
    node batches same-size cameras) give the same stages, so /diagnostics shows no 'nan' stage."""
    segmenter = Segmenter(output="network")
    if device_path:  # what torch + CUDA builds, minus CUDA graphs
        engine = segmenter._engine
        segmenter._pipeline = DevicePipeline(
            engine.model, segmenter.meta.mean, segmenter.meta.std, segmenter._device_plan
        )
    sizes = [(96, 160), (96, 160), (128, 256)]  # two batched on the device path, one alone
    frames = [(street_image(*hw, seed=i), frozenset({"labels", "overlay"})) for i, hw in enumerate(sizes)]
    outputs, batches = FramePipeline(segmenter).run_many(frames, FrameOptions())
    assert batches == ([2, 1] if device_path else [1, 1, 1])
    stats = FrameStats()
    for hw, out in zip(sizes, outputs, strict=True):
        assert set(out.timings_ms) == {"preprocess", "inference", "postprocess"}
        assert out.labels.shape == out.overlay.shape[:2] == segmenter.plan(*hw).network_hw
        stats.on_received()
        stats.on_processed(30.0, 20.0, {"decode": 1.0, **out.timings_ms, "publish": 0.5})
    _, _, values = diagnostic_report(stats.snapshot(), None, {}, 1.0)
    stages = {k: v for k, v in values if k.startswith("stage_")}
    assert sorted(stages) == sorted(f"stage_{name}_p50_ms" for name in STAGES)
    assert "nan" not in stages.values()


def test_scale_camera_info():
    fields = {"k": [400, 0, 256, 0, 410, 128, 0, 0, 1], "p": [400, 0, 256, 5, 0, 410, 128, 0, 0, 0, 1, 0]}
    out = scale_camera_info(fields, (256, 512), (128, 256))
    assert out["k"] == [200, 0, 128, 0, 205, 64, 0, 0, 1]
    assert out["p"] == [200, 0, 128, 2.5, 0, 205, 64, 0, 0, 0, 1, 0]
    assert (out["height"], out["width"]) == (128, 256)


def test_camera_info_is_scaled_from_the_size_it_describes_or_refused():
    from sensor_msgs.msg import CameraInfo, RegionOfInterest
    from std_msgs.msg import Header

    from attanet_ros.node.camera_channel import CameraInfoMismatch, described_size, same_aspect, scaled_camera_info

    def info(h, w, **extra):
        msg = CameraInfo(height=h, width=w, **extra)
        msg.k = [2.0 * w, 0.0, w / 2, 0.0, 2.0 * w, h / 2, 0.0, 0.0, 1.0]
        return msg

    assert same_aspect((1080, 1920), (256, 455)) and same_aspect((1080, 1920), (256, 456))  # rounding
    assert not same_aspect((1024, 2048), (64, 100))
    binned = info(1024, 2048, binning_x=2, binning_y=2)
    assert described_size(binned) == (512, 1024) and described_size(info(0, 0)) is None
    roi = info(1024, 2048, roi=RegionOfInterest(x_offset=8, y_offset=4, height=256, width=512))
    assert described_size(roi) == (256, 512)
    # the frames a binned driver sends: unchanged, as before (K stays in full-resolution pixels)
    out = scaled_camera_info(binned, (512, 1024), (512, 1024), Header())
    assert list(out.k) == list(binned.k) and (out.height, out.width, out.binning_x) == (512, 1024, 2)
    # calibrated at 1024x2048, frames at 64x128, outputs at the network's 32x64: one scale, 1/32
    out = scaled_camera_info(info(1024, 2048), (64, 128), (32, 64), Header())
    assert list(out.k) == [128.0, 0.0, 32.0, 0.0, 128.0, 16.0, 0.0, 0.0, 1.0] and (out.height, out.width) == (32, 64)
    unset = scaled_camera_info(info(0, 0), (64, 128), (64, 128), Header())  # size 0: the frame's is assumed
    assert (unset.height, unset.width) == (64, 128)
    with pytest.raises(CameraInfoMismatch, match=r"describes 1024x2048 \(HxW\) images but the frame is 64x100"):
        scaled_camera_info(info(1024, 2048), (64, 100), (64, 100), Header())


def test_camera_info_mismatches_are_counted_and_warned():
    stats = FrameStats()
    stats.on_received()
    stats.on_processed(10.0, 5.0, {})
    first = stats.snapshot()
    stats.on_camera_info_mismatch("camera_info describes 1024x2048 (HxW) images but the frame is 64x100")
    level, message, values = diagnostic_report(stats.snapshot(), first, {}, 1.0)
    assert level == WARN and dict(values)["camera_info_mismatched"] == "1"
    assert message.startswith("1 frame(s) without ~/camera_info in the last 1 s: camera_info describes 1024x2048")
    level, _, values = diagnostic_report(stats.snapshot(), stats.snapshot(), {}, 1.0)  # nothing new: OK again
    assert level == OK and dict(values)["camera_info_mismatched"] == "1"


def test_rate_of_queue_under_threads_is_consistent():
    """A producer outpacing the consumer: every frame is either consumed or reported dropped."""
    q = FrameQueue("live")
    dropped, consumed = [0], []
    stop = threading.Event()

    def consume():
        while not stop.is_set() or len(q):
            item = q.get(0.01)
            if item is not None:
                consumed.append(item)
                time.sleep(0.002)

    worker = threading.Thread(target=consume)
    worker.start()
    for i in range(300):
        dropped[0] += q.put(i)
    stop.set()
    worker.join(5)
    assert len(consumed) + dropped[0] == 300
    assert consumed == sorted(consumed) and consumed[-1] == 299


class _Graph:
    """The few rclpy.Node graph calls GraphWatch makes, answered from plain lists (ROS-free)."""

    def __init__(self) -> None:
        self.nodes = [("attanet", "/t")]
        self.publishers: list = []
        self.context = type("Context", (), {"get_domain_id": staticmethod(lambda: 7)})()

    def get_name(self) -> str:
        return "attanet"

    def get_namespace(self) -> str:
        return "/t"

    def get_fully_qualified_name(self) -> str:
        return "/t/attanet"

    def get_node_names_and_namespaces(self) -> list:
        return self.nodes

    def get_publishers_info_by_topic(self, topic: str) -> list:
        return self.publishers


def test_graph_watch_says_each_problem_once_per_period_and_clears():
    from types import SimpleNamespace

    from attanet_ros.node.graph_checks import GraphWatch

    now, lines, graph = [0.0], [], _Graph()
    watch = GraphWatch(graph, ["/cam/image"], lines.append, silent_after_s=3.0, repeat_s=30.0, clock=lambda: now[0])
    assert watch.check(0)[0] == []
    graph.nodes = graph.nodes * 2
    qos = SimpleNamespace(reliability=SimpleNamespace(name="RELIABLE"))
    graph.publishers = [SimpleNamespace(node_namespace="/", node_name="camera", qos_profile=qos)]
    problems, values = watch.check(0)
    assert [text[:40] for _, text in problems] == ["1 other node(s) named /t/attanet in ROS "]
    assert values["nodes_with_this_name"] == "2" and values["image_publishers"] == "1"
    now[0] = 3.5
    problems, _ = watch.check(0, frames_waiting=2)  # replay: a full queue holds the counter still
    assert len(problems) == 1
    now[0] = 6.5
    problems, _ = watch.check(0)
    silent = "1 publisher(s) on /cam/image [/camera (reliable)] but no frame arrived for 3 s"
    assert any(silent in text for _, text in problems), problems
    assert len(lines) == 2  # one line per problem, not one per check
    now[0] = 8.0
    watch.check(0)
    assert len(lines) == 2
    graph.nodes = graph.nodes[:1]
    assert watch.check(1)[0] == []  # a frame arrived and the other node left


def test_glibc_is_tuned_for_frames_unless_the_user_set_malloc_tunables(monkeypatch):
    import platform

    from attanet_ros.common.malloc_tuning import tune_for_frames, user_setting

    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    if platform.libc_ver()[0] != "glibc":
        pytest.skip(f"not glibc ({platform.libc_ver()}): nothing to tune")
    assert tune_for_frames() == "mmap threshold 32 MiB, trim threshold 256 MiB"
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.cpu.hwcaps=-AVX512F")  # not a malloc tunable: still tuned
    assert user_setting() is None
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    assert tune_for_frames() == "left to the user (MALLOC_TRIM_THRESHOLD_=65536)"
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=65536")
    assert tune_for_frames() == "left to the user (GLIBC_TUNABLES=glibc.malloc.mmap_threshold=65536)"


def test_a_tuned_process_reuses_frame_sized_blocks_instead_of_mapping_and_trimming_them():
    """In fresh interpreters (mallopt is process-wide), glibc's mallinfo2 around a 6 MB frame-sized block:
    with glibc's defaults the block is a mapping of its own (hblks), unmapped on free; tuned, it comes from
    the heap and stays the arena's after free (nothing trimmed), so the next frame's block is memory already
    faulted in; malloc_trim gives it back. A user's own MALLOC_MMAP_THRESHOLD_ is left alone."""
    import os
    import platform
    import subprocess
    import sys

    if platform.libc_ver()[0] != "glibc" or platform.libc_ver()[1] < "2.33":
        pytest.skip(f"needs glibc >= 2.33 for mallinfo2 ({platform.libc_ver()})")
    code = """
import ctypes, sys
from attanet_ros.common.malloc_tuning import tune_for_frames, trims_heap, trim_heap
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                               "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
said = tune_for_frames() if sys.argv[1] == "tuned" else "defaults"
size = 6 * 1024 * 1024
before = libc.mallinfo2().hblks
block = libc.malloc(size)
mapped = libc.mallinfo2().hblks - before
libc.free(block)
kept = libc.mallinfo2().fordblks >= size
trimmed = trim_heap()
print(said)
print(mapped, kept, trims_heap(), trimmed, libc.mallinfo2().fordblks < size)
"""
    names = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES")
    env = {k: v for k, v in os.environ.items() if k not in names}

    def run(mode, **extra):
        out = subprocess.run([sys.executable, "-c", code, mode], env={**env, **extra}, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        said, rest = out.stdout.rstrip("\n").split("\n")
        return said, rest.split()

    said, rest = run("tuned")
    assert said == "mmap threshold 32 MiB, trim threshold 256 MiB"
    assert rest == ["0", "True", "True", "True", "True"], rest  # from the heap, kept after free, trimmed on demand
    said, rest = run("defaults")
    assert rest[:3] == ["1", "False", "True"], rest  # glibc's own: a mapping of its own, gone on free
    said, rest = run("tuned", MALLOC_MMAP_THRESHOLD_="65536")
    assert said.startswith("left to the user") and rest[0] == "1" and rest[2] == "False", (said, rest)
