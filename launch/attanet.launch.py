"""Launch the attanet node: parameters from config/attanet.yaml, Fast DDS shared-memory profile.

    ros2 launch attanet_ros attanet.launch.py camera:=/camera/image_raw namespace:=front
    ros2 launch attanet_ros attanet.launch.py params_file:=/path/to/my.yaml use_sim_time:=true

Thin on purpose: everything that can be tested lives in the node and the YAML.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = "attanet_ros"


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
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
            Node(
                package=PACKAGE,
                executable="attanet_node",
                name="attanet",
                namespace=LaunchConfiguration("namespace"),
                parameters=[LaunchConfiguration("params_file"), {"use_sim_time": LaunchConfiguration("use_sim_time")}],
                remappings=[
                    ("image", LaunchConfiguration("camera")),
                    ("camera_info", LaunchConfiguration("camera_info")),
                ],
                output="screen",
                emulate_tty=True,
            ),
        ]
    )
