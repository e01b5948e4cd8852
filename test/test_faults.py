"""Fault injection on the whole stack, every node a real process, the simulator live in real time.

Each node in turn is killed (as a crash would) and restarted: the others keep running, planning
stops the car in a controlled way within the watchdog's 300 ms plus one cycle of its input going
stale, and drives again once the node is back. The camera and then the lidar drop out for 2 s (the
simulator stops publishing them): the same. The simulator is restarted (time jumps back to zero):
every node starts over and the stack drives again. A burst of duplicated and reordered sweeps is
skipped and counted without disturbing the tracker.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from autoware_perception_msgs.msg import TrackedObjects
from diagnostic_msgs.msg import DiagnosticArray
from visualization_msgs.msg import MarkerArray

from kvision_driving.ros.convert import stamp_to_ns
from kvision_driving.ros.diagnostics import status_values
from kvision_driving.ros.qos import qos_by_name
from kvision_driving.ros.stack import node_command, stack_processes

WATCHDOG_MS = 300
CYCLE_MS = 100
SIM = node_command(
    "sim_node",
    "sim",
    "scenario:=curved_road",
    "clock_mode:=realtime",
    "drive:=autopilot",
    "duration_s:=900.0",
    "start_delay_s:=3.0",
)
# What planning reports stale when each process's output stops.
STALE_INPUT = {"segmentation": "labels", "fusion": "painted_points", "action": "objects"}


class Behaviour:
    """The planner's behaviour over wall time, from its markers."""

    def __init__(self, probe) -> None:
        self.seen: list[tuple[float, str]] = []
        probe.node.create_subscription(MarkerArray, "/planning/markers", self._on_markers, qos_by_name("reliable"))

    def _on_markers(self, markers: MarkerArray) -> None:
        now = time.monotonic()
        self.seen.extend((now, marker.text) for marker in markers.markers if marker.ns == "behaviour")

    def since(self, wall_s: float) -> list[str]:
        return [text for t, text in list(self.seen) if t > wall_s]

    def wait_driving(self, probe, since: float, timeout_s: float, what: str) -> None:
        probe.wait_for(lambda: any(not text.startswith("safe_stop") for text in self.since(since)), timeout_s, what)

    def wait_stop(self, probe, since: float, stale: str, what: str) -> str:
        """The first safe stop after ``since`` that names ``stale``; its age is checked against the watchdog."""
        probe.wait_for(lambda: any(f"{stale} stale" in text for text in self.since(since)), 15, what)
        reason = next(text for text in self.since(since) if f"{stale} stale" in text)
        # Ages are on the planner's clock (simulated time): at most the limit plus one cycle and a tick.
        age_ms = int(re.search(rf"{stale} stale \((\d+) ms\)", reason).group(1))
        assert WATCHDOG_MS <= age_ms <= WATCHDOG_MS + CYCLE_MS + 20, reason
        return reason


def start_stack(ros_graph) -> dict[str, list[str]]:
    commands = dict(stack_processes("full", lockstep=False))
    for name, command in commands.items():
        ros_graph.start(name, command)
    ros_graph.start("sim", SIM)
    return commands


def assert_alive(ros_graph, names) -> None:
    for name in names:
        assert ros_graph.alive(name), f"{name} died:\n{ros_graph.log(name)[-2000:]}"


@pytest.mark.timeout(600)
def test_each_node_killed_and_restarted_and_each_sensor_dropped(ros_graph, probe) -> None:
    behaviour = Behaviour(probe)
    commands = start_stack(ros_graph)
    everyone = [*commands, "sim"]
    behaviour.wait_driving(probe, 0.0, 180, "the stack to drive")

    for name in ("segmentation", "fusion", "action"):
        killed = time.monotonic()
        ros_graph.kill(name)
        behaviour.wait_stop(probe, killed, STALE_INPUT[name], f"a safe stop after {name} died")
        time.sleep(1.0)
        assert_alive(ros_graph, [other for other in everyone if other != name])
        restarted = time.monotonic()
        ros_graph.start(name, commands[name])
        behaviour.wait_driving(probe, restarted, 120, f"planning to drive again after {name} restarted")

    ros_graph.kill("planning")
    time.sleep(1.0)
    assert_alive(ros_graph, [other for other in everyone if other != "planning"])
    restarted = time.monotonic()
    ros_graph.start("planning", commands["planning"])
    behaviour.wait_driving(probe, restarted, 60, "planning to drive after its own restart")

    for topic, stale in (
        ("/sensing/camera/front/image_raw", "labels"),
        ("/sensing/lidar/top/points", "painted_points"),
    ):
        dropped = time.monotonic()
        probe.set_parameters("sim_node", mute_topics=[topic])
        behaviour.wait_stop(probe, dropped, stale, f"a safe stop when {topic} drops out")
        time.sleep(max(0.0, 2.0 - (time.monotonic() - dropped)))
        back = time.monotonic()
        probe.set_parameters("sim_node", mute_topics=[""])
        behaviour.wait_driving(probe, back, 60, f"planning to drive again when {topic} is back")
    assert_alive(ros_graph, everyone)


