"""Launch the managed attanet node and take it to active: configure, then activate once inactive.

    ros2 launch attanet_ros attanet_lifecycle.launch.py camera:=/camera/image_raw namespace:=front

The same arguments as attanet.launch.py. A failed configure (bad parameter, missing model) is
logged by the node with its reason and leaves it unconfigured; activate is only sent after
configure succeeded. Thin on purpose: the transitions' work lives in attanet_ros/lifecycle_node.py.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, RegisterEventHandler, SetEnvironmentVariable
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

PACKAGE = "attanet_ros"


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    node = LifecycleNode(
        package=PACKAGE,
        executable="attanet_lifecycle_node",
        name="attanet",
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file"), {"use_sim_time": LaunchConfiguration("use_sim_time")}],
        remappings=[("image", LaunchConfiguration("camera")), ("camera_info", LaunchConfiguration("camera_info"))],
        output="screen",
        emulate_tty=True,
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
    return LaunchDescription(
        [
            DeclareLaunchArgument("camera", default_value="image", description="input sensor_msgs/Image topic"),
            DeclareLaunchArgument("camera_info", default_value="camera_info", description="input CameraInfo topic"),
            DeclareLaunchArgument("namespace", default_value="", description="namespace of the node"),
            DeclareLaunchArgument(
                "params_file",
                default_value=os.path.join(share, "config", "attanet.yaml"),
                description="parameter YAML (see config/attanet.yaml)",
            ),
            DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock (bag replay)"),
            DeclareLaunchArgument(
                "dds_profile",
                default_value=os.path.join(share, "config", "fastdds_shm.xml"),
                description="Fast DDS profile (shared memory for camera-sized messages)",
            ),
            SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("dds_profile")),
            node,
            activate_when_configured,
            configure,
        ]
    )
