"""backend/precision "auto": picks by measurement (injected timings and CPUs, and one real probe on a
tiny model), refuses candidates whose labels disagree with fp32, caches its decision, and never
overrides an explicit choice."""

import json
import logging

import numpy as np
import pytest
from cpu_kinds import AMX_CPU, OLD_CPU

from attanet_model import AttentionQuery, Segmenter, build_model, default_model_path, save_checkpoint
from attanet_model.auto_backend import (
    ORDER,
    AutoSettings,
    Candidate,
    DecisionCache,
    cpu_candidates,
    median_ratios,
    pick,
    probe_enabled,
)
from attanet_model.checkpoint import ModelMeta
from attanet_model.cpu_capabilities import CpuCapabilities, this_cpu

pytestmark = pytest.mark.skipif(this_cpu().openvino is None, reason="openvino is not installed")


# the probe's network size in these tests: the bundled model's own for the calibration frames (at
# other sizes its int8 copy, calibrated at this one, can fall below the bar and be refused)
SMALL = (256, 512)


def fake_timer(ms_by_name):
    """A timer that runs nothing and reports these ms; records which candidates it was asked about."""

    def timer(runs):
        timer.asked = sorted(runs)
        return {name: ms_by_name.get(name, 1000.0) for name in runs}

    timer.asked = []
    return timer


def refusing_timer(runs):
    raise AssertionError(f"the probe ran ({sorted(runs)}) where it must not")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("attanet-cache")


def test_candidates_follow_the_cpu_the_file_and_the_explicit_choices():
    names = [c.name for c in cpu_candidates(AMX_CPU, checkpoint=True, int8_file=False, openvino=True)]
    assert names == [c.name for c in ORDER]
    names = [c.name for c in cpu_candidates(OLD_CPU, checkpoint=True, int8_file=False, openvino=True)]
    assert names == ["torch fp32", "onnxruntime fp32", "onnxruntime int8", "openvino fp32", "openvino int8"]
    assert [c.name for c in cpu_candidates(AMX_CPU, False, True, openvino=True)] == [
        "onnxruntime int8",
        "openvino int8",
    ]
    assert [c.name for c in cpu_candidates(AMX_CPU, True, False, "openvino", "auto", openvino=False)] == []
    assert [c.name for c in cpu_candidates(AMX_CPU, True, False, "auto", "bf16", openvino=True)] == [
        "torch bf16",
        "openvino bf16",
    ]


def test_pick_takes_the_fastest_candidate_whose_labels_agree_and_names_the_refused():
    fast, slow = Candidate("openvino", "int8"), Candidate("torch", "fp32")
    assert pick({fast: 10.0, slow: 50.0}, {fast: 0.997, slow: 1.0}) == (fast, [])
    choice, refused = pick({fast: 10.0, slow: 50.0}, {fast: 0.99, slow: 1.0})
    assert choice == slow
    assert refused == ["openvino int8 refused: its labels agree with fp32 on 99.00% of pixels, below 99.5%"]
    with pytest.raises(ValueError, match="every candidate was refused"):
        pick({fast: 10.0}, {fast: 0.5})


def test_round_robin_ratios_are_taken_per_round():
    # a load spike in round 2 slows both alike: the ratio stays 0.5
    samples = {"a": [100.0, 400.0, 100.0], "b": [50.0, 200.0, 50.0]}
    assert median_ratios(samples, "a") == {"a": 1.0, "b": 0.5}


def test_the_probe_can_be_switched_off_by_environment():
    assert probe_enabled({}) and probe_enabled({"ATTANET_AUTO_PROBE": "1"})
    assert not probe_enabled({"ATTANET_AUTO_PROBE": "0"}) and not probe_enabled({"ATTANET_AUTO_PROBE": "off"})