@pytest.mark.timeout(600)
def test_simulator_restart_sends_time_back_and_every_node_starts_over(ros_graph, probe) -> None:
    behaviour = Behaviour(probe)
    tracked = probe.subscribe(TrackedObjects, "/perception/objects/tracked", qos_by_name("reliable"))
    commands = start_stack(ros_graph)
    behaviour.wait_driving(probe, 0.0, 180, "the stack to drive")
    time.sleep(8.0)  # long enough that the restart is a jump back, not a reordering
    ros_graph.stop("sim")
    ros_graph.start("sim", SIM)

    def stamps() -> list[int]:
        return [stamp_to_ns(message.header.stamp) for message in list(tracked)]

    def after_jump() -> list[int]:
        jumps = np.flatnonzero(np.diff(stamps()) < 0)
        return stamps()[jumps[0] + 1 :] if len(jumps) else []

    probe.wait_for(lambda: len(after_jump()) >= 10, 120, "tracked objects on the new timeline")
    tracking_again = time.monotonic()
    behaviour.wait_driving(probe, tracking_again, 120, "the stack to drive after the time jump")
    for name in ("fusion", "action", "planning"):
        assert "time went backwards" in ros_graph.log(name), f"{name} did not notice the jump"
    assert_alive(ros_graph, commands)
    assert np.count_nonzero(np.diff(stamps()) < 0) == 1, "tracked objects should go back in time exactly once"
    assert np.all(np.diff(after_jump()) > 0)  # and run on from there


def test_duplicate_and_reordered_sweeps_are_skipped_and_counted(ros_graph, probe) -> None:
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from tf2_msgs.msg import TFMessage

    from kvision_driving.core.labels import TRAIN_ID
    from kvision_driving.ros.convert import make_header, numpy_to_image, xyz_to_pointcloud2
    from kvision_driving.ros.malformed import CAMERA_FRAME, valid_inputs
    from kvision_driving.ros.qos import tf_static_qos

    diagnostics = probe.subscribe(DiagnosticArray, "/diagnostics", qos_by_name("reliable"))
    tracked = probe.subscribe(TrackedObjects, "/perception/objects/tracked", qos_by_name("reliable"))
    ros_graph.start(
        "fusion",
        ["fusion_node", "--ros-args", "-p", "input_qos:=reliable", "-p", "diagnostics_period_s:=0.2", "-p",
         "confidence_topics:=['']"],
    )  # fmt: skip
    reliable = qos_by_name("reliable")
    points = probe.node.create_publisher(PointCloud2, "/sensing/lidar/top/points", reliable)
    labels = probe.node.create_publisher(Image, "/perception/segmentation/labels", reliable)
    info = probe.node.create_publisher(CameraInfo, "/sensing/camera/front/camera_info", reliable)
    tf = probe.node.create_publisher(TFMessage, "/tf_static", tf_static_qos())
    probe.wait_for_subscribers("/sensing/lidar/top/points", timeout_s=60)
    probe.wait_for_subscribers("/perception/segmentation/labels", timeout_s=10)
    setup = valid_inputs(0)
    tf.publish(setup.tf_static)
    info.publish(setup.camera_info)
    time.sleep(0.5)
    # A car-sized block of points 15 m ahead, standing still, seen as car by the camera: one track that
    # must survive the burst (a reordered sweep processed would reset the tracker).
    rng = np.random.default_rng(0)
    car = rng.uniform([14, -0.9, -1.4], [18.5, 0.9, 0.0], (400, 3))
    road = np.column_stack([rng.uniform(0, 40, 3000), rng.uniform(-8, 8, 3000), np.full(3000, -1.9)])
    cloud = np.vstack([car, road]).astype(np.float32)
    all_car = np.full((setup.camera.height, setup.camera.width), TRAIN_ID["car"], np.uint8)
    sweeps_s = [1.0, 1.1, 1.2, 1.3, 1.4, 1.4, 1.35, 1.5, 1.5, 1.45, 1.6, 1.7, 1.55, 1.8, 1.9, 2.0]
    duplicates, late = [1.4, 1.5], [1.35, 1.45, 1.55]
    for stamp_s in sweeps_s:
        stamp_ns = round(stamp_s * 1e9)
        labels.publish(numpy_to_image(all_car, "mono8", make_header(stamp_ns, CAMERA_FRAME)))
        points.publish(xyz_to_pointcloud2(cloud, make_header(stamp_ns, "lidar_top")))
        time.sleep(0.2)
    processed = len(sweeps_s) - len(duplicates) - len(late)

    def values() -> dict[str, str]:
        found = [status_values(s) for a in list(diagnostics) for s in a.status if s.name == "kvision: fusion_node"]
        return found[-1] if found else {}

    probe.wait_for(lambda: len(tracked) >= processed, 20, "tracked objects for every new sweep")
    skipped = len(duplicates) + len(late)
    probe.wait_for(lambda: int(values().get("out_of_order", 0)) == skipped, 10, "the skipped sweeps counted")
    time.sleep(0.5)
    stamps = [stamp_to_ns(message.header.stamp) for message in tracked]
    assert len(stamps) == processed and np.all(np.diff(stamps) > 0), "a duplicate or reordered sweep was processed"
    ids = [{bytes(obj.object_id.uuid) for obj in message.objects} for message in tracked[-5:]]
    assert len(ids[0]) == 1 and all(current == ids[0] for current in ids), "the track did not survive the burst"
    assert "duplicate" in values()["out_of_order_reasons"] and "late" in values()["out_of_order_reasons"]
