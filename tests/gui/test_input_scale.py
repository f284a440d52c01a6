"""The demo and the viewer run the model at the scale it was trained for unless --input-scale says
otherwise; attention maps need torch, and auto resolves to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from attanet_gui.cli import attention_backend, make_source, viewer_parser
from attanet_model import ModelMeta, default_model_path
from attanet_model.segmenter import model_file_meta, model_input_scale


def test_the_bundled_model_was_trained_at_scale_1_and_ships_0_5():
    meta = model_file_meta(default_model_path())
    assert (meta.input_scale, meta.trained_input_scale) == (0.5, 1.0)  # as its model card says
    assert model_input_scale(None) == 1.0 and model_input_scale(None, 0.75) == 0.75
    # a model without a training record: its own input_scale
    assert ModelMeta(input_scale=0.6).trained_input_scale == 0.6
    assert ModelMeta(input_scale=0.6, training={"trained_input_scale": 0.8}).trained_input_scale == 0.8
    assert ModelMeta(input_scale=0.6, training={"config": {"input_scale": 0.9}}).trained_input_scale == 0.9
    for unusable in ({"config": "a string"}, {"trained_input_scale": -1}, {"trained_input_scale": "1.0"}):
        assert ModelMeta(input_scale=0.6, training=unusable).trained_input_scale == 0.6


def test_demo_node_runs_at_the_resolved_scale(tmp_path):
    from attanet_demo_steps import DemoConfig, node_command

    command = node_command(DemoConfig(out=tmp_path, input_scale=1.0), "replay")
    assert "network_scale:=1.0" in command
    assert not any(arg.startswith("network_scale") for arg in node_command(DemoConfig(out=tmp_path), "replay"))


def test_demo_node_warms_up_and_decides_auto_at_the_demo_frames_size(tmp_path):
    from attanet_demo_steps import DemoConfig, node_command

    command = node_command(DemoConfig(out=tmp_path, height=256, width=640), "replay")
    assert "warmup_height:=256" in command and "warmup_width:=640" in command


@pytest.mark.parametrize("flags, scale", [([], 1.0), (["--input-scale", "0.5"], 0.5)])
def test_viewer_model_runs_at_the_trained_scale_or_the_flag(tmp_path, flags, scale, capsys):
    import cv2
    import numpy as np

    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((64, 128, 3), np.uint8))
    args = viewer_parser().parse_args(["--source", str(folder), "--backend", "torch", *flags])
    source = make_source(args)
    segmenter = source.segmenter_factory((64, 128))
    assert segmenter.input_scale == scale
    assert segmenter.confidence_every_frame  # the viewer shows every frame's confidence: made with the labels
    assert args.input_scale == scale  # resolved: the window title says it
    assert capsys.readouterr().err == ""  # errors stay one line: nothing else on stderr


def test_viewer_model_decides_auto_at_the_first_frames_size(tmp_path, monkeypatch):
    """The source reads its first frame before it builds the model and gives ``auto`` that frame's size (None when
    the source has no readable frame: auto's usual size); the frame is then the first one shown."""
    import cv2
    import numpy as np

    import attanet_model.segmenter as segmenter_module
    from attanet_gui.readers import FolderReader
    from attanet_gui.sources import SegmentingSource

    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((48, 96, 3), np.uint8))
    asked = []
    real = segmenter_module.segmenter_from_args

    def spy(args, **overrides):
        asked.append(overrides["auto"].frame_hw)
        return real(args, **overrides)

    monkeypatch.setattr(segmenter_module, "segmenter_from_args", spy)
    make_source(viewer_parser().parse_args(["--source", str(folder)])).segmenter_factory((48, 96))
    assert asked == [(48, 96)]

    class Built(Exception):
        pass

    def factory(frame_hw):
        asked.append(frame_hw)
        raise Built  # the model would be built here: stop the source's thread at that point

    for name, hw in (("a.png", (48, 96)), ("b.png", None)):
        if hw is None:
            (folder / "a.png").unlink()
            (folder / name).write_bytes(b"not an image")
        with pytest.raises(Built):
            SegmentingSource(FolderReader(folder), factory).run()
        assert asked[-1] == hw


def test_attention_backend_auto_resolves_to_torch_and_says_so():
    said = []
    assert attention_backend("auto", said.append) == "torch"
    assert said == ["attanet viewer: attention maps need torch: backend auto runs torch for them"]
    assert attention_backend("torch", said.append) == "torch" and len(said) == 1
    assert attention_backend("openvino", said.append) is None and attention_backend("onnxruntime") is None


def test_topic_source_with_auto_has_a_torch_attention_model(monkeypatch):
    args = viewer_parser().parse_args(["--source", "/camera/image_raw", "--domain-id", "201"])
    assert args.backend == "auto"
    source = make_source(args)
    try:
        model = source.attention_factory()
        assert model.backend == "torch" and model.input_scale == 1.0
    finally:
        source.stop()


def test_default_model_path_exists():
    assert Path(default_model_path()).is_file()
