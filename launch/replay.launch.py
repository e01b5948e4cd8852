"""Replay a bag with its clock through the perception stack.

ros2 launch kvision_driving replay.launch.py bag:=/path/to/bag rate:=1.0 loop:=true rviz:=true

The player is ``ros2 bag play`` where rosbag2 is installed, else ``kvision replay`` (the pip install has no
rosbag2): the same rate, loop and /clock. A bag's topics are absolute, so the stack reads them as they are
whatever its namespace.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

from launch import LaunchDescription

PACKAGE = "kvision_driving"


def player(context):
    from kvision_driving.ros.preflight import configuration_problems, package_installed

    rviz = LaunchConfiguration("rviz").perform(context).lower() in ("true", "1", "yes")
    if configuration_problems(LaunchConfiguration("backend").perform(context), rviz):
        return []  # perception.launch.py says why and stops the launch
    bag, rate = LaunchConfiguration("bag").perform(context), LaunchConfiguration("rate").perform(context)
    loop = LaunchConfiguration("loop").perform(context).lower() in ("true", "1", "yes")
    if package_installed("ros2bag"):
        cmd = ["ros2", "bag", "play", bag, "--clock", "--rate", rate, *(["--loop"] if loop else [])]
    else:
        cmd = ["kvision", "replay", bag, "--rate", rate, *(["--loop"] if loop else [])]
    return [ExecuteProcess(cmd=cmd, output="screen")]


def generate_launch_description() -> LaunchDescription:
    share = Path(get_package_share_directory(PACKAGE))
    perception = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(share / "launch" / "perception.launch.py")),
        launch_arguments={
            "use_sim_time": "true",
            "rviz": LaunchConfiguration("rviz"),
            "backend": LaunchConfiguration("backend"),
            "namespace": LaunchConfiguration("namespace"),
            "image": "/sensing/camera/front/image_raw",
            "camera_info": "/sensing/camera/front/camera_info",
            "points": "/sensing/lidar/top/points",
        }.items(),
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "bag", description="rosbag2 folder (kvision sim record, kvision import-kitti, ros2 bag record)"
            ),
            DeclareLaunchArgument("rate", default_value="1.0", description="Playback speed"),
            DeclareLaunchArgument("loop", default_value="false", description="Start the bag over at its end"),
            DeclareLaunchArgument("backend", default_value="auto", description="Inference backend"),
            DeclareLaunchArgument("namespace", default_value="", description="Namespace of the stack's nodes"),
            DeclareLaunchArgument("rviz", default_value="false", description="Start RViz (needs rviz2)"),
            perception,
            OpaqueFunction(function=player),
        ]
    )
