"""The simulator closed loop with the whole stack: sim_node publishes /clock and sensors, every node
follows sim time, ego follows planning_node's trajectory.

    ros2 launch kvision_driving sim.launch.py scenario:=cut_in
    ros2 launch kvision_driving sim.launch.py scenario:=cut_in clock_mode:=lockstep rviz:=true namespace:=a

With namespace:=a the simulator and the stack talk under /a (sensors, objects, trajectory); /clock and
/tf_static are global, so one simulated world per domain.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node, PushRosNamespace

from launch import LaunchDescription

PACKAGE = "kvision_driving"


def simulator(context):
    from kvision_driving.ros.preflight import configuration_problems

    rviz = LaunchConfiguration("rviz").perform(context).lower() in ("true", "1", "yes")
    if configuration_problems(LaunchConfiguration("backend").perform(context), rviz):
        return []  # perception.launch.py says why and stops the launch
    share = Path(get_package_share_directory(PACKAGE))
    node = Node(
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
    return [GroupAction([PushRosNamespace(LaunchConfiguration("namespace")), node])]


def generate_launch_description() -> LaunchDescription:
    share = Path(get_package_share_directory(PACKAGE))
    perception = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(share / "launch" / "perception.launch.py")),
        launch_arguments={
            "use_sim_time": "true",
            "rviz": LaunchConfiguration("rviz"),
            "backend": LaunchConfiguration("backend"),
            "namespace": LaunchConfiguration("namespace"),
        }.items(),
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "scenario", default_value="lead_vehicle_braking", description="config/scenarios name"
            ),
            DeclareLaunchArgument("clock_mode", default_value="realtime", description="realtime | lockstep"),
            DeclareLaunchArgument("drive", default_value="planner", description="planner | autopilot"),
            DeclareLaunchArgument("backend", default_value="auto", description="Inference backend"),
            DeclareLaunchArgument("namespace", default_value="", description="Namespace of the simulator and stack"),
            DeclareLaunchArgument("rviz", default_value="false", description="Start RViz (needs rviz2)"),
            perception,
            OpaqueFunction(function=simulator),
        ]
    )
