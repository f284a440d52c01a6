"""The bag tools give ``auto`` the bag's own frame size: it decides at the size the model will run at (int8's
label agreement and the engines' ranking change with the size), not at a 1024x2048 frame's."""

from __future__ import annotations

import pytest
from bag_helpers import HEIGHT, IMAGE_TOPIC, START_S, WIDTH, run_json

from attanet_cli import main as attanet
from attanet_ros.bags import eval_cli
from attanet_ros.bags.cli import first_frame_hw
from attanet_ros.bags.storage import BagReader


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_first_frame_size_of_a_raw_image_topic(made_bags, storage):
    with BagReader(made_bags[storage]) as reader:
        assert first_frame_hw(reader, IMAGE_TOPIC) == (HEIGHT, WIDTH)
        assert first_frame_hw(reader, "/no/such/topic") is None
        # peeking leaves the bag readable from its start
        assert sum(1 for m in reader.messages([IMAGE_TOPIC])) == reader.topics[IMAGE_TOPIC].count


def test_first_frame_size_of_a_compressed_topic(tmp_path, dataset_root):
    bag = tmp_path / "jpeg"
    code = attanet(
        ["bag-make", "--data-root", str(dataset_root), "--split", "val", "--out", str(bag), "--compress", "jpeg"]
        + ["--start-time", str(START_S), "--no-progress"]
    )
    assert code == 0
    with BagReader(bag) as reader:
        assert first_frame_hw(reader, IMAGE_TOPIC + "/compressed") == (HEIGHT, WIDTH)


@pytest.mark.parametrize("command", ["bag-segment", "bag-eval"])
def test_bag_tools_build_the_model_for_the_bags_frame_size(made_bags, capsys, tmp_path, monkeypatch, command):
    seen = []
    real = eval_cli.segmenter_from_args

    def spy(args, frame_hw=None, **overrides):
        seen.append(frame_hw)
        return real(args, frame_hw, **overrides)

    monkeypatch.setattr(eval_cli, "segmenter_from_args", spy)
    argv = [command, made_bags["mcap"]] + ([tmp_path / "out"] if command == "bag-segment" else [])
    code, summary, err = run_json(capsys, *argv, "--no-progress")
    assert code == 0, err
    assert seen == [(HEIGHT, WIDTH)]
