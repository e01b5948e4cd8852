"""The stack on a vehicle or against a bag: segmentation, fusion, action and planning, each its own process.

ros2 launch kvision_driving perception.launch.py
ros2 launch kvision_driving perception.launch.py use_sim_time:=true backend:=tensorrt namespace:=kv
ros2 launch kvision_driving perception.launch.py image:=/camera/image_raw points:=/velodyne_points

Topics are relative: with namespace:=kv every input and output is under /kv (two stacks share a domain
without crosstalk); sensor inputs are remappable (an absolute name reads a global driver topic).
Before any process starts, the configuration is checked (rviz2 present if asked for, the backend can run
here, the shipped models match their cards): a problem stops the launch with one message and exit code 1.
A node that exits with a configuration error (exit code 2) stops the launch instead of being respawned
forever; one that crashes is respawned. Stop it with SIGINT (Ctrl-C; systemd: KillSignal=SIGINT).
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    GroupAction,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.conditions import IfCondition
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node, PushRosNamespace

from launch import LaunchDescription

PACKAGE = "kvision_driving"
CONFIGURATION_ERROR = 2  # a node's exit code when a restart cannot help (kvision_driving.ros.preflight)


def stop_on_configuration_error(event, context):
    if event.returncode != CONFIGURATION_ERROR:
        return None  # a crash: respawn does its job
    reason = f"{event.process_name} stopped with a configuration error (its message is above); not restarting it"
    return [LogInfo(msg=f"kvision_driving: {reason}"), EmitEvent(event=Shutdown(reason=reason))]


def stack(context):
    from kvision_driving.ros.preflight import configuration_problems

    backend = LaunchConfiguration("backend").perform(context)
    rviz = LaunchConfiguration("rviz").perform(context).lower() in ("true", "1", "yes")
    problems = configuration_problems(backend, rviz)
    if problems:  # before any process exists: ros2 launch prints this and exits 1, leaving nothing behind
        raise RuntimeError("kvision_driving cannot start: " + "; ".join(problems))
    config = Path(get_package_share_directory(PACKAGE)) / "config"
    common = {"use_sim_time": LaunchConfiguration("use_sim_time")}
    image, camera_info, points = (
        LaunchConfiguration("image"),
        LaunchConfiguration("camera_info"),
        LaunchConfiguration("points"),
    )
    nodes = [
        PushRosNamespace(LaunchConfiguration("namespace")),
        Node(
            package=PACKAGE,
            executable="segmentation_node",
            name="segmentation_node",
            output="screen",
            respawn=True,
            respawn_delay=2.0,
            parameters=[str(config / "segmentation.yaml"), common, {"backend": LaunchConfiguration("backend")}],
            remappings=[("sensing/camera/front/image_raw", image)],
        ),
        Node(
            package=PACKAGE,
            executable="fusion_node",
            name="fusion_node",
            output="screen",
            respawn=True,
            respawn_delay=2.0,
            parameters=[str(config / "fusion.yaml"), common],
            remappings=[("sensing/lidar/top/points", points), ("sensing/camera/front/camera_info", camera_info)],
        ),
        Node(
            package=PACKAGE,
            executable="action_node",
            name="action_node",
            output="screen",
            respawn=True,
            respawn_delay=2.0,
            parameters=[str(config / "action.yaml"), common, {"backend": LaunchConfiguration("backend")}],
            remappings=[("sensing/camera/front/image_raw", image), ("sensing/camera/front/camera_info", camera_info)],
        ),
        Node(
            package=PACKAGE,
            executable="planning_node",
            name="planning_node",
            output="screen",
            respawn=True,
            respawn_delay=1.0,
            parameters=[str(config / "planning.yaml"), common],
            condition=IfCondition(LaunchConfiguration("planning")),
        ),
        Node(
            package="rviz2",
            executable="rviz2",
            name="rviz2",
            output="log",
            arguments=["-d", str(config / "rviz" / "kvision.rviz")],
            parameters=[common],
            condition=IfCondition(LaunchConfiguration("rviz")),
        ),
    ]
    return [
        RegisterEventHandler(OnProcessExit(on_exit=stop_on_configuration_error)),
        GroupAction(nodes),
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            DeclareLaunchArgument("use_sim_time", default_value="false", description="Follow /clock (bags, simulator)"),
            DeclareLaunchArgument(
                "backend", default_value="auto", description="auto | tensorrt | onnxruntime-cuda | onnxruntime | torch"
            ),
            DeclareLaunchArgument("namespace", default_value="", description="Namespace for every node and topic"),
            DeclareLaunchArgument(
                "planning", default_value="true", description="Start planning_node (false: perception only)"
            ),
            DeclareLaunchArgument(
                "rviz", default_value="false", description="Start RViz with config/rviz/kvision.rviz"
            ),
            DeclareLaunchArgument(
                "image",
                default_value="sensing/camera/front/image_raw",
                description="Camera image topic (relative: in the namespace; /absolute: a global one)",
            ),
            DeclareLaunchArgument(
                "camera_info", default_value="sensing/camera/front/camera_info", description="CameraInfo topic"
            ),
            DeclareLaunchArgument(
                "points", default_value="sensing/lidar/top/points", description="Lidar PointCloud2 topic"
            ),
            OpaqueFunction(function=stack),
        ]
    )
