"""How the int8 copy is made (``Int8Recipe``): the layers kept in fp32 really are fp32 in the written file."""

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from onnx_files import conv_weight_ints

from attanet_model import default_model_path, load_checkpoint
from attanet_model.onnx_export import export_onnx
from attanet_model.quantize import (
    CALIBRATION_DIR,
    Int8Recipe,
    classifier_convs,
    quantize_int8,
    read_images,
    stem_nodes,
)


@pytest.fixture(scope="module")
def fp32_model(tmp_path_factory):
    model, meta, _ = load_checkpoint(default_model_path())
    return export_onnx(model, meta, tmp_path_factory.mktemp("recipe") / "m.onnx", argmax=True), meta


def conv_inputs(path):
    """Per Conv node: (op feeding its data input, its weight as written: an initializer array or the op
    making it, the ops reading its output)."""
    graph = onnx.load(str(path)).graph
    producer = {out: node.op_type for node in graph.node for out in node.output}
    readers = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, set()).add(node.op_type)
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    return {
        n.name: (producer.get(n.input[0]), weights.get(n.input[1], producer.get(n.input[1])), readers[n.output[0]])
        for n in graph.node
        if n.op_type == "Conv"
    }


def first_conv(path):
    graph = onnx.load(str(path)).graph
    (stem,) = [n.name for n in graph.node if n.op_type == "Conv" and n.name in stem_nodes(onnx.load(str(path)))]
    return stem


def test_the_classifier_and_the_stem_are_found_by_the_graphs_shape(fp32_model):
    fp32, _ = fp32_model
    graph = onnx.load(str(fp32)).graph
    (classifier,) = classifier_convs(onnx.load(str(fp32)))
    convs = [n for n in graph.node if n.op_type == "Conv"]
    stem = first_conv(fp32)
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    by_name = {n.name: n for n in convs}
    assert weights[by_name[classifier].input[1]].shape[0] == 19  # one output channel per class
    assert weights[by_name[stem].input[1]].shape[1] == 3  # reads the BGR image
    assert stem == convs[0].name and classifier == convs[-1].name


def test_layers_kept_fp32_keep_their_fp32_weights_and_inputs(fp32_model, tmp_path):
    fp32, meta = fp32_model
    frames = read_images(CALIBRATION_DIR)[:2]
    reference = conv_inputs(fp32)
    classifier, stem = classifier_convs(onnx.load(str(fp32)))[0], first_conv(fp32)
    kept = [classifier, stem]
    recipe = Int8Recipe(fp32_classifier=True, fp32_first_conv=True)
    int8 = conv_inputs(quantize_int8(fp32, tmp_path / "kept.int8.onnx", meta, frames, (64, 128), recipe))
    for name in kept:
        weight = int8[name][1]
        assert weight.dtype == np.float32 and np.array_equal(weight, reference[name][1]), name
    assert int8[stem][0] == "Pad"  # the image itself, not a quantized copy
    assert "QuantizeLinear" not in int8[classifier][2]  # the logits are not rounded to 256 levels
    quantized = [name for name in int8 if name not in kept]
    assert len(quantized) == len(reference) - 2
    assert all(int8[name][:2] == ("DequantizeLinear", "DequantizeLinear") for name in quantized)
    # and without the recipe asking, those two are int8 like the rest
    plain = conv_inputs(quantize_int8(fp32, tmp_path / "plain.int8.onnx", meta, frames, (64, 128), Int8Recipe()))
    assert all(plain[name][:2] == ("DequantizeLinear", "DequantizeLinear") for name in kept)
    assert "QuantizeLinear" in plain[classifier][2]


def test_an_unknown_calibration_method_is_named(fp32_model, tmp_path):
    fp32, meta = fp32_model
    with pytest.raises(ValueError, match="int8 calibration 'kl' is not one of minmax, percentile, entropy"):
        quantize_int8(fp32, tmp_path / "x.onnx", meta, read_images(CALIBRATION_DIR)[:1], (64, 128), Int8Recipe("kl"))


def test_seven_bit_weights_stay_in_the_range_avx2_int8_kernels_cannot_saturate(fp32_model, tmp_path):
    """CPUs without VNNI sum two u8 x s8 products in int16 (vpmaddubsw): 2 x 255 x 127 overflows it,
    2 x 255 x 64 = 32640 does not. ``weight_bits=7`` writes every Conv weight in [-64, 64] (symmetric), activations
    unchanged."""
    fp32, meta = fp32_model
    frames = read_images(CALIBRATION_DIR)[:2]
    wide = conv_weight_ints(quantize_int8(fp32, tmp_path / "w8.onnx", meta, frames, (64, 128), Int8Recipe()))
    narrow_path = quantize_int8(fp32, tmp_path / "w7.onnx", meta, frames, (64, 128), Int8Recipe(weight_bits=7))
    narrow = conv_weight_ints(narrow_path)
    assert len(narrow) == len(wide) >= 10 and all(w.dtype == np.int8 for w in narrow)
    assert max(int(np.abs(w.astype(np.int16)).max()) for w in wide) == 127  # per-channel symmetric: full range
    assert max(int(np.abs(w.astype(np.int16)).max()) for w in narrow) == 64  # the whole 7-bit range, no more
    assert 2 * 255 * 64 <= np.iinfo(np.int16).max < 2 * 255 * 127
    # activations are still 8-bit: the same uint8 QuantizeLinear on the image-side inputs
    initializers = onnx.load(str(narrow_path)).graph.initializer
    assert any(t.data_type == onnx.TensorProto.UINT8 for t in initializers), "activations are quantized to uint8"


def test_a_weight_width_other_than_8_or_7_is_named(fp32_model, tmp_path):
    fp32, meta = fp32_model
    with pytest.raises(ValueError, match="int8 weight bits must be one of 8, 7, got 6"):
        quantize_int8(
            fp32, tmp_path / "x.onnx", meta, read_images(CALIBRATION_DIR)[:1], (64, 128), Int8Recipe(weight_bits=6)
        )
