"""One flag vocabulary across the bag tools and ros-bench: --classes-file, --domain-id, parent folders
created for outputs; the old spellings still work, hidden, with a warning."""

from __future__ import annotations

import pytest
from bag_helpers import run_cli, write_custom_dataset

from attanet_ros.bags.storage import BagReader, deserialize
from attanet_ros.bags.storage import labels_from_bag_msg as labels_of


def help_of(capsys, command: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run_cli(capsys, command, "--help")
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def custom_root(tmp_path_factory):
    return write_custom_dataset(tmp_path_factory.mktemp("custom"), {"val": 2})


@pytest.mark.parametrize("flag", ["--classes-file", "--classes"])
def test_bag_make_reads_the_custom_class_table_from_classes_file(custom_root, capsys, tmp_path, flag) -> None:
    out = tmp_path / "bag"
    code, _, err = run_cli(
        capsys, "bag-make", "--data-root", custom_root, "--dataset", "custom", flag, custom_root / "classes.yaml",
        "--split", "val", "--out", out, "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    deprecated = "attanet bag-make: warning: --classes is deprecated; use --classes-file"
    assert (deprecated in err) == (flag == "--classes")
    with BagReader(out) as reader:
        labels = [labels_of(deserialize(m), m.msgtype) for m in reader.messages(["/camera/gt_labels"])]
    assert len(labels) == 2 and {int(v) for v in labels[0].flat} == {0, 1, 2}  # values 0..2 are classes 0..2
    help_text = help_of(capsys, "bag-make")
    assert "--classes-file" in help_text and "--classes " not in help_text


def test_ros_bench_takes_domain_id_and_warns_on_domain(capsys) -> None:
    from attanet_ros.tools.latency_bench import build_parser

    assert build_parser().parse_args(["--domain", "7"]).domain_id == 7
    assert "attanet ros-bench: warning: --domain is deprecated; use --domain-id" in capsys.readouterr().err
    assert build_parser().parse_args(["--domain-id", "9"]).domain_id == 9
    with pytest.raises(SystemExit) as refused:
        run_cli(capsys, "ros-bench", "--domain-id", "300")
    err = capsys.readouterr().err
    assert refused.value.code == 2 and "argument --domain-id: a ROS domain id is in 0..232, got 300" in err
    help_text = help_of(capsys, "ros-bench")
    assert "--domain-id" in help_text and "--domain " not in help_text


def test_bag_eval_out_bag_creates_parent_folders(made_bags, capsys, tmp_path) -> None:
    out = tmp_path / "new" / "folders" / "pred"
    code, _, err = run_cli(capsys, "bag-eval", made_bags["mcap"], "--out-bag", out, "--no-progress")
    assert code == 0, err
    with BagReader(out) as reader:
        assert reader.topics["/attanet/labels"].count == reader.topics["/camera/image_raw"].count
