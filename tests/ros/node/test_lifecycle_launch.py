"""The managed node's launch file and entry point (launch itself is not on pip: compiled, not run)."""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

from launch_sources import COMMON, loads_common_beside_itself, parsed, string_constants
from ros_harness import REPO

LAUNCH = REPO / "launch" / "attanet_lifecycle.launch.py"


def _calls(tree: ast.AST) -> dict[str, list[ast.Call]]:
    calls: dict[str, list[ast.Call]] = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            name = n.func.id if isinstance(n.func, ast.Name) else getattr(n.func, "attr", "")
            calls.setdefault(name, []).append(n)
    return calls


def test_lifecycle_launch_file_configures_then_activates_the_managed_node():
    tree = parsed(LAUNCH)
    calls = _calls(tree)
    (node,) = calls["LifecycleNode"]
    keywords = {k.arg: k.value for k in node.keywords}
    assert ast.literal_eval(keywords["executable"]) == "attanet_lifecycle_node"
    assert ast.literal_eval(keywords["name"]) == "attanet"
    transitions = [ast.unparse(k.value) for c in calls["ChangeState"] for k in c.keywords if k.arg == "transition_id"]
    assert sorted(transitions) == ["Transition.TRANSITION_ACTIVATE", "Transition.TRANSITION_CONFIGURE"]
    (handler,) = calls["OnStateTransition"]
    states = {k.arg: ast.literal_eval(k.value) for k in handler.keywords if k.arg in ("start_state", "goal_state")}
    assert states == {"start_state": "configuring", "goal_state": "inactive"}  # activate only after configure worked
    assert loads_common_beside_itself(tree)
    assert {"common.arguments", "common.node_wiring"} <= {
        ast.unparse(c.func) for c in calls["arguments"] + calls["node_wiring"]
    }
    strings = string_constants(tree, parsed(COMMON))
    assert {"attanet.yaml", "fastdds_shm.xml", "camera", "namespace", "params_file"} <= strings


def test_lifecycle_entry_point_is_installed():
    assert "attanet_lifecycle_node = attanet_ros.node.lifecycle_node:main" in (REPO / "setup.py").read_text()
    script = shutil.which("attanet_lifecycle_node", path=str(Path(sys.executable).parent))
    assert script, "attanet_lifecycle_node is not on PATH; run `make install`"
    assert "attanet_ros.node.lifecycle_node" in Path(script).read_text()
