"""Launch the managed attanet node and take it to active: configure, then activate once inactive.

    ros2 launch attanet_ros attanet_lifecycle.launch.py camera:=/camera/image_raw namespace:=front

The same arguments as attanet.launch.py. A failed configure (bad parameter, missing model) is
logged by the node with its reason and leaves it unconfigured; activate is only sent after
configure succeeded. Thin on purpose: the transitions' work lives in attanet_ros/node/lifecycle_node.py;
the arguments and the node's wiring are shared with attanet.launch.py in _common.py beside this file.
"""

import importlib.util
from pathlib import Path

from launch import LaunchDescription
from launch.actions import EmitEvent, RegisterEventHandler
from launch.events import matches_action
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

# ros2 launch does not put this folder on sys.path: load the shared part by its path
_spec = importlib.util.spec_from_file_location("attanet_launch_common", Path(__file__).with_name("_common.py"))
common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(common)


def generate_launch_description() -> LaunchDescription:
    node = LifecycleNode(
        package=common.PACKAGE, executable="attanet_lifecycle_node", name="attanet", **common.node_wiring()
    )
    configure = EmitEvent(
        event=ChangeState(lifecycle_node_matcher=matches_action(node), transition_id=Transition.TRANSITION_CONFIGURE)
    )
    activate_when_configured = RegisterEventHandler(
        OnStateTransition(
            target_lifecycle_node=node,
            start_state="configuring",
            goal_state="inactive",
            entities=[
                EmitEvent(
                    event=ChangeState(
                        lifecycle_node_matcher=matches_action(node), transition_id=Transition.TRANSITION_ACTIVATE
                    )
                )
            ],
        )
    )
    return LaunchDescription([*common.arguments(), node, activate_when_configured, configure])
