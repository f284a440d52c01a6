"""Launch file, package.xml and a real `colcon build` of the repository (launch itself is not on pip)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from launch_sources import COMMON, loads_common_beside_itself, parsed, string_constants
from ros_harness import PROFILE, REPO

LAUNCH = REPO / "launch" / "attanet.launch.py"


def test_launch_file_compiles_and_references_what_exists():
    tree, common = parsed(LAUNCH), parsed(COMMON)
    names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in names
    assert loads_common_beside_itself(tree)
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert {"common.arguments", "common.node_wiring", "Node"} <= calls
    strings = string_constants(tree, common)
    assert {
        "attanet_ros",
        "attanet_node",
        "attanet.yaml",
        "fastdds_shm.xml",
        "FASTDDS_DEFAULT_PROFILES_FILE",
    } <= strings
    assert {"camera", "namespace", "params_file", "use_sim_time"} <= strings  # the launch arguments
    assert (REPO / "config" / "attanet.yaml").is_file() and PROFILE.is_file()
    setup = (REPO / "setup.py").read_text()
    assert "attanet_node = attanet_ros.node:main" in setup
    assert '"launch/_common.py"' in setup  # installed beside the launch files that load it


def test_dds_profile_has_shared_memory_64mib_and_udp_fallback():
    ns = {"d": "http://www.eprosima.com"}
    root = ET.parse(PROFILE).getroot()
    transports = {t.find("d:transport_id", ns).text: t for t in root.iterfind(".//d:transport_descriptor", ns)}
    types = {t.find("d:type", ns).text for t in transports.values()}
    assert types == {"SHM", "UDPv4"}
    shm = next(t for t in transports.values() if t.find("d:type", ns).text == "SHM")
    assert int(shm.find("d:segment_size", ns).text) == 64 * 1024 * 1024
    participant = root.find(".//d:participant", ns)
    assert participant.get("is_default_profile") == "true"
    used = [e.text for e in participant.iterfind(".//d:userTransports/d:transport_id", ns)]
    assert sorted(used) == sorted(transports)
    assert participant.find(".//d:useBuiltinTransports", ns).text == "false"


def test_package_xml_is_format_3_ament_python_with_real_dependencies():
    root = ET.parse(REPO / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "attanet_ros"
    assert root.findtext("export/build_type") == "ament_python"
    depends = {e.text for e in root if e.tag.endswith("depend")}
    assert {
        "rclpy",
        "sensor_msgs",
        "std_msgs",
        "diagnostic_msgs",
        "python3-opencv",
        "python3-numpy",
        "launch_ros",
        "python3-pytest",
    } <= depends
    assert "vision_msgs" in depends  # ~/label_info: a ROS install's vision_msgs (pip installs build it)


@pytest.mark.slow
def test_colcon_build_installs_launch_config_and_executable(tmp_path):
    colcon = shutil.which("colcon", path=str(Path(sys.executable).parent)) or shutil.which("colcon")
    if colcon is None:
        pytest.skip("colcon is not installed (pip install colcon-core colcon-ros colcon-python-setup-py)")
    src = tmp_path / "src" / "attanet_ros"
    src.mkdir(parents=True)
    for name in (
        "setup.py",
        "setup.cfg",
        "package.xml",
        "pyproject.toml",
        "attanet_cli.py",
        "attanet_demo.py",
        "attanet_demo_steps.py",
    ):
        shutil.copy2(REPO / name, src / name)
    for name in ("resource", "launch", "config", "attanet_model", "attanet_ros", "training", "gui", "bench"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [colcon, "build", "--base-paths", "src", "--build-base", "build", "--install-base", "install"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    prefix = tmp_path / "install" / "attanet_ros"
    share = prefix / "share" / "attanet_ros"
    assert (share / "package.xml").is_file()
    assert (share / "launch" / "attanet.launch.py").is_file()
    assert (share / "config" / "attanet.yaml").is_file() and (share / "config" / "fastdds_shm.xml").is_file()
    node = prefix / "lib" / "attanet_ros" / "attanet_node"
    assert node.is_file() and os.access(node, os.X_OK) and "'attanet_node'" in node.read_text()
    assert os.access(prefix / "lib" / "attanet_ros" / "attanet_lifecycle_node", os.X_OK)
    assert (share / "launch" / "attanet_lifecycle.launch.py").is_file()
    assert (share / "launch" / "_common.py").is_file()  # the launch files load it from beside them
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "attanet_ros").is_file()
    site = next((prefix / "lib").glob("python3*/site-packages"))
    # every subpackage is installed, not only the top-level names
    for module in ("node/ros_node.py", "node/__main__.py", "common/image_codec.py", "bags/storage/reader.py"):
        assert (site / "attanet_ros" / module).is_file(), module
    assert (site / "attanet_ros" / "tools" / "latency_bench.py").is_file()
    assert (site / "attanet_demo.py").is_file() and (site / "attanet_cli.py").is_file()  # the top-level modules
    # the vision_msgs interface files the bag tools read ship with the package
    assert (site / "attanet_ros" / "interfaces" / "vision_msgs" / "msg" / "LabelInfo.msg").is_file()
    # docs/ROS.md names the setup file this colcon (no colcon-bash) writes
    assert (tmp_path / "install" / "setup.sh").is_file()
    assert (site / "attanet_demo_steps.py").is_file()
