"""Replay a bag with its clock through the perception stack (ROS 2 installs with rosbag2).

ros2 launch kvision_driving replay.launch.py bag:=/path/to/bag rate:=1.0 rviz:=true
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

from launch import LaunchDescription

PACKAGE = "kvision_driving"


def generate_launch_description() -> LaunchDescription:
    share = Path(get_package_share_directory(PACKAGE))
    player = ExecuteProcess(
        cmd=["ros2", "bag", "play", LaunchConfiguration("bag"), "--clock", "--rate", LaunchConfiguration("rate")],
        output="screen",
    )
    perception = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(share / "launch" / "perception.launch.py")),
        launch_arguments={"use_sim_time": "true", "rviz": LaunchConfiguration("rviz")}.items(),
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "bag", description="rosbag2 folder (kvision sim record, kvision import-kitti, ros2 bag record)"
            ),
            DeclareLaunchArgument("rate", default_value="1.0", description="Playback speed"),
            DeclareLaunchArgument("rviz", default_value="true", description="Start RViz"),
            player,
            perception,
        ]
    )
