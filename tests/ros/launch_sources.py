"""Reading the launch files as source (launch and launch_ros are not on pip: compiled, not run)."""

from __future__ import annotations

import ast
from pathlib import Path

from ros_harness import REPO

COMMON = REPO / "launch" / "_common.py"  # what both launch files share, loaded by path


def parsed(path: Path) -> ast.AST:
    return compile(path.read_text(), str(path), "exec", ast.PyCF_ONLY_AST)


def string_constants(*trees: ast.AST) -> set[str]:
    return {n.value for t in trees for n in ast.walk(t) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def loads_common_beside_itself(tree: ast.AST) -> bool:
    """``Path(__file__).with_name("_common.py")``: ros2 launch does not put launch/ on sys.path."""
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "with_name":
            owner = n.func.value
            names = {x.id for x in ast.walk(owner) if isinstance(x, ast.Name)}
            if "__file__" in names and [ast.literal_eval(a) for a in n.args] == ["_common.py"]:
                return True
    return False
