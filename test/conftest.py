"""Test harness: real ROS processes on private domains, loopback DDS, logs in temp folders.

Every test graph gets its own ROS_DOMAIN_ID (claimed with a lock, see ros/graph.py). rclpy used
inside the pytest process (probes) runs on the same private domain through its own Context.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvision_driving.ros.dds import default_profile_path

# Before any rclpy participant exists in this process: loopback profile, no user DDS settings.
for _name in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_STATIC_PEERS", "RMW_IMPLEMENTATION", "KVISION_DDS_PROFILE"):
    os.environ.pop(_name, None)
os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(default_profile_path())
os.environ.setdefault("ROS_LOG_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "kvision-test-logs"))

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
SHARED_INTERFACES = REPO.parent / "shared" / "interfaces"


@pytest.fixture
def ros_graph(tmp_path: Path) -> Iterator[object]:
    """A private graph of real processes; logs under tmp_path/logs (kept by pytest for failures)."""
    from kvision_driving.ros.graph import RosGraph

    with RosGraph(log_dir=tmp_path / "logs") as graph:
        yield graph


@pytest.fixture
def probe(ros_graph: object) -> Iterator[object]:
    """An in-process rclpy node on the graph's domain, to publish and subscribe from the test."""
    from kvision_driving.ros.probe import GraphProbe

    with GraphProbe(ros_graph.domain_id) as graph_probe:
        yield graph_probe


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised network exported like the shipped one (small input, fast)."""
    import torch
    from safetensors.torch import save_file

    from kvision_driving.nets.export import export_segmentation
    from kvision_driving.nets.segmentation import FastSCNN

    folder = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    weights = folder / "weights.safetensors"
    save_file(FastSCNN().state_dict(), str(weights))
    export_segmentation(weights, folder / "segmentation.onnx", height=128, width=256, command="test")
    return folder / "segmentation.onnx"


@pytest.fixture(scope="session")
def tiny_action_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised streaming action network exported like the shipped one."""
    import torch
    from safetensors.torch import save_file

    from kvision_driving.core.actions import ACTIONS
    from kvision_driving.nets.actions import ActionNet
    from kvision_driving.nets.export import export_actions

    folder = tmp_path_factory.mktemp("action_model")
    torch.manual_seed(0)
    weights = folder / "weights.safetensors"
    save_file(ActionNet(len(ACTIONS)).state_dict(), str(weights))
    export_actions(weights, folder / "actions.onnx", command="test")
    return folder / "actions.onnx"


@pytest.fixture(scope="session")
def detailed_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Like ``tiny_model``, with weights that make its classes follow the image's detail closely (a freshly
    initialised network labels almost every pixel alike): for tests of where labels land."""
    import torch
    from safetensors.torch import save_file

    from kvision_driving.nets.export import export_segmentation
    from kvision_driving.nets.segmentation import FastSCNN

    folder = tmp_path_factory.mktemp("detailed_model")
    torch.manual_seed(1)
    network = FastSCNN()
    with torch.no_grad():
        network.classifier[-1].weight.mul_(30.0)
        torch.nn.init.normal_(network.refine.correction.weight, std=3.0)
        network.score_offset.normal_(std=0.3)  # as a trained model has one: the export folds it in
    weights = folder / "weights.safetensors"
    save_file(network.state_dict(), str(weights))
    export_segmentation(weights, folder / "segmentation.onnx", height=128, width=256, command="test")
    return folder / "segmentation.onnx"
