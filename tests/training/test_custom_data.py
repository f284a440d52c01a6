"""Your own data: classes.yaml (explicit background, ignore list), palette label PNGs, the CPU
recipe that `attanet train --dataset custom` picks, and `predict` writing the user's label values."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from attanet_model import default_model_path
from attanet_model.checkpoint import read_checkpoint
from attanet_training.cityscapes_labels import label_ids_to_train_ids
from attanet_training.cli import synth_main, train_main
from attanet_training.datasets import CustomDataset, DatasetLayoutError, load_classes_yaml
from attanet_training.eval_cli import predict_main
from attanet_training.recipes import CPU_BUDGET_MINUTES, custom_recipe
from attanet_training.synth import render_frame
from attanet_training.synth_custom import generate_custom_dataset, write_palette_png

DOCS = Path(__file__).resolve().parents[2] / "docs" / "TRAINING.md"


def _custom_root(tmp_path: Path, classes_yaml: str, labels: dict[str, np.ndarray]) -> Path:
    root = tmp_path / "custom"
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "classes.yaml").write_text(classes_yaml)
    for stem, label in labels.items():
        cv2.imwrite(str(root / "images" / "train" / f"{stem}.png"), np.zeros((*label.shape, 3), np.uint8))
        cv2.imwrite(str(root / "labels" / "train" / f"{stem}.png"), label)
    return root


def _docs_classes_yaml() -> str:
    """The classes.yaml example of docs/TRAINING.md's custom-data section, as a user would copy it."""
    section = DOCS.read_text().split("## Your own data", 1)[1]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    assert blocks, "docs/TRAINING.md has no yaml block in its custom-data section"
    return blocks[0]


def test_the_docs_classes_yaml_has_an_explicit_background_and_scores_every_listed_value(tmp_path):
    label = np.array([[0, 1, 2, 255]], np.uint8).repeat(8, 0).repeat(4, 1)
    root = _custom_root(tmp_path, _docs_classes_yaml(), {"a": label})
    ds = CustomDataset(root, "train")
    assert ds.classes[0].name == "background" and len(ds.classes) == 3
    _, train_ids = ds[0]
    np.testing.assert_array_equal(train_ids[0, ::4], [0, 1, 2, 255])
    assert ds.pixel_counts[[0, 1, 2, 255]].tolist() == [32, 32, 32, 32]


def test_a_label_value_that_is_neither_a_class_nor_ignored_is_an_error_with_its_pixel_share(tmp_path):
    # the old docs example: classes 1 and 2, background 0 not listed; 61 of 100 columns are 0
    label = np.zeros((10, 100), np.uint8)
    label[:, 61:80], label[:, 80:] = 1, 2
    yaml_text = "classes:\n  - {name: floor, value: 1}\n  - {name: obstacle, value: 2}\n"
    root = _custom_root(tmp_path, yaml_text, {"a": label})
    with pytest.raises(DatasetLayoutError) as err:
        CustomDataset(root, "train")
    message = str(err.value)
    assert "label value 0 (61 % of pixels, e.g. a.png) is not in" in message
    assert "add it as a class or to 'ignore: [...]'" in message
    assert "0: 61 %, 1: 19 %, 2: 20 %" in message
    (root / "classes.yaml").write_text(yaml_text + "ignore: [0]\n")
    _, train_ids = CustomDataset(root, "train")[0]
    assert set(np.unique(train_ids[:, :61])) == {255} and set(np.unique(train_ids[:, 61:])) == {0, 1}


