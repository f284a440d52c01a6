"""Several cameras, ROS-free: parameter checks, the shared frame queues, batching, staleness."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from ros_harness import street_image

from attanet_model import Segmenter
from attanet_ros.common.frame_pipeline import FrameOptions, FramePipeline, batch_groups
from attanet_ros.node.diagnostics import OK, WARN, stale_report, summary_report
from attanet_ros.node.frame_queue import FrameQueues
from attanet_ros.node.params import ParamError, settings_from_values


def test_camera_names_are_checked():
    assert settings_from_values({}).cameras == ()
    assert settings_from_values({"cameras": ["front", "rear_left"]}).cameras == ("front", "rear_left")
    with pytest.raises(ParamError, match=r"invalid camera name\(s\) \['front/left', '2nd'\]"):
        settings_from_values({"cameras": ["front/left", "2nd"]})
    with pytest.raises(ParamError, match=r"names camera\(s\) \['front'\] more than once"):
        settings_from_values({"cameras": ["front", "rear", "front"]})
    with pytest.raises(ParamError, match="camera_stale_after=0.0 must be in"):
        settings_from_values({"camera_stale_after": 0.0})


def test_trt_cache_is_refused_where_tensorrt_does_not_run():
    with pytest.raises(ParamError, match="trt_cache='/opt/trt' is for backend 'onnxruntime' on device 'cuda'"):
        settings_from_values({"trt_cache": "/opt/trt", "backend": "onnxruntime", "device": "cpu"})
    gpu = settings_from_values({"trt_cache": "/opt/trt", "model_path": "/opt/m.onnx", "device": "cuda"})
    assert gpu.trt_cache == "/opt/trt" and not gpu.allow_fallback


def test_live_queues_keep_each_cameras_newest_frame_and_take_them_together():
    queues = FrameQueues(["front", "left", "rear"], "live")
    assert queues.put("front", "f1") == 0
    assert queues.put("front", "f2") == 1  # replaced, counted
    assert queues.put("rear", "r1") == 0
    assert queues.take(timeout=0) == [("front", "f2"), ("rear", "r1")]  # camera order, one each
    assert queues.take(timeout=0.01) == []


def test_replay_queues_block_only_the_full_camera_and_keep_order():
    queues = FrameQueues(["front", "rear"], "replay", capacity=2)
    queues.put("front", 1)
    queues.put("front", 2)
    blocked = threading.Thread(target=queues.put, args=("front", 3))
    blocked.start()
    queues.put("rear", "a")  # another camera is not held up by front's full queue
    assert blocked.is_alive()
    assert queues.take(timeout=0) == [("front", 1), ("rear", "a")]
    blocked.join(timeout=5)
    assert not blocked.is_alive() and len(queues) == 2
    assert queues.take(timeout=0) == [("front", 2)]
    assert queues.take(timeout=0) == [("front", 3)]
    queues.put("front", 4)
    queues.put("front", 5)
    late = threading.Thread(target=queues.put, args=("front", 6))
    late.start()
    queues.close()  # wakes the blocked put; what was queued can still be drained
    late.join(timeout=5)
    assert not late.is_alive()
    assert queues.take(timeout=0) == [("front", 4)]


def test_batch_groups_same_size_frames_only_when_the_segmenter_batches():
    a, b = (96, 160, 3), (128, 256, 3)
    keys = [(a, False), (b, False), (a, False), (a, True), (b, False)]
    assert batch_groups(keys, batched=True) == [[0, 2], [1, 4], [3]]  # attention frames go alone
    assert batch_groups(keys, batched=False) == [[0], [1], [2], [3], [4]]
    assert batch_groups([], batched=True) == []


def test_run_many_on_the_cpu_matches_run_frame_by_frame():
    pipeline = FramePipeline(Segmenter())
    assert not pipeline.segmenter.batches_frames
    options = FrameOptions(overlay_alpha=0.3)
    frames = [
        (street_image(96, 160, seed=1), frozenset({"labels", "color"})),
        (street_image(128, 256, seed=2), frozenset({"labels", "overlay"})),
        (street_image(96, 160, seed=3), frozenset({"labels"})),
    ]
    outputs, batches = pipeline.run_many(frames, options)
    assert batches == [1, 1, 1]
    for (image, wanted), out in zip(frames, outputs, strict=True):
        alone = pipeline.run(image, wanted, options)
        np.testing.assert_array_equal(out.labels, alone.labels)
        for name in ("color", "overlay"):
            assert (getattr(out, name) is None) == (name not in wanted)
        assert out.size == image.shape[:2]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the batched forward is the GPU frame path; no CUDA here")
def test_run_many_on_the_gpu_batches_same_size_frames_and_agrees_with_single_frames():
    pipeline = FramePipeline(Segmenter(device="cuda"))
    assert pipeline.segmenter.batches_frames
    frames = [
        (street_image(*hw, seed=i), frozenset({"labels"})) for i, hw in enumerate([(256, 512)] * 3 + [(128, 256)])
    ]
    outputs, batches = pipeline.run_many(frames, FrameOptions())
    assert sorted(batches) == [1, 3]
    for (image, wanted), out in zip(frames, outputs, strict=True):
        assert (out.labels == pipeline.run(image, wanted, FrameOptions()).labels).mean() > 0.999


def test_staleness_and_the_summary_over_cameras():
    level, message, values = stale_report(OK, "10.0 fps", [("frames_received", "5")], age_s=0.4, stale_after_s=2.0)
    assert (level, message) == (OK, "10.0 fps") and dict(values)["stale"] == "false"
    level, message, values = stale_report(OK, "10.0 fps", [], age_s=3.25, stale_after_s=2.0)
    assert level == WARN and message == "stale: no frame for 3.2 s (reported after 2 s)"
    assert dict(values)["seconds_since_last_frame"] == "3.2"
    # a warning found before going stale (here a camera clock ahead) is kept, after the stale sentence
    level, message, _ = stale_report(WARN, "camera clock ahead by 2000 ms", [], age_s=3.25, stale_after_s=2.0)
    assert level == WARN and message == "stale: no frame for 3.2 s (reported after 2 s); camera clock ahead by 2000 ms"
    never = stale_report(OK, "waiting for images", [], age_s=None, stale_after_s=2.0)
    assert never[:2] == (OK, "waiting for images") and dict(never[2])["seconds_since_last_frame"] == "nan"
    level, message, values = summary_report(
        [("front", OK, "10 fps"), ("left", WARN, "stale: no frame for 3.0 s"), ("rear", OK, "5 fps")], {"arch": "x"}
    )
    assert level == WARN and message == "left: stale: no frame for 3.0 s"
    assert dict(values) == {"cameras": "front,left,rear", "cameras_stale": "left", "arch": "x"}
    assert summary_report([("front", OK, "10 fps")], {})[:2] == (OK, "1 camera(s) OK")
