"""The malformed-message corpus against every perception and planning node, as real processes.

Each malformed message goes to its topic once; every node that reads the topic must count it in
/diagnostics (exactly once), publish nothing from it, live on, and give the same output for good
inputs afterwards as before (a bad calibration or transform never replaces a good one).
"""

from __future__ import annotations

import collections
import copy
import time

import numpy as np
from autoware_perception_msgs.msg import TrackedObjects
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import OccupancyGrid
from sensor_msgs.msg import Image, PointCloud2
from vision_msgs.msg import Detection2DArray

from kvision_driving.ros.convert import image_to_numpy, make_header, pointcloud2_field
from kvision_driving.ros.diagnostics import status_values
from kvision_driving.ros.malformed import STREAMS, ValidInputs, malformed_corpus, valid_inputs
from kvision_driving.ros.qos import qos_by_name, tf_static_qos

T0 = 1_000 * 10**9
COMMON = ["-p", "diagnostics_period_s:=0.2", "-p", "input_qos:=reliable"]
READERS: dict[str, tuple[str, ...]] = {
    "segmentation_node": ("camera",),
    "action_node": ("camera", "camera_info", "odometry", "tf_static"),
    "fusion_node": ("labels", "camera_info", "lidar", "odometry", "tf_static"),
    "planning_node": ("painted_points", "odometry", "tf_static"),
}
# Labels and painted points come from the test alone, not also from segmentation and fusion, so every
# output seen can be traced to what the test sent.
TOPICS = {
    **{stream: topic for stream, (topic, _) in STREAMS.items()},
    "labels": "/test/labels",
    "painted_points": "/test/painted_points",
}
EVERY_MESSAGE = ["-p", "max_rate_hz:=0.0"]  # the corpus's messages share stamps: none may be skipped by rate
EXTRA_PARAMS = {
    "segmentation_node": EVERY_MESSAGE,
    "action_node": EVERY_MESSAGE,
    "fusion_node": ["-p", "confidence_topics:=['']", "-p", f"label_topics:=['{TOPICS['labels']}']"],
    "planning_node": ["-p", "monitored_nodes:=['']", "-p", f"points_topic:={TOPICS['painted_points']}", *EVERY_MESSAGE],
}


def restamped(inputs: ValidInputs, stamp_ns: int) -> ValidInputs:
    fresh = copy.deepcopy(inputs)
    for message in (fresh.image, fresh.camera_info, fresh.labels, fresh.lidar, fresh.painted_points, fresh.odometry):
        message.header.stamp = make_header(stamp_ns, "").stamp
    return fresh


def test_corpus_has_fifty_distinct_cases_over_every_stream() -> None:
    corpus = malformed_corpus(T0)
    assert len(corpus) >= 50
    assert len({case.name for case in corpus}) == len(corpus)
    assert {case.stream for case in corpus} == set(STREAMS)


def test_every_node_skips_counts_and_survives_the_corpus(ros_graph, probe) -> None:
    diagnostics = probe.subscribe(DiagnosticArray, "/diagnostics", qos_by_name("reliable"))
    reliable = qos_by_name("reliable")
    outputs = {
        "segmentation_node": probe.subscribe(Image, "/perception/segmentation/labels", qos_by_name("sensor_data")),
        "action_node": probe.subscribe(Detection2DArray, "/perception/actions", reliable),
        "fusion_node": probe.subscribe(TrackedObjects, "/perception/objects/tracked", reliable),
        "planning_node": probe.subscribe(OccupancyGrid, "/planning/occupancy", reliable),
    }
    painted = probe.subscribe(PointCloud2, "/perception/fusion/painted_points", reliable)

    for node in READERS:
        ros_graph.start(node, [node, "--ros-args", *COMMON, *EXTRA_PARAMS.get(node, [])])
    publishers = {
        stream: probe.node.create_publisher(
            kind, TOPICS[stream], tf_static_qos() if stream == "tf_static" else reliable
        )
        for stream, (_, kind) in STREAMS.items()
    }
    readers = collections.Counter(stream for streams in READERS.values() for stream in streams)
    for stream, count in readers.items():
        probe.wait_for_subscribers(TOPICS[stream], count, timeout_s=90)

    def counts() -> dict[str, int]:
        latest: dict[str, int] = {}
        for array in list(diagnostics):
            for status in array.status:
                node = status.name.removeprefix("kvision: ")
                if node in READERS:
                    latest[node] = int(status_values(status)["bad_inputs"])
        return latest

    def feed(inputs: ValidInputs) -> None:
        """Good inputs, upstream first, each waited for: a baseline every node produces output from."""
        before = {node: len(messages) for node, messages in outputs.items()}
        painted_before = len(painted)
        publishers["tf_static"].publish(inputs.tf_static)
        publishers["camera_info"].publish(inputs.camera_info)
        publishers["odometry"].publish(inputs.odometry)
        time.sleep(0.5)
        publishers["labels"].publish(inputs.labels)
        time.sleep(0.3)
        publishers["camera"].publish(inputs.image)
        publishers["lidar"].publish(inputs.lidar)
        publishers["painted_points"].publish(inputs.painted_points)
        for node, messages in outputs.items():
            probe.wait_for(lambda n=node, m=messages: len(m) > before[n], 30, f"output of {node}")
        # Fusion's second output: its tracked objects can arrive first (a CI run read painted[-1] too early).
        probe.wait_for(lambda: len(painted) > painted_before, 30, "painted points")

    good = valid_inputs(T0)
    feed(good)
    probe.wait_for(lambda: set(counts()) == set(READERS), 10, "diagnostics of every node")
    first_labels = image_to_numpy(outputs["segmentation_node"][-1]).copy()
    first_painted = pointcloud2_field(painted[-1], "label", np.uint8)
    produced = {node: len(messages) for node, messages in outputs.items()}
    start = counts()

    expected = collections.Counter()
    for case in malformed_corpus(T0 + 10**8):
        publishers[case.stream].publish(case.message)
        targets = [node for node, streams in READERS.items() if case.stream in streams]
        for node in targets:
            expected[node] += 1
        probe.wait_for(
            lambda targets=targets: all(counts()[node] - start[node] >= expected[node] for node in targets),
            15,
            f"{case.name!r} counted by {', '.join(targets)}",
        )
    time.sleep(1.0)  # anything counted twice, or published late, shows up now
    final = counts()
    assert {node: final[node] - start[node] for node in READERS} == dict(expected)
    assert {node: len(messages) for node, messages in outputs.items()} == produced, "output from a malformed message"
    for node in READERS:
        assert ros_graph.alive(node), ros_graph.log(node)

    # The good calibration, transforms and poses are still in use: the same inputs give the same output.
    feed(restamped(good, T0 + 10**9))
    assert np.array_equal(image_to_numpy(outputs["segmentation_node"][-1]), first_labels)
    assert np.array_equal(pointcloud2_field(painted[-1], "label", np.uint8), first_painted)
