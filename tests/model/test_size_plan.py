"""A frame's size plan (camera -> network -> output), decided by the Segmenter for every path,
and the same timing stages on every path."""

import cv2
import numpy as np
import pytest
import torch
from onnx_files import write_tiny_onnx

from attanet_model import AttentionQuery, ModelMeta, Segmenter, build_model, save_checkpoint
from attanet_model.device_pipeline import DevicePipeline
from attanet_model.preprocess import SizePlan, resize_frame, size_plan
from attanet_model.segmenter import TIMING_STAGES


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("attanet_light").eval()
    meta = ModelMeta.for_model(model, "attanet_light")
    tmp = tmp_path_factory.mktemp("plan")
    return save_checkpoint(tmp / "light.pt", model, meta), write_tiny_onnx(meta, tmp / "tiny.onnx")


def frame(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def on_the_device_path(segmenter: Segmenter) -> Segmenter:
    """``segmenter`` with the frame path torch + CUDA takes (``DevicePipeline``), run on the CPU:
    everything but CUDA graphs, so its sizes and timings are tested without a GPU."""
    engine = segmenter._engine
    segmenter._pipeline = DevicePipeline(engine.model, segmenter.meta.mean, segmenter.meta.std, segmenter._device_plan)
    assert segmenter.batches_frames
    return segmenter


def test_size_plan_at_scales_fixed_sizes_odd_sizes_and_both_outputs():
    assert size_plan((1024, 2048)) == SizePlan((1024, 2048), (512, 1024), (1024, 2048))  # the paper's 0.5
    assert size_plan((1024, 2048), output="network") == SizePlan((1024, 2048), (512, 1024), (512, 1024))
    at_one = size_plan((256, 512), 1.0)
    assert at_one == SizePlan((256, 512), (256, 512), (256, 512))
    assert not at_one.resizes_input and not at_one.resizes_output
    odd = size_plan((97, 131), 0.5)  # 48.5 x 65.5 -> multiples of 32
    assert odd == SizePlan((97, 131), (64, 64), (97, 131)) and odd.resizes_input and odd.resizes_output
    odd_at_one = size_plan((97, 131), 1.0, output="network")
    assert odd_at_one == SizePlan((97, 131), (96, 128), (96, 128)) and not odd_at_one.resizes_output
    fixed = size_plan((480, 640), 0.5, size=(500, 1000))  # a fixed size wins over the scale, rounded to 32
    assert fixed == SizePlan((480, 640), (512, 992), (480, 640))
    assert size_plan((480, 640), size=(512, 992), output="network").output_hw == (512, 992)
    assert size_plan((8, 8)).network_hw == (32, 32)  # never below the coarsest stride
    with pytest.raises(ValueError, match="output 'camera' is not supported; choose one of input, network"):
        size_plan((64, 64), output="camera")
    with pytest.raises(ValueError, match="input scale must be in"):
        size_plan((64, 64), 0)


def test_the_segmenter_plans_with_its_own_settings(model_files):
    checkpoint, _ = model_files
    assert Segmenter(checkpoint).plan(256, 512) == SizePlan((256, 512), (128, 256), (256, 512))
    network = Segmenter(checkpoint, input_scale=0.75, output="network")
    assert network.plan(256, 512) == SizePlan((256, 512), (192, 384), (192, 384))
    assert network.network_size(256, 512) == (192, 384)
    with pytest.raises(ValueError, match="output 'labels' is not supported"):
        Segmenter(checkpoint, output="labels")


@pytest.mark.parametrize(
    "backend,settings,hw",
    [
        ("torch", {}, (128, 256)),
        ("torch", {}, (97, 131)),
        ("torch", {"input_scale": 0.75}, (128, 256)),
        ("torch", {"input_size": (96, 160)}, (97, 131)),
        ("onnxruntime", {}, (97, 131)),
        ("onnxruntime", {"input_size": (96, 160)}, (128, 256)),
    ],
)
def test_network_output_is_the_frame_resized_once_and_segmented_at_scale_1(model_files, backend, settings, hw):
    """What the node did before the Segmenter owned the sizes: resize the frame itself (OpenCV
    bilinear), then segment it at scale 1. The labels, confidence and attention must not change."""
    path = model_files[0] if backend == "torch" else model_files[1]
    image = frame(*hw, seed=hw[0])
    network = Segmenter(path, output="network", **settings)
    plan = network.plan(*hw)
    result = network.segment(image)
    small = cv2.resize(image, plan.network_hw[::-1], interpolation=cv2.INTER_LINEAR)
    reference = Segmenter(path, input_scale=1.0).segment(small)
    assert result.labels.shape == plan.network_hw == plan.output_hw
    np.testing.assert_array_equal(result.labels, reference.labels)
    np.testing.assert_array_equal(result.confidence, reference.confidence)
    np.testing.assert_array_equal(result.frame, small)  # the frame an overlay is drawn on
    assert set(result.timings_ms) == set(TIMING_STAGES)
    at_input = Segmenter(path, **settings).segment(image)
    assert at_input.labels.shape == hw and at_input.frame is image


def test_attention_at_network_output_is_in_output_pixels(model_files):
    checkpoint, _ = model_files
    image = frame(128, 256, seed=5)
    result = Segmenter(checkpoint, output="network").segment(image, AttentionQuery(x=100, y=20))
    reference = Segmenter(checkpoint, input_scale=1.0).segment(resize_frame(image, (64, 128)), AttentionQuery(100, 20))
    assert result.attention.shape == (64, 128)
    np.testing.assert_array_equal(result.attention, reference.attention)


def test_every_path_reports_the_same_timing_stages(model_files):
    checkpoint, onnx_file = model_files
    image = frame(96, 160, seed=2)
    results = {
        "torch": Segmenter(checkpoint).segment(image),
        "torch batch": Segmenter(checkpoint).segment_batch([image, image])[1],
        "onnxruntime": Segmenter(onnx_file).segment(image),
        "device": on_the_device_path(Segmenter(checkpoint)).segment(image),
        "device batch": on_the_device_path(Segmenter(checkpoint)).segment_batch([image, image])[0],
    }
    for path, result in results.items():
        assert tuple(result.timings_ms) == TIMING_STAGES, path
        assert all(ms >= 0 for ms in result.timings_ms.values()), path
    # the device resizes inside its one timed call: nothing is left for the host afterwards
    assert results["device"].timings_ms["postprocess"] == 0.0


@pytest.mark.parametrize("output", ["input", "network"])
def test_the_device_path_follows_the_same_plan(model_files, output):
    checkpoint, _ = model_files
    images = [frame(128, 256, seed=s) for s in (7, 8)]
    host = Segmenter(checkpoint, output=output)
    device = on_the_device_path(Segmenter(checkpoint, output=output))
    plan = host.plan(128, 256)
    batch = device.segment_batch(images)
    for image, batched in zip(images, batch, strict=True):
        single, reference = device.segment(image), host.segment(image)
        assert batched.labels.shape == single.labels.shape == plan.output_hw
        np.testing.assert_array_equal(batched.labels, single.labels)
        np.testing.assert_array_equal(batched.frame, reference.frame)
        # network output: the same resized frame through the same network; input output: torch's
        # bilinear resize on the device instead of OpenCV's on the host, a few pixels apart
        assert (single.labels == reference.labels).mean() > (0.999 if output == "network" else 0.99)


def test_device_pipeline_output_size_comes_from_the_plan(model_files):
    checkpoint, _ = model_files
    model = Segmenter(checkpoint)._engine.model
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    at_input = DevicePipeline(model, mean, std, lambda h, w: size_plan((h, w), 0.5))
    at_network = DevicePipeline(model, mean, std, lambda h, w: size_plan((h, w), 0.5, output="network"))
    batch = np.stack([frame(128, 256, seed=9)])
    big, _ = at_input(batch)
    small, confidence = at_network(batch)
    assert small.shape == confidence.shape == (1, 64, 128) and big.shape == (1, 128, 256)
    np.testing.assert_array_equal(big[:, ::2, ::2], small)  # a 2x nearest upsample, undone
    old_style = DevicePipeline(model, mean, std, lambda h, w: (h // 2, w // 2))
    with pytest.raises(TypeError, match=r"plan\(128, 256\) must return a SizePlan .* got tuple"):
        old_style(batch)
