"""The GPU fast path's logic, run on the CPU: same labels as the OpenCV path, batching, caches."""

import numpy as np
import pytest
import torch

from attanet_model import ModelMeta, Segmenter, build_model, save_checkpoint
from attanet_model.device_pipeline import DevicePipeline, ShapeCache
from attanet_model.layers import ConvBNReLU
from attanet_model.network import SegmentationOutput
from attanet_model.preprocess import SizePlan, size_plan


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("attanet_light").eval()
    meta = ModelMeta.for_model(model, "attanet_light")
    path = save_checkpoint(tmp_path_factory.mktemp("dp") / "m.pt", model, meta)
    pipeline = DevicePipeline(model, meta.mean, meta.std, lambda h, w: size_plan((h, w), 0.5))
    return pipeline, Segmenter(path)


def same_size(h: int, w: int) -> SizePlan:
    return SizePlan((h, w), (h, w), (h, w))


def frames(b, h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (b, h, w, 3), dtype=np.uint8)


def test_device_path_matches_the_opencv_path(setup):
    pipeline, segmenter = setup
    batch = frames(2, 256, 512)
    labels, confidence = pipeline(batch)
    assert labels.shape == (2, 256, 512) and labels.dtype == np.uint8
    assert confidence.shape == (2, 256, 512) and confidence.dtype == np.float32
    for i in range(2):
        reference = segmenter.segment(batch[i])
        assert (labels[i] == reference.labels).mean() > 0.99
        np.testing.assert_allclose(confidence[i], reference.confidence, atol=0.02)


def test_labels_only_pipeline_gives_the_same_labels(setup):
    pipeline, _ = setup
    labels_only = DevicePipeline(
        pipeline.model, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), pipeline.plan, confidence=False
    )
    batch = frames(2, 256, 512, seed=4)
    labels, confidence = labels_only(batch)
    assert confidence is None and "confidence" not in labels_only.staging.get(batch.shape)
    np.testing.assert_array_equal(labels, pipeline(batch)[0])
    single, none = labels_only(batch[0])
    assert none is None and np.array_equal(single, labels[0])


def test_frames_written_into_the_input_buffer_skip_the_host_copy(setup):
    pipeline, _ = setup
    frame = frames(1, 96, 192, seed=8)[0]
    expected, _ = pipeline(frame.copy())
    buffer = pipeline.input_buffer(frame.shape)
    assert buffer.shape == frame.shape and buffer.dtype == np.uint8
    buffer[...] = frame  # e.g. a decoder writing its output here
    before = pipeline.zero_copy_calls
    labels, _ = pipeline(buffer)
    np.testing.assert_array_equal(labels, expected)
    assert pipeline.zero_copy_calls == before + 1
    pipeline(frame.copy())  # an ordinary array is copied in as before
    assert pipeline.zero_copy_calls == before + 1
    batch = pipeline.input_buffer((2, 96, 192, 3))
    batch[...] = frames(2, 96, 192, seed=9)
    assert pipeline(batch)[0].shape == (2, 96, 192) and pipeline.zero_copy_calls == before + 2
    with pytest.raises(ValueError, match="B x H x W x 3 or H x W x 3"):
        pipeline.input_buffer((96, 192))


def test_copy_false_returns_the_output_buffers_until_the_next_call(setup):
    pipeline, _ = setup
    a, b = frames(1, 96, 192, seed=10)[0], frames(1, 96, 192, seed=11)[0]
    expected_a, conf_a = pipeline(a)
    expected_b, _ = pipeline(b)
    assert not np.array_equal(expected_a, expected_b)
    view, conf_view = pipeline(a, copy=False)
    np.testing.assert_array_equal(view, expected_a)
    np.testing.assert_allclose(conf_view, conf_a)
    again, _ = pipeline(a, copy=False)
    assert np.shares_memory(view, again)  # no new array: the pipeline's own buffer
    fresh, _ = pipeline(a)
    assert not np.shares_memory(fresh, view)
    pipeline(b, copy=False)  # the next call of that shape overwrites what the view shows
    np.testing.assert_array_equal(view, expected_b)


def test_single_frame_and_bad_input(setup):
    pipeline, _ = setup
    labels, confidence = pipeline(frames(1, 128, 256)[0])
    assert labels.shape == (128, 256)
    with pytest.raises(ValueError, match="B x H x W x 3 uint8"):
        pipeline(np.zeros((1, 64, 64, 3), np.float32))


def test_staging_buffers_are_reused_per_shape(setup):
    pipeline, _ = setup
    before = pipeline.staging.builds
    pipeline(frames(1, 64, 128))
    pipeline(frames(1, 64, 128, seed=1))
    assert pipeline.staging.builds == before + 1
    first, _ = pipeline(frames(1, 64, 128, seed=2))
    second, _ = pipeline(frames(1, 64, 128, seed=3))
    assert first is not second  # results are copies, not views of the reused buffer