def test_auto_picks_the_measured_fastest_caches_it_and_reuses_it(cache, caplog):
    timer = fake_timer({"openvino fp32": 5.0, "openvino int8": 9.0, "torch fp32": 50.0})
    settings = AutoSettings(probe=True, network_hw=SMALL, timer=timer, cpu=OLD_CPU)
    with caplog.at_level(logging.INFO, logger="attanet_model.engine_choice"):
        seg = Segmenter(cache_dir=cache, auto=settings)
    assert timer.asked == sorted(
        ["torch fp32", "onnxruntime fp32", "onnxruntime int8", "openvino fp32", "openvino int8"]
    )
    assert (seg.backend, seg.precision) == ("openvino", "fp32")
    assert seg.auto_decision.reason.startswith("auto picked openvino fp32: fastest at 256x512 on this CPU")
    assert "openvino fp32 5.0 ms, labels " in seg.auto_decision.reason
    assert seg.auto_decision.reason in caplog.text and seg.provider.endswith("[auto: openvino fp32 chosen]")
    (entry,) = json.loads((cache / "auto-backend.json").read_text()).values()
    assert (entry["backend"], entry["precision"]) == ("openvino", "fp32")
    assert sorted(entry["agreement"]) == timer.asked  # every candidate's labels compared with fp32
    # the second start reads the decision: no probe
    again = Segmenter(
        cache_dir=cache, auto=AutoSettings(probe=True, network_hw=SMALL, timer=refusing_timer, cpu=OLD_CPU)
    )
    assert (again.backend, again.precision) == ("openvino", "fp32") and again.auto_decision.from_cache
    assert again.provider.endswith("[auto: openvino fp32 cached]")
    # another CPU is another key: measured again
    other = fake_timer({"torch bf16": 1.0})
    assert (
        Segmenter(cache_dir=cache, auto=AutoSettings(probe=True, network_hw=SMALL, timer=other, cpu=AMX_CPU)).backend
        == "torch"
    )
    assert "torch bf16" in other.asked and len(json.loads((cache / "auto-backend.json").read_text())) == 2


def test_an_explicit_choice_wins_over_auto(cache):
    settings = AutoSettings(probe=True, network_hw=SMALL, timer=refusing_timer, cpu=AMX_CPU)
    seg = Segmenter(backend="torch", precision="fp32", cache_dir=cache, auto=settings)
    assert (seg.backend, seg.precision, seg.auto_decision) == ("torch", "fp32", None)
    # an explicit backend narrows auto's precision to that backend's candidates
    timer = fake_timer({"openvino int8": 1.0})
    seg = Segmenter(
        backend="openvino", cache_dir=cache, auto=AutoSettings(probe=True, network_hw=SMALL, timer=timer, cpu=OLD_CPU)
    )
    assert timer.asked == ["openvino fp32", "openvino int8"]
    # the bundled model's int8 is fastest here but agrees with fp32 on < 99.5 % of the agreement frames' pixels
    assert seg.precision == "fp32" and seg.auto_decision.refused[0].startswith(
        "openvino int8 refused: its labels agree"
    )
    # at a bar it passes, the fastest wins
    timer = fake_timer({"openvino int8": 1.0})
    settings = AutoSettings(probe=True, network_hw=SMALL, timer=timer, cpu=OLD_CPU, min_agreement=0.9, use_cache=False)
    assert Segmenter(backend="openvino", cache_dir=cache, auto=settings).precision == "int8"


def test_auto_without_bf16_or_amx_picks_the_fastest_available(cache):
    # bf16 would win on timings, but this CPU has no bf16: it is not even a candidate
    timer = fake_timer({"torch bf16": 1.0, "openvino bf16": 1.0, "onnxruntime int8": 7.0, "openvino int8": 8.0})
    seg = Segmenter(
        cache_dir=cache,
        auto=AutoSettings(probe=True, network_hw=SMALL, timer=timer, cpu=OLD_CPU, use_cache=False, min_agreement=0.9),
    )
    assert not any("bf16" in name for name in timer.asked)
    assert (seg.backend, seg.precision) == ("onnxruntime", "int8")


def test_probe_off_takes_the_fixed_order_and_measures_nothing(cache):
    seg = Segmenter(cache_dir=cache, auto=AutoSettings(probe=False, timer=refusing_timer))
    assert (seg.backend, seg.precision) == ("torch", "fp32")
    assert "probe off" in seg.auto_decision.reason


def test_auto_answers_attention_on_torch_when_it_picked_an_onnx_engine(cache):
    settings = AutoSettings(
        probe=True, network_hw=SMALL, timer=fake_timer({"openvino fp32": 1.0}), cpu=OLD_CPU, use_cache=False
    )
    seg = Segmenter(cache_dir=cache, auto=settings)
    assert seg.backend == "openvino"
    frame = np.random.default_rng(0).integers(0, 256, (128, 256, 3), dtype=np.uint8)
    result = seg.segment(frame, AttentionQuery(x=100, y=50))
    assert result.attention.shape == (128, 256) and "frames with an attention query: torch cpu fp32" in seg.provider
    # explicit openvino has no attention: said, not silently answered by another engine
    with pytest.raises(ValueError, match="SAM attention maps need the torch backend"):
        Segmenter(backend="openvino", precision="fp32", cache_dir=cache).segment(frame, AttentionQuery(x=1, y=1))


def test_an_unreadable_decision_cache_is_ignored_and_replaced(tmp_path):
    cache = DecisionCache(tmp_path)
    cache.path.write_text("{not json")
    assert cache.get("key") is None


