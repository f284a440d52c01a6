"""What the two attanet launch files share: their arguments, the Fast DDS profile they select and
how the node is wired to them (parameters, sim time, topic remappings).

Loaded by path from the launch files (``ros2 launch`` does not put this folder on ``sys.path``);
setup.py installs it beside them in ``share/attanet_ros/launch``.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration

PACKAGE = "attanet_ros"


def arguments() -> list:
    """The launch arguments (camera, camera_info, namespace, params_file, use_sim_time,
    dds_profile) and the Fast DDS profile they select, for the process the launch starts."""
    share = get_package_share_directory(PACKAGE)
    return [
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
    ]


def node_wiring() -> dict:
    """The node's keyword arguments that follow the launch arguments: its namespace, parameters
    (the YAML, then use_sim_time), the input topics' remappings, and its output on the screen."""
    return {
        "namespace": LaunchConfiguration("namespace"),
        "parameters": [LaunchConfiguration("params_file"), {"use_sim_time": LaunchConfiguration("use_sim_time")}],
        "remappings": [("image", LaunchConfiguration("camera")), ("camera_info", LaunchConfiguration("camera_info"))],
        "output": "screen",
        "emulate_tty": True,
    }