def test_train_stops_on_an_unlisted_label_value_with_one_line_and_exit_code_2(tmp_path, capsys):
    label = np.zeros((16, 16), np.uint8)
    label[:, 8:] = 1
    root = _custom_root(tmp_path, "classes:\n  - {name: floor, value: 1}\n", {"a": label})
    out = tmp_path / "run"
    argv = ["--dataset", "custom", "--data-root", str(root), "--out", str(out), "--set", "val_split="]
    assert train_main([*argv, "--device", "cpu", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("attanet train: --device cpu: recipe custom_cpu")
    assert err[-1].startswith("attanet train: error: label value 0 (50 % of pixels, e.g. a.png) is not in")
    assert not (out / "last.pt").exists()


def test_classes_yaml_mistakes_are_named(tmp_path):
    base = "classes:\n  - {name: a, value: 0}\n  - {name: b, value: 1}\n"
    cases = {
        base + "ignore: [1]\n": r"listed both as a class and under 'ignore'",
        base + "ignored: [255]\n": r"unknown key\(s\) ignored; expected 'classes' and 'ignore'",
        "classes:\n  - {name: a, colour: [1, 2, 3]}\n": r"class 'a' has unknown key\(s\) colour",
        base + "ignore: 255\n": r"'ignore' must be a list of label values 0..255",
        base + "ignore: 0\n": r"'ignore' must be a list of label values 0..255, got 0",
        "classes:\n  - {name: a, value: 0}\n  - {name: b, value: 0}\n": r"pixel value 0 must be unique",
    }
    for i, (text, expected) in enumerate(cases.items()):
        path = tmp_path / f"classes{i}.yaml"
        path.write_text(text)
        with pytest.raises(DatasetLayoutError, match=expected):
            load_classes_yaml(path)


def test_palette_png_labels_are_read_by_their_indices_and_colour_masks_are_refused(tmp_path):
    values = np.array([[0, 1, 2, 255]], np.uint8).repeat(8, 0).repeat(4, 1)
    root = _custom_root(tmp_path, _docs_classes_yaml(), {"a": values})
    # what VOC and labelling tools write: indices into a palette whose colours are not the indices
    write_palette_png(root / "labels" / "train" / "a.png", values, {0: (0, 0, 0), 1: (128, 64, 128), 2: (220, 20, 60)})
    with Image.open(root / "labels" / "train" / "a.png") as written:
        assert written.mode == "P"
    _, train_ids = CustomDataset(root, "train")[0]
    np.testing.assert_array_equal(train_ids[0, ::4], [0, 1, 2, 255])
    Image.fromarray(np.stack([values] * 3, -1)).save(root / "labels" / "train" / "a.png")  # an RGB colour mask
    with pytest.raises(
        DatasetLayoutError, match=r"a.png: label image has mode 'RGB'.*a colour mask is not a label image"
    ):
        CustomDataset(root, "train")


def test_the_generated_custom_set_maps_synthetic_classes_to_background_road_vehicle(tmp_path):
    assert (
        synth_main(["--out", str(tmp_path), "--layout", "custom", "--num", "2", "--height", "64", "--width", "128"])
        == 0
    )
    ds = CustomDataset(tmp_path, "train")
    assert [c.name for c in ds.classes] == ["background", "road", "vehicle"] and ds.label_values == (0, 1, 2)
    with Image.open(ds.samples[1][1]) as label:
        assert label.mode == "P"
    rgb, label_ids = render_frame(0, 1, 64, 128)
    image, train_ids = ds[1]
    np.testing.assert_array_equal(image, rgb)
    source = label_ids_to_train_ids(label_ids)  # Cityscapes trainIds of the same scene
    assert (train_ids[source == 0] == 1).all()  # road
    assert (train_ids[np.isin(source, [13, 14, 15, 16, 17, 18])] == 2).all()  # car .. bicycle
    assert (train_ids[source == 255] == 255).all()  # unlabelled: under 'ignore'
    assert (train_ids[np.isin(source, [1, 2, 8, 10, 11])] == 0).all()  # sidewalk, building, ...: background


def test_the_recipe_follows_the_machine_and_never_replaces_a_flag():
    cpu = custom_recipe("auto", cuda_available=False, flags={})
    assert cpu.config == "custom_cpu" and cpu.budget_minutes == CPU_BUDGET_MINUTES
    assert cpu.defaults == {"init_from": str(default_model_path())} and cpu.reason == "no CUDA device"
    gpu = custom_recipe("auto", cuda_available=True, flags={"pretrained": "r18.pth"})
    assert gpu.config == "custom_gpu" and gpu.defaults == {} and gpu.budget_minutes is None
    assert "no --pretrained" in custom_recipe("cuda", cuda_available=False, flags={}).reason
    assert custom_recipe("cpu", cuda_available=True, flags={}).config == "custom_cpu"
    assert custom_recipe("auto", False, {"iterations": 50}).budget_minutes is None
    assert custom_recipe("auto", False, {}, budget_minutes=3).budget_minutes == 3
    assert custom_recipe("auto", False, {}, resume=True).budget_minutes is None
    assert custom_recipe("auto", False, {}, world_size=2).budget_minutes is None
    forced = custom_recipe("auto", cuda_available=True, flags={}, requested="custom_cpu")
    assert forced.config == "custom_cpu" and forced.reason == "--config custom_cpu" and "init_from" in forced.defaults
    assert custom_recipe("auto", False, {}, requested="custom_gpu").config == "custom_gpu"
    for flags in ({"init_from": "none"}, {"init_from": "my.pt"}, {"arch": "attanet_r18"}, {"pretrained": "r.pth"}):
        assert "init_from" not in custom_recipe("auto", False, flags).defaults, flags


@pytest.fixture(scope="module")
def trained_custom(tmp_path_factory) -> tuple[Path, Path, str]:
    """A custom set whose label values are not the class indices (10, 20, 30; 255 ignored), and a
    2-iteration run of `attanet train --dataset custom` on it with the CPU recipe."""
    root = tmp_path_factory.mktemp("custom_values")
    generate_custom_dataset(root, 3, 64, 128, seed=0, split="train", palette=False)
    generate_custom_dataset(root, 2, 64, 128, seed=1, split="val", palette=False)
    remap = np.arange(256, dtype=np.uint8)
    remap[[0, 1, 2]] = [10, 20, 30]
    for label in (root / "labels").rglob("*.png"):
        cv2.imwrite(str(label), remap[cv2.imread(str(label), cv2.IMREAD_UNCHANGED)])
    classes = root / "my_classes.yaml"
    classes.write_text(
        "classes:\n  - {name: background, value: 10}\n  - {name: road, value: 20}\n  - {name: vehicle, value: 30}\n"
        "ignore: [255]\n"
    )
    out = tmp_path_factory.mktemp("custom_run")
    argv = ["--dataset", "custom", "--data-root", str(root), "--classes-file", str(classes), "--device", "cpu"]
    argv += ["--out", str(out), "--iterations", "2", "--batch-size", "2", "--crop-size", "64,64", "--workers", "0"]
    argv += ["--no-progress", "--set", "val_interval=0", "--set", "threads=1"]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        assert train_main(argv) == 0
    torch.set_num_threads(1)
    return root, out / "last.pt", stderr.getvalue()


def test_train_on_custom_data_prints_the_cpu_recipe_and_starts_from_the_bundled_model(trained_custom):
    _, checkpoint, stderr = trained_custom
    plan = stderr.splitlines()[0]
    assert plan.startswith(
        "attanet train: --device cpu: recipe custom_cpu: attanet_light_compact from the bundled model"
    )
    assert "crop 64x64 (HxW), batch 2, 2 iterations; pass --config custom_gpu or cityscapes_r18" in plan
    assert f"tensors from {default_model_path()}; fresh: aux_head_afm, aux_head_res3, head" in stderr
    meta = read_checkpoint(checkpoint)["meta"]
    assert meta["arch"] == "attanet_light_compact"
    assert [c["name"] for c in meta["classes"]] == ["background", "road", "vehicle"]
    assert meta["training"]["label_values"] == [10, 20, 30]
    assert meta["training"]["config"]["init_from"] == str(default_model_path())


def test_predict_writes_the_classes_yaml_values_and_the_class_index_on_request(trained_custom, tmp_path, capsys):
    root, checkpoint, _ = trained_custom
    common = ["--model", str(checkpoint), "--data-root", str(root), "--dataset", "custom"]
    common += ["--classes-file", str(root / "my_classes.yaml"), "--split", "val"]
    assert predict_main([*common, "--out", str(tmp_path / "v"), "--json"]) == 0
    assert '"label_format": "values"' in capsys.readouterr().out
    assert predict_main([*common, "--out", str(tmp_path / "t"), "--label-format", "trainIds", "--json"]) == 0
    written = sorted((tmp_path / "v").glob("*_values.png"))
    assert len(written) == 2
    for path in written:
        values = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        index = cv2.imread(str(tmp_path / "t" / path.name.replace("_values", "_trainIds")), cv2.IMREAD_UNCHANGED)
        assert set(np.unique(index)) <= {0, 1, 2} and set(np.unique(values)) <= {10, 20, 30}
        np.testing.assert_array_equal(values, np.array([10, 20, 30], np.uint8)[index])
    # an image folder with no classes file: the values come from the checkpoint
    assert (
        predict_main(
            ["--model", str(checkpoint), "--input", str(root / "images" / "val"), "--out", str(tmp_path / "f")]
        )
        == 0
    )
    for path in written:
        np.testing.assert_array_equal(
            cv2.imread(str(tmp_path / "f" / path.name), cv2.IMREAD_UNCHANGED),
            cv2.imread(str(path), cv2.IMREAD_UNCHANGED),
        )


def test_predict_refuses_values_it_cannot_know_and_a_classes_file_that_disagrees(trained_custom, tmp_path, capsys):
    root, checkpoint, _ = trained_custom
    other = tmp_path / "other.yaml"
    other.write_text(
        "classes:\n  - {name: background, value: 10}\n  - {name: road, value: 21}\n"
        "  - {name: vehicle, value: 30}\nignore: [20, 255]\n"
    )
    argv = [
        "--model",
        str(checkpoint),
        "--data-root",
        str(root),
        "--dataset",
        "custom",
        "--classes-file",
        str(other),
    ]
    assert predict_main([*argv, "--split", "val", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "trained with label values [10, 20, 30]" in err and "says [10, 21, 30]" in err
    # the bundled model (Cityscapes classes, no classes.yaml) has no label values to write
    images = str(root / "images" / "val")
    assert predict_main(["--input", images, "--out", str(tmp_path / "y"), "--label-format", "values"]) == 2
    assert "--label-format values needs a model trained on a custom dataset's classes.yaml" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()