def test_a_real_probe_on_a_tiny_model(tmp_path):
    model = build_model("attanet_light").eval()
    path = save_checkpoint(tmp_path / "tiny.pt", model, ModelMeta.for_model(model, "attanet_light"))
    settings = AutoSettings(probe=True, rounds=2, network_hw=(64, 128), min_agreement=0.0)
    seg = Segmenter(path, cache_dir=tmp_path / "cache", auto=settings)
    decision = seg.auto_decision
    expected = cpu_candidates(this_cpu(), checkpoint=True, int8_file=False)
    assert sorted(decision.ms) == sorted(c.name for c in expected)
    assert decision.candidate.name == min(decision.ms, key=decision.ms.get)  # nothing refused at bar 0
    assert (seg.backend, seg.precision) == (decision.backend, decision.precision)
    assert seg.segment(np.zeros((64, 128, 3), np.uint8)).labels.shape == (64, 128)


def test_the_probe_judges_agreement_on_frames_int8_was_not_calibrated_on(tmp_path, monkeypatch):
    """Agreement measured on the calibration frames is optimistic (the bundled light model: 99.50 % there,
    99.30 % on unseen frames): the probe compares labels on its own bundled frames."""
    import hashlib

    from attanet_model import quantize
    from attanet_model.auto_backend import AGREEMENT_DIR

    def digests(folder):
        return {hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.jpg")}

    assert len(digests(AGREEMENT_DIR)) == 6 and not digests(AGREEMENT_DIR) & digests(quantize.CALIBRATION_DIR)
    read = []
    real = quantize.read_images
    monkeypatch.setattr(quantize, "read_images", lambda folder, *a, **k: read.append(folder) or real(folder, *a, **k))
    model = build_model("attanet_light").eval()
    path = save_checkpoint(tmp_path / "tiny.pt", model, ModelMeta.for_model(model, "attanet_light"))
    settings = AutoSettings(probe=True, rounds=1, network_hw=(64, 128), min_agreement=0.0)
    Segmenter(path, cache_dir=tmp_path / "cache", auto=settings)
    assert read[0] == AGREEMENT_DIR  # the probe's frames ...
    assert all(folder == quantize.CALIBRATION_DIR for folder in read[1:])  # ... int8 calibrates on the others


def test_the_int8_weight_width_follows_the_cpus_int8_dot_product():
    assert AMX_CPU.int8_dot and AMX_CPU.int8_weight_bits == 8
    assert not OLD_CPU.int8_dot and OLD_CPU.int8_weight_bits == 7  # AVX2/AVX-512F without VNNI
    for flag in ("avx512_vnni", "avx_vnni"):
        assert CpuCapabilities("x", frozenset({"avx2", flag})).int8_weight_bits == 8


def test_an_int8_copy_is_quantized_for_the_cpu_that_runs_it_each_width_in_its_own_file(tmp_path):
    """Without VNNI the bundled model's int8 copy has 7-bit weights (``model.coarse_logits.int8w7.onnx``); with it,
    8-bit (``.int8.onnx``); one cache holds both, so a cache shared by two machines never hands one the other's."""
    from onnx_files import conv_weight_ints

    no_vnni = Segmenter(
        backend="onnxruntime", precision="int8", cache_dir=tmp_path, output="network", auto=AutoSettings(cpu=OLD_CPU)
    )
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert sorted(p.name for p in folder.glob("*.onnx")) == [
        "model.coarse_logits.int8w7.onnx",
        "model.coarse_logits.onnx",
    ]
    assert (
        max(int(abs(w.astype(np.int16)).max()) for w in conv_weight_ints(folder / "model.coarse_logits.int8w7.onnx"))
        == 64
    )
    vnni = Segmenter(
        backend="onnxruntime", precision="int8", cache_dir=tmp_path, output="network", auto=AutoSettings(cpu=AMX_CPU)
    )
    assert (folder / "model.coarse_logits.int8.onnx").is_file()
    assert (
        max(int(abs(w.astype(np.int16)).max()) for w in conv_weight_ints(folder / "model.coarse_logits.int8.onnx"))
        == 127
    )
    frame = np.random.default_rng(0).integers(0, 255, (128, 256, 3), np.uint8)
    assert no_vnni.segment(frame).labels.shape == vnni.segment(frame).labels.shape == (64, 128)


def test_auto_decides_at_the_cameras_network_size_when_the_frame_size_is_known(cache):
    """The bundled model runs at input scale 0.5: a 512x1024 camera is probed at 256x512, not at a 1024x2048
    frame's 512x1024 (int8's agreement with fp32 and the ranking both change with the size)."""
    timer = fake_timer({"onnxruntime fp32": 1.0})
    settings = AutoSettings(probe=True, timer=timer, cpu=OLD_CPU, use_cache=False, frame_hw=(512, 1024))
    assert Segmenter(cache_dir=cache, auto=settings).auto_decision.reason.startswith(
        "auto picked onnxruntime fp32: fastest at 256x512 on this CPU"
    )
    default = AutoSettings(probe=True, timer=fake_timer({"onnxruntime fp32": 1.0}), cpu=OLD_CPU, use_cache=False)
    assert "fastest at 512x1024 on this CPU" in Segmenter(cache_dir=cache, auto=default).auto_decision.reason


def test_a_candidate_that_fails_on_its_first_frames_is_skipped_and_named_not_fatal():
    """OpenVINO compiles on first use: a CPU whose flags promise bf16 to a runtime that then compiles f32 fails
    there, after the engine was built. The probe goes on with the rest and says why that one is missing."""
    from attanet_model.auto_backend import probe

    labels = np.zeros((4, 8), np.int64)

    class Works:
        def run(self, x, with_attention):
            return labels, None, None

    class FailsOnFirstRun:
        def run(self, x, with_attention):
            raise RuntimeError("compiled with inference precision f32, not bf16")

    good, bad = Candidate("onnxruntime", "fp32"), Candidate("openvino", "bf16")
    timer = fake_timer({"onnxruntime fp32": 3.0, "openvino bf16": 1.0})
    settings = AutoSettings(probe=True, timer=timer)
    inputs = [np.zeros((1, 3, 4, 8), np.float32)]
    decision = probe([good, bad], {good: Works(), bad: FailsOnFirstRun()}, inputs, [labels], settings, (4, 8))
    assert decision.candidate == good and timer.asked == ["onnxruntime fp32"]
    assert decision.refused == ["openvino bf16 skipped: compiled with inference precision f32, not bf16"]
    with pytest.raises(ValueError, match="auto: every candidate failed \\(openvino bf16 skipped: compiled"):
        probe([bad], {bad: FailsOnFirstRun()}, inputs, [labels], settings, (4, 8))


def test_an_eight_bit_int8_file_on_a_cpu_without_vnni_is_said_once_in_the_log(tmp_path, caplog):
    """The user's own int8 file runs as given; where its weights can saturate this CPU's kernels, the log says
    so (once) and how to make one for this CPU. A 7-bit file, or a CPU with VNNI, says nothing."""
    from attanet_model.model_files import ModelFiles, int8_weight_bits

    eight = ModelFiles(default_model_path(), tmp_path, 8).onnx(int8=True)
    seven = ModelFiles(default_model_path(), tmp_path, 7).onnx(int8=True)
    assert (int8_weight_bits(eight), int8_weight_bits(seven)) == (8, 7)

    def said():
        return [r for r in caplog.records if r.name == "attanet_model.model_files" and r.levelno >= logging.WARNING]

    with caplog.at_level(logging.WARNING, logger="attanet_model.model_files"):
        for _ in range(2):
            Segmenter(
                eight, backend="onnxruntime", precision="int8", cache_dir=tmp_path, auto=AutoSettings(cpu=AMX_CPU)
            )
        assert not said()
        files = ModelFiles(eight, tmp_path, OLD_CPU.int8_weight_bits)
        assert files.onnx(int8=True) == files.onnx(int8=True) == eight
        (record,) = said()
        assert record.getMessage().startswith(f"{eight} has 8-bit int8 weights, but this CPU has no VNNI/AMX-INT8")
        assert "`attanet export --int8 --int8-weight-bits 7`" in record.getMessage()
        Segmenter(seven, backend="onnxruntime", precision="int8", cache_dir=tmp_path, auto=AutoSettings(cpu=OLD_CPU))
        assert len(said()) == 1


@pytest.mark.parametrize("cpu", [AMX_CPU, OLD_CPU], ids=["vnni", "no-vnni"])
def test_a_damaged_int8_sibling_is_named_as_damaged_on_every_cpu(tmp_path, cpu):
    """The weight-width check on CPUs without VNNI reads the file too; a damaged one still gets the loader's
    one-line error naming it, not a parser traceback."""
    import shutil

    from attanet_model import CheckpointError
    from attanet_model.model_files import ModelFiles

    source = tmp_path / "m.onnx"
    shutil.copy(ModelFiles(default_model_path(), tmp_path).onnx(), source)
    (tmp_path / "m.int8.onnx").write_bytes(b"\x08\x07not a model" * 8)
    with pytest.raises(CheckpointError, match=r"m\.int8\.onnx is not a readable ONNX model"):
        Segmenter(source, backend="onnxruntime", precision="int8", cache_dir=tmp_path, auto=AutoSettings(cpu=cpu))
