"""action_node as a real process on the simulator's live camera, with ground-truth tracks standing in for
fusion: the shipped network recognises what the road users do, predictions follow, bad input is counted."""

from __future__ import annotations

from autoware_perception_msgs.msg import PredictedObjects
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

from kvision_driving.core.actions import ACTIONS, UNKNOWN_ACTION
from kvision_driving.ros.convert import stamp_to_ns
from kvision_driving.ros.qos import qos_by_name
from kvision_driving.ros.stack import node_command


def test_actions_and_predictions_on_the_live_simulator(ros_graph, probe) -> None:
    recognised = probe.subscribe(Detection2DArray, "/perception/actions", qos_by_name("reliable"))
    truth = probe.subscribe(Detection2DArray, "/ground_truth/actions", qos_by_name("reliable"))
    predicted = probe.subscribe(PredictedObjects, "/perception/objects/predicted", qos_by_name("reliable"))
    diagnostics = probe.subscribe(DiagnosticArray, "/diagnostics", qos_by_name("reliable"))
    ros_graph.start(
        "action",
        node_command(
            "action_node",
            "action",
            "backend:=onnxruntime",
            "objects_topic:=/ground_truth/objects/tracked",
            "diagnostics_period_s:=0.5",
        ),
    )
    ros_graph.start(
        "sim",
        node_command(
            "sim_node",
            "sim",
            "scenario:=lead_vehicle_braking",
            "clock_mode:=realtime",
            "drive:=autopilot",
            "duration_s:=8.0",
            "start_delay_s:=4.0",
        ),
    )
    assert ros_graph.wait("sim", 240) == 0, ros_graph.log("sim")
    probe.wait_for(lambda: len(predicted) >= 100, 20, "predicted objects")
    assert ros_graph.alive("action"), ros_graph.log("action")

    truth_by_stamp = {
        stamp_to_ns(m.header.stamp): {d.id: d.results[0].hypothesis.class_id for d in m.detections} for m in truth
    }
    agree, scored, unknown = 0, 0, 0
    for message in recognised:
        expected = truth_by_stamp.get(stamp_to_ns(message.header.stamp), {})
        for detection in message.detections:
            best = detection.results[0].hypothesis.class_id
            assert best in ACTIONS or best == UNKNOWN_ACTION
            if best == UNKNOWN_ACTION:
                unknown += 1
            elif detection.id in expected:  # ids are the track UUIDs: the ground truth's own here
                scored += 1
                agree += best == expected[detection.id]
    assert unknown > 0  # every track starts unknown until its clip is full
    assert scored >= 50, scored
    assert agree / scored >= 0.8, (agree, scored)

    last = predicted[-1]
    assert last.header.frame_id == "map" and last.objects
    for obj in last.objects:
        paths = obj.kinematics.predicted_paths
        assert paths and all(len(path.path) == 16 for path in paths)  # now, then every 0.2 s to 3 s
        now = obj.kinematics.initial_pose_with_covariance.pose.position
        assert all((path.path[0].position.x, path.path[0].position.y) == (now.x, now.y) for path in paths)
        assert abs(sum(path.confidence for path in paths) - 1.0) < 1e-3
    statuses = [s for array in diagnostics for s in array.status if s.name == "kvision: action_node"]
    values = {item.key: item.value for item in statuses[-1].values}
    assert values["backend"] == "onnxruntime" and float(values["model_ms_p50"]) > 0


def test_bad_images_are_skipped_and_counted(ros_graph, probe) -> None:
    diagnostics = probe.subscribe(DiagnosticArray, "/diagnostics", qos_by_name("reliable"))
    ros_graph.start(
        "action", node_command("action_node", "action", "backend:=onnxruntime", "diagnostics_period_s:=0.2")
    )
    publisher = probe.node.create_publisher(Image, "/sensing/camera/front/image_raw", qos_by_name("sensor_data"))
    probe.wait_for_subscribers("/sensing/camera/front/image_raw", 1, 60)
    depth = Image(height=4, width=4, encoding="32FC1", step=16, data=bytes(64))  # not a colour image
    truncated = Image(height=480, width=640, encoding="rgb8", step=1920, data=bytes(100))

    def reasons() -> str:
        for array in reversed(diagnostics):
            for status in array.status:
                if status.name == "kvision: action_node":
                    return {item.key: item.value for item in status.values}.get("bad_input_reasons", "")
        return ""

    def sent_and_counted() -> bool:
        publisher.publish(depth)
        publisher.publish(truncated)
        return "image:" in reasons()

    probe.wait_for(sent_and_counted, 30, "bad images counted")
    assert ros_graph.alive("action"), ros_graph.log("action")
