"""The stack in namespaces, as ``namespace:=`` launches it: topics follow the namespace (two stacks on one
domain keep apart), and the checks that stop a launch before it starts anything."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from sensor_msgs.msg import Image

from kvision_driving.ros.convert import make_header, numpy_to_image
from kvision_driving.ros.preflight import CONFIGURATION_ERROR, configuration_problems
from kvision_driving.ros.qos import qos_by_name


def test_two_namespaced_stacks_on_one_domain_keep_their_topics_apart(ros_graph, probe, tiny_model: Path) -> None:
    for namespace in ("a", "b"):
        common = ["--ros-args", "-r", f"__ns:=/{namespace}", "-p", "input_qos:=reliable"]
        ros_graph.start(
            f"segmentation_{namespace}",
            [
                "segmentation_node",
                *common,
                "-p",
                f"model_path:={tiny_model}",
                "-p",
                "labels_qos:=reliable",
                "-p",
                "max_rate_hz:=0.0",
            ],
        )
        ros_graph.start(f"fusion_{namespace}", ["fusion_node", *common])
    labels = {
        ns: probe.subscribe(Image, f"/{ns}/perception/segmentation/labels", qos_by_name("reliable")) for ns in "ab"
    }
    root = probe.subscribe(Image, "/perception/segmentation/labels", qos_by_name("reliable"))
    publisher = probe.node.create_publisher(Image, "/a/sensing/camera/front/image_raw", qos_by_name("reliable"))
    probe.wait_for_subscribers("/a/sensing/camera/front/image_raw", timeout_s=60)
    probe.wait_for_subscribers("/b/sensing/camera/front/image_raw", timeout_s=60)
    # Each fusion listens to its own stack's segmentation, nobody to the root namespace's.
    # (each fusion and this probe; discovery of the two stacks ends in either order)
    probe.wait_for(
        lambda: all(probe.node.count_subscribers(f"/{ns}/perception/segmentation/labels") == 2 for ns in "ab"),
        30,
        "fusion a and fusion b",
    )
    assert probe.node.count_subscribers("/a/sensing/lidar/top/points") == 1
    assert probe.node.count_publishers("/perception/segmentation/labels") == 0
    time.sleep(0.5)
    image = np.random.default_rng(0).integers(0, 255, (96, 160, 3), dtype=np.uint8)
    for index in range(3):
        publisher.publish(numpy_to_image(image, "rgb8", make_header(1_000 + index, "camera_front_optical")))
        probe.wait_for(lambda n=index: len(labels["a"]) > n, 30, f"labels of frame {index} in /a")
    time.sleep(1.0)
    assert len(labels["a"]) == 3 and not labels["b"] and not root  # nothing crossed over


def test_a_backend_that_cannot_run_here_is_a_configuration_error_not_a_crash(ros_graph, tiny_model: Path) -> None:
    """Exit code 2, which the launch files answer by stopping instead of respawning the node forever."""
    ros_graph.start(
        "segmentation",
        ["segmentation_node", "--ros-args", "-p", f"model_path:={tiny_model}", "-p", "backend:=tensorrt"],
    )
    assert ros_graph.wait("segmentation", 60) == CONFIGURATION_ERROR == 2
    log = ros_graph.log("segmentation")
    assert "TensorRT is not installed" in log and "Traceback" not in log


def test_launch_checks_stop_what_no_restart_fixes(tmp_path: Path) -> None:
    """No rviz2, no TensorRT, no CUDA and a tampered model on this machine: each named; the CPU stack is fine."""
    assert configuration_problems("auto", rviz=False) == []
    assert configuration_problems("onnxruntime", rviz=False) == []
    (problem,) = configuration_problems("auto", rviz=True)
    assert "rviz2 is not installed" in problem and "rviz:=false" in problem
    (problem,) = configuration_problems("tensorrt", rviz=False)
    assert "TensorRT is not installed" in problem
    (problem,) = configuration_problems("onnxruntime-cuda", rviz=False)
    assert "no CUDA provider" in problem
    assert "is not one of" in configuration_problems("cuda", rviz=False)[0]
    from kvision_driving.inference.model_card import shipped_model

    model = shipped_model("actions.onnx")
    copy = tmp_path / model.name
    copy.write_bytes(model.read_bytes() + b"\0")
    (tmp_path / "actions.card.json").write_bytes(model.with_name("actions.card.json").read_bytes())
    (problem,) = configuration_problems("auto", rviz=False, models=(copy,))
    assert "does not match its model card" in problem
    (problem,) = configuration_problems("auto", rviz=False, models=(tmp_path / "missing.onnx",))
    assert "not found" in problem
