"""One check for every scoring path: a model is scored only against ground truth of its own class table."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from attanet_model import (
    CITYSCAPES_CLASSES,
    ClassInfo,
    ClassTableMismatch,
    ModelMeta,
    build_model,
    check_same_classes,
    save_checkpoint,
)
from attanet_model.classes import class_info_json, parse_class_info

FLOOR = (ClassInfo(0, "floor", (0, 255, 0)), ClassInfo(1, "obstacle", (255, 0, 0)))


def test_same_tables_pass_and_colours_do_not_matter():
    check_same_classes(CITYSCAPES_CLASSES, CITYSCAPES_CLASSES)
    check_same_classes(FLOOR, (ClassInfo(0, "Floor", (1, 2, 3)), ClassInfo(1, "obstacle", (4, 5, 6))))


@pytest.mark.parametrize(
    ("truth", "described"),
    [
        (CITYSCAPES_CLASSES, "the 19 Cityscapes classes"),
        ((ClassInfo(0, "road", (0, 0, 0)), ClassInfo(1, "obstacle", (0, 0, 0))), "2 classes: road, obstacle"),
        ((FLOOR[1], FLOOR[0]), "2 classes: obstacle, floor"),
    ],
    ids=["count", "names", "order"],
)
def test_a_mismatch_names_both_tables(truth, described):
    truth = tuple(ClassInfo(i, c.name, c.color) for i, c in enumerate(truth))
    with pytest.raises(ClassTableMismatch) as caught:
        check_same_classes(FLOOR, truth, "model m.pt", "bag b")
    assert str(caught.value) == (
        f"class tables differ: model m.pt predicts 2 classes: floor, obstacle, but bag b is labelled with "
        f"{described}; score a model trained on this label set"
    )


def test_class_info_json_round_trip_and_bad_json():
    assert parse_class_info(class_info_json(FLOOR)) == FLOOR
    for text in ("", "{}", '{"classes": []}', '{"classes": [{"name": "x"}]}'):
        with pytest.raises(ValueError, match="class"):
            parse_class_info(text)


def test_attanet_eval_refuses_a_model_of_another_table(tmp_path, capsys):
    """Same class count, other names: scoring would report a number for 'road' on floor pixels."""
    from attanet_cli import main

    for kind in ("images", "labels"):
        (tmp_path / "data" / kind / "val").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "data" / "images" / "val" / "a.png"), np.zeros((64, 64, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "data" / "labels" / "val" / "a.png"), np.ones((64, 64), np.uint8))
    table = "classes:\n  - {name: floor, value: 1}\n  - {name: obstacle, value: 2}\n"
    (tmp_path / "data" / "classes.yaml").write_text(table)
    torch.manual_seed(0)
    model = build_model("attanet_light", num_classes=2).eval()
    road = (ClassInfo(0, "road", (1, 1, 1)), ClassInfo(1, "car", (2, 2, 2)))
    ckpt = save_checkpoint(tmp_path / "road.pt", model, ModelMeta.for_model(model, "attanet_light", road))
    data = tmp_path / "data"
    for checkpoint, described in ((ckpt, "2 classes: road, car"), (None, "the 19 Cityscapes classes")):
        argv = ["eval", "--dataset", "custom", "--data-root", str(data)] + (
            ["--model", str(checkpoint)] if checkpoint else []
        )
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"predicts {described}, but dataset {data} (val) is labelled with 2 classes: floor, obstacle" in err
        assert len(err.strip().splitlines()) == 1
