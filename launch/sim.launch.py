"""The simulator closed loop with the whole stack: sim_node publishes /clock and sensors, every node
follows sim time, ego follows planning_node's trajectory.

    ros2 launch kvision_driving sim.launch.py scenario:=cut_in
    ros2 launch kvision_driving sim.launch.py scenario:=cut_in clock_mode:=lockstep rviz:=true
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = "kvision_driving"


def generate_launch_description() -> LaunchDescription:
    share = Path(get_package_share_directory(PACKAGE))
    perception = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(share / "launch" / "perception.launch.py")),
        launch_arguments={
            "use_sim_time": "true",
            "rviz": LaunchConfiguration("rviz"),
            "backend": LaunchConfiguration("backend"),
        }.items(),
    )
    simulator = Node(
        package=PACKAGE,
        executable="sim_node",
        name="sim_node",
        output="screen",
        parameters=[
            str(share / "config" / "sim.yaml"),
            {
                "scenario": LaunchConfiguration("scenario"),
                "clock_mode": LaunchConfiguration("clock_mode"),
                "drive": LaunchConfiguration("drive"),
            },
        ],
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "scenario", default_value="lead_vehicle_braking", description="config/scenarios name"
            ),
            DeclareLaunchArgument("clock_mode", default_value="realtime", description="realtime | lockstep"),
            DeclareLaunchArgument("drive", default_value="planner", description="planner | autopilot"),
            DeclareLaunchArgument("backend", default_value="auto", description="Inference backend"),
            DeclareLaunchArgument("rviz", default_value="false", description="Start RViz"),
            simulator,
            perception,
        ]
    )
