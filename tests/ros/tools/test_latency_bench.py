"""ros-bench's per-stage overhead: what the node adds to the Segmenter alone, stage by stage."""

import pytest

from attanet_ros.tools.latency_bench import stage_overhead


def test_stage_overhead_splits_the_e2e_latency():
    row = {
        "e2e_p50_ms": 60.0,
        "node_stages_p50_ms": {"decode": 1.0, "preprocess": 3.0, "inference": 22.0, "postprocess": 6.0, "publish": 9.0},
        "segmenter_stages_p50_ms": {"preprocess": 2.5, "inference": 20.0, "postprocess": 0.5},
    }
    added = stage_overhead(row)
    assert added == pytest.approx(
        {"preprocess": 0.5, "inference": 2.0, "postprocess": 5.5, "decode": 1.0, "publish": 9.0, "transport": 19.0}
    )
    # the model's own stages alone plus everything the node adds is the e2e latency
    assert sum(row["segmenter_stages_p50_ms"].values()) + sum(added.values()) == pytest.approx(60.0)


@pytest.mark.parametrize("resolution", ["input", "network"])
def test_ros_bench_runs_the_node_and_says_at_which_size_its_outputs_arrived(resolution):
    """A real run (the node in its own process, the shipped profile): every subscribed output arrives, at the
    camera's size or the network's (the bundled model runs at input scale 0.5), and the report says which."""
    import json
    import subprocess
    import sys

    from ros_harness import domain_for

    out = subprocess.run(
        [sys.executable, "-c", "import sys, attanet_cli; sys.exit(attanet_cli.main())", "ros-bench"]
        + ["--sizes", "64x128", "--frames", "2", "--outputs", "labels,color", "--json"]
        + ["--output-resolution", resolution, "--domain-id", str(domain_for(3))],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert report["output_resolution"] == resolution
    (row,) = report["results"]
    expected = "64x128" if resolution == "input" else "32x64"
    assert row["output_sizes"] == {"labels": expected, "color": expected}, row["output_sizes"]
    assert 0 < row["first_output_p50_ms"] <= row["e2e_p50_ms"], row
    # the Segmenter alone ran each measured frame too, in turn with the node, on the same engine
    assert row["segmenter_frames"] == 2 and row["segmenter_p50_ms"] > 0
    assert row["provider"].split(" [auto:")[0] == row["segmenter_provider"].split(" [auto:")[0]
    # the transport floor: the same frames and outputs, of the node's sizes, through a stand-in with no model
    assert row["floor_output_sizes"] == row["output_sizes"], row
    assert row["floor_p50_ms"] > 0
    assert row["beyond_floor_ms"] == pytest.approx(row["e2e_p50_ms"] - row["floor_p50_ms"] - row["segmenter_p50_ms"])
    assert row["node_malloc"] == "mmap threshold 32 MiB, trim threshold 256 MiB" or row["node_malloc"].startswith(
        "left to the user"
    ), row["node_malloc"]
