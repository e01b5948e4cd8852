"""The stack on a vehicle or against a bag: segmentation, fusion, action and planning, each its own process.

ros2 launch kvision_driving perception.launch.py
ros2 launch kvision_driving perception.launch.py use_sim_time:=true backend:=tensorrt namespace:=kv
ros2 launch kvision_driving perception.launch.py image:=/camera/image_raw points:=/velodyne_points
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, GroupAction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node, PushRosNamespace

from launch import LaunchDescription

PACKAGE = "kvision_driving"


def generate_launch_description() -> LaunchDescription:
    config = Path(get_package_share_directory(PACKAGE)) / "config"
    use_sim_time = LaunchConfiguration("use_sim_time")
    common = {"use_sim_time": use_sim_time}
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
            remappings=[("/sensing/camera/front/image_raw", image)],
        ),
        Node(
            package=PACKAGE,
            executable="fusion_node",
            name="fusion_node",
            output="screen",
            respawn=True,
            respawn_delay=2.0,
            parameters=[str(config / "fusion.yaml"), common],
            remappings=[("/sensing/lidar/top/points", points), ("/sensing/camera/front/camera_info", camera_info)],
        ),
        Node(
            package=PACKAGE,
            executable="action_node",
            name="action_node",
            output="screen",
            respawn=True,
            respawn_delay=2.0,
            parameters=[str(config / "action.yaml"), common, {"backend": LaunchConfiguration("backend")}],
            remappings=[("/sensing/camera/front/image_raw", image), ("/sensing/camera/front/camera_info", camera_info)],
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
    return LaunchDescription(
        [
            DeclareLaunchArgument("use_sim_time", default_value="false", description="Follow /clock (bags, simulator)"),
            DeclareLaunchArgument(
                "backend", default_value="auto", description="auto | tensorrt | onnxruntime-cuda | onnxruntime | torch"
            ),
            DeclareLaunchArgument("namespace", default_value="", description="Namespace for every node"),
            DeclareLaunchArgument(
                "planning", default_value="true", description="Start planning_node (false: perception only)"
            ),
            DeclareLaunchArgument(
                "rviz", default_value="false", description="Start RViz with config/rviz/kvision.rviz"
            ),
            DeclareLaunchArgument(
                "image", default_value="/sensing/camera/front/image_raw", description="Camera image topic"
            ),
            DeclareLaunchArgument(
                "camera_info", default_value="/sensing/camera/front/camera_info", description="CameraInfo topic"
            ),
            DeclareLaunchArgument(
                "points", default_value="/sensing/lidar/top/points", description="Lidar PointCloud2 topic"
            ),
            GroupAction(nodes),
        ]
    )
