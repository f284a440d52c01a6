"""The user path end to end, on a tiny custom data set: folder + classes.yaml -> train -> eval ->
export --int8 -> the node on the int8 ONNX model -> bag-play of a bag-make bag -> bag-record of
the node's labels and class_info -> bag-eval --pred-topic, the custom class names all the way.

Real components throughout: the training loop, ONNX Runtime, the node and the bag tools as
separate processes over Fast DDS. The scores of the recorded labels must equal those of the same
int8 model run on the bag (model mode) and on the folder (`attanet eval`): same frames, same model.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bag_helpers import REPO, attanet_command, ros_env, run_cli, run_json, write_custom_dataset

NAMES = ["background", "floor", "obstacle"]
VAL_FRAMES = 3
NODE_NS = "/robot"
LABELS, CLASS_INFO = f"{NODE_NS}/attanet/labels", f"{NODE_NS}/attanet/class_info"
IMAGE, GT = "/camera/image_raw", "/camera/gt_labels"


def _wait_for_line(read, needle: str, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < end:
        seen += read()
        if needle in seen:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {needle!r} from {what} in {timeout} s:\n{seen}")


def test_custom_data_from_training_to_a_scored_recording(capsys, tmp_path, domain_id) -> None:
    data = write_custom_dataset(tmp_path / "data", {"train": 8, "val": VAL_FRAMES}, height=64, width=96)
    classes = ["--dataset", "custom", "--data-root", data, "--classes-file", data / "classes.yaml"]

    # train with the recipe `--dataset custom` picks on a CPU (the bundled model's network and weights,
    # classifier fresh), for a few iterations instead of its minutes; export; eval the int8 model
    code, _, err = run_cli(
        capsys, "train", "--dataset", "custom", "--data-root", data,
        "--out-dir", tmp_path / "run", "--iterations", "30", "--batch-size", "4", "--crop-size", "64,96",
        "--workers", "0", "--threads", "1", "--set", "warmup_iters=3", "--set", "val_interval=30",
        "--set", "input_scale=1.0", "--set", "scales=1.0", "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    assert "recipe custom_cpu: attanet_light_compact from the bundled model" in err
    code, exported, err = run_json(
        capsys, "export", "--model", tmp_path / "run" / "best.pt", "--out", tmp_path / "model.onnx", "--int8",
        "--calib", data / "images" / "val",
    )  # fmt: skip
    assert code == 0, err
    int8 = Path(exported["int8"])
    code, evaluated, err = run_json(capsys, "eval", "--model", int8, "--backend", "onnxruntime", *classes)
    assert code == 0, err
    assert list(evaluated["iou"]) == NAMES and evaluated["miou"] > 0.5  # learnt something, in the user's names

    # a bag of the val split, scored by the int8 model directly
    bag = tmp_path / "val_bag"
    code, _, err = run_json(capsys, "bag-make", *classes, "--split", "val", "--out", bag, "--rate", "5")
    assert code == 0, err
    code, direct, err = run_json(
        capsys, "bag-eval", bag, "--model", int8, "--backend", "onnxruntime", "--no-progress"
    )  # fmt: skip
    assert code == 0, err
    assert direct["miou"] == evaluated["miou"] and direct["iou"] == evaluated["iou"]

    # the node on the int8 model; the recorder; the playback once both are there
    env = ros_env(domain_id)
    node_log = tempfile.NamedTemporaryFile("w+", suffix=".log")  # noqa: SIM115
    node = subprocess.Popen(
        [sys.executable, "-m", "attanet_ros.node", "--ros-args", "-r", f"__ns:={NODE_NS}", "-r", f"image:={IMAGE}",
         "--params-file", REPO / "config" / "attanet.yaml", "-p", f"model_path:={int8}",
         "-p", "backend:=onnxruntime", "-p", "mode:=replay", "-p", "outputs:=[labels]"],
        env=env, stdout=node_log, stderr=subprocess.STDOUT, cwd=REPO,
    )  # fmt: skip
    recorded = tmp_path / "recorded"
    rec_log = tempfile.NamedTemporaryFile("w+", suffix=".log")  # noqa: SIM115
    recorder = subprocess.Popen(
        attanet_command("bag-record", recorded, "--topics", IMAGE, GT, LABELS, CLASS_INFO,
                        "--max-messages", 3 * VAL_FRAMES + 1, "--json"),
        env=env, stdout=subprocess.PIPE, stderr=rec_log, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        _wait_for_line(lambda: Path(node_log.name).read_text(), "segmenting", 120, "the node")
        # matched, not just subscribed: the node's first labels must find the recorder's reader
        _wait_for_line(lambda: Path(rec_log.name).read_text(), f"matched {LABELS}", 60, "bag-record")
        play = subprocess.run(
            attanet_command("bag-play", bag, "--topics", IMAGE, GT, "--wait-for-node", f"{NODE_NS}/attanet",
                            "attanet_bag_record", "--wait-for-topic", GT, "--json", "--no-progress"),
            env=env, capture_output=True, text=True, timeout=120, cwd=REPO,
        )  # fmt: skip
        assert play.returncode == 0, play.stderr
        out, _ = recorder.communicate(timeout=120)
        assert recorder.returncode == 0, Path(rec_log.name).read_text()
    finally:
        for proc in (recorder, node):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)
    assert f'"{LABELS}": {VAL_FRAMES}' in out and f'"{CLASS_INFO}": 1' in out, out

    # the recording, scored with the class names it carries
    code, scored, err = run_json(capsys, "bag-eval", recorded, "--pred-topic", LABELS, "--no-progress")
    assert code == 0, err
    assert scored["classes_from"] == f"the recorded {CLASS_INFO}"
    assert list(scored["iou"]) == NAMES
    assert (scored["input_frames"], scored["dropped"], scored["matched"]) == (VAL_FRAMES, 0, VAL_FRAMES)
    assert scored["miou"] == direct["miou"] and scored["iou"] == direct["iou"]
