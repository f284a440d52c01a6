"""Launch the attanet node: parameters from config/attanet.yaml, Fast DDS shared-memory profile.

    ros2 launch attanet_ros attanet.launch.py camera:=/camera/image_raw namespace:=front
    ros2 launch attanet_ros attanet.launch.py params_file:=/path/to/my.yaml use_sim_time:=true

Thin on purpose: everything that can be tested lives in the node and the YAML; the arguments and
the node's wiring are shared with attanet_lifecycle.launch.py in _common.py beside this file.
"""

import importlib.util
from pathlib import Path

from launch import LaunchDescription
from launch_ros.actions import Node

# ros2 launch does not put this folder on sys.path: load the shared part by its path
_spec = importlib.util.spec_from_file_location("attanet_launch_common", Path(__file__).with_name("_common.py"))
common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(common)


def generate_launch_description() -> LaunchDescription:
    node = Node(package=common.PACKAGE, executable="attanet_node", name="attanet", **common.node_wiring())
    return LaunchDescription([*common.arguments(), node])
