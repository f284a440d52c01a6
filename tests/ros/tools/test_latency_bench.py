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
