"""scripts/build_vision_msgs.py (what `make install` runs) and the node without vision_msgs.

The build itself is exercised by `make install` (the CI's fresh clone builds it); here: a second run is a
no-op, a machine without the tools gets one line and exit 0, and the node started without vision_msgs says
so once and still serves ~/class_info.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from ros_harness import LATCHED, NODE, REPO, NodeProcess, RosClient, domain_for
from std_msgs.msg import String

from attanet_ros.node.label_info import LABEL_INFO_MISSING, label_info_available

SCRIPT = REPO / "scripts" / "build_vision_msgs.py"


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=300
    )


def test_second_run_is_a_silent_no_op():
    if not label_info_available():
        pytest.skip("vision_msgs was not built here (make install said what is missing)")
    run = run_script()
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")


def test_without_compiler_or_cmake_one_line_says_what_is_missing_and_what_it_costs(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path), CC="no-such-cc", CXX="no-such-c++")  # no cmake, no compiler
    run = run_script("--force", "--work", str(tmp_path / "work"), env=env)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 1, run.stdout
    assert lines[0].startswith("build_vision_msgs: not built, missing cmake (>= 3.21), a C compiler (gcc), a C++")
    assert "no ~/label_info (vision_msgs/LabelInfo) for Nav2's semantic segmentation layer" in lines[0]
    assert not (tmp_path / "work").exists()  # nothing attempted


def test_node_without_vision_msgs_says_so_once_and_keeps_class_info(tmp_path):
    shadow = tmp_path / "shadow" / "vision_msgs"  # a vision_msgs without .msg: the import fails as if absent
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    domain = domain_for(2)
    node = NodeProcess(
        domain, params={"warmup_height": 64, "warmup_width": 128}, env={"PYTHONPATH": str(shadow.parent)}
    )
    client = RosClient(domain)
    try:
        info = client.subscribe(String, f"{NODE}/class_info", LATCHED)
        client.wait_for(lambda: info or node.proc.poll() is not None, 90, "class_info")
        assert node.proc.poll() is None, node.output()
        assert node.wait_for_output("Fast DDS transports", 30), node.output()
        assert node.output().count(LABEL_INFO_MISSING) == 1, node.output()
        assert client.node.get_publishers_info_by_topic(f"{NODE}/label_info") == []
    finally:
        client.close()
        node.stop()