def test_shape_cache_is_a_bounded_lru():
    built = []
    cache = ShapeCache(lambda key: built.append(key) or f"state{key}", capacity=2)
    assert cache.get(1) == "state1" and cache.get(2) == "state2" and cache.get(1) == "state1"
    cache.get(3)  # evicts 2, the least recently used
    assert 2 not in cache and 1 in cache and len(cache) == 2
    cache.get(2)
    assert built == [1, 2, 3, 2] and cache.builds == 4
    with pytest.raises(ValueError):
        ShapeCache(lambda k: k, capacity=0)


def test_precision_handling_on_cpu():
    model = build_model("attanet_light")
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        DevicePipeline(model, (0, 0, 0), (1, 1, 1), same_size, precision="fp16")
    with pytest.raises(ValueError, match="precision 'int4'"):
        DevicePipeline(model, (0, 0, 0), (1, 1, 1), same_size, precision="int4")
    pipeline = DevicePipeline(model, (0.5, 0.5, 0.5), (0.2, 0.2, 0.2), same_size, precision="bf16", cuda_graphs=True)
    assert pipeline.graphs is None  # graphs are CUDA-only; the CPU runs eagerly
    labels, _ = pipeline(frames(1, 64, 64))
    assert labels.shape == (1, 64, 64)


class TinyNet(torch.nn.Module):
    """One ConvBNReLU and a classifier with AttaNet's output contract (a SegmentationOutput)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = ConvBNReLU(3, 8, 3)
        self.classifier = torch.nn.Conv2d(8, 5, 1)

    def forward(self, x: torch.Tensor) -> SegmentationOutput:
        return SegmentationOutput(self.classifier(self.features(x)))


def test_compiled_pipeline_gives_the_eager_labels():
    # a small conv + BN stand-in for the network keeps Inductor's CPU compile to seconds; the
    # whole forward (BGR flip, resize, normalize, network, argmax, label resize) is compiled
    torch.manual_seed(0)
    net = TinyNet()
    net.features[1].running_mean.uniform_(-0.5, 0.5)
    net.features[1].running_var.uniform_(0.5, 2.0)
    size = lambda h, w: SizePlan((h, w), (h // 2, w // 2), (h, w))  # noqa: E731
    eager = DevicePipeline(net, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), size, confidence=True)
    compiled = DevicePipeline(
        net, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), size, confidence=True, compile_mode="default"
    )
    assert compiled.compute is not compiled.forward
    batch = frames(2, 48, 80, seed=3)
    a, ca = eager(batch)
    b, cb = compiled(batch)
    assert len(np.unique(a)) > 1 and a.shape == (2, 48, 80)
    np.testing.assert_array_equal(b, a)
    np.testing.assert_allclose(cb, ca, atol=1e-5)
    with pytest.raises(ValueError, match="compile mode 'fastest' is not one of"):
        DevicePipeline(net, (0, 0, 0), (1, 1, 1), size, compile_mode="fastest")


def test_inductor_graphs_step_aside_for_the_pipelines_own():
    from attanet_model.device_pipeline import inductor_mode

    assert inductor_mode("max-autotune", own_graphs=True) == "max-autotune-no-cudagraphs"
    assert inductor_mode("reduce-overhead", own_graphs=True) == "default"
    assert inductor_mode("max-autotune", own_graphs=False) == "max-autotune"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here); CPU logic tested above")
def test_cuda_graph_replay_matches_eager():
    torch.manual_seed(0)
    model = build_model("attanet_r18").eval()
    size = lambda h, w: size_plan((h, w), 0.5)  # noqa: E731
    eager = DevicePipeline(model, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), size, "cuda", "fp16")
    graphed = DevicePipeline(
        model, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), size, "cuda", "fp16", cuda_graphs=True
    )
    batch = frames(1, 1024, 2048)
    a, _ = eager(batch)
    b, _ = graphed(batch)
    b2, _ = graphed(frames(1, 1024, 2048, seed=5))
    assert (a == b).mean() > 0.999 and graphed.graphs.builds == 1
    assert not np.array_equal(b, b2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here); CPU logic tested above")
def test_compiled_kernels_inside_the_cuda_graph_match_eager():
    torch.manual_seed(0)
    model = build_model("attanet_light").eval()
    size = lambda h, w: size_plan((h, w), 0.5)  # noqa: E731
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    eager = DevicePipeline(model, mean, std, size, "cuda", "fp16", confidence=False)
    compiled = DevicePipeline(
        model, mean, std, size, "cuda", "fp16", cuda_graphs=True, confidence=False, compile_mode="default"
    )
    batch = frames(1, 512, 1024)
    a, _ = eager(batch)
    b, _ = compiled(batch)
    assert (a == b).mean() > 0.999 and compiled.graphs.builds == 1
