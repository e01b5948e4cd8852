"""segmentation_node: camera image in, per-pixel Cityscapes class ids out (plus label map, overlay, confidence)."""

from __future__ import annotations

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image
from vision_msgs.msg import LabelInfo, VisionClass

from kvision_driving.perception.segmentation import Segmenter, to_rgb
from kvision_driving.ros.convert import ConversionError, image_to_numpy, numpy_to_image, stamp_to_ns
from kvision_driving.ros.models import MODEL_PARAMS, open_model
from kvision_driving.ros.node import STALE_AFTER, KvisionNode, Skip, run_node
from kvision_driving.ros.params import ParameterError, ParamSpec
from kvision_driving.ros.qos import QOS_CHOICES, qos_by_name

PARAMS = (
    *MODEL_PARAMS,
    ParamSpec("publish_overlay", True, "Publish the colour overlay for RViz"),
    ParamSpec("publish_confidence", True, "Publish per-pixel confidence (mono8, 255 = 1.0) for fusion"),
    ParamSpec("labels_qos", "sensor_data", "QoS of the label, confidence and overlay images", choices=QOS_CHOICES),
    ParamSpec(
        "max_rate_hz",
        10.0,
        "Segment the first frame of each 1/max_rate_hz of stamp time (the lidar's rate: what fusion paints "
        "with); 0: every frame",
        0.0,
        1000.0,
    ),
    STALE_AFTER,
)


class SegmentationNode(KvisionNode):
    def __init__(self) -> None:
        super().__init__("segmentation_node", PARAMS)
        model, choice = open_model(self, "segmentation.onnx")
        try:
            self.segmenter = Segmenter(choice.backend, choice.card)
        except ValueError as error:
            raise ParameterError(f"model {model}: {error}") from error
        images_qos = qos_by_name(str(self.params["labels_qos"]))
        self.labels_pub = self.create_publisher(Image, "perception/segmentation/labels", images_qos)
        self.confidence_pub = self.create_publisher(Image, "perception/segmentation/confidence", images_qos)
        self.overlay_pub = self.create_publisher(Image, "perception/segmentation/overlay", images_qos)
        self.info_pub = self.create_publisher(LabelInfo, "perception/segmentation/label_info", qos_by_name("latched"))
        info = LabelInfo(threshold=0.0)
        info.class_map = [VisionClass(class_id=i, class_name=name) for i, name in enumerate(choice.card.classes)]
        self.info_pub.publish(info)
        self.create_subscription(
            Image,
            "sensing/camera/front/image_raw",
            self.process_latest(
                "image", self.on_image, float(self.params["max_rate_hz"]), float(self.params["stale_after_s"])
            ),
            self.input_qos,
        )

    def on_image(self, message: Image) -> None:
        try:
            rgb = to_rgb(image_to_numpy(message), message.encoding)
        except ValueError as error:  # an encoding that is valid ROS but not a colour image (16UC1, 32FC1)
            raise ConversionError(str(error)) from error
        if self.check_order("image", stamp_to_ns(message.header.stamp)).skip:
            raise Skip  # labels for a frame already done, or older than one done: fusion would not use them
        result = self.segmenter(rgb)
        self.health.add_timing("model", result.model_ms)
        self.health.add_timing("postprocess", result.postprocess_ms)
        if self.params["publish_confidence"]:  # before the labels, which fusion waits for
            confidence = np.clip(result.confidence * 255.0 + 0.5, 0, 255).astype(np.uint8)
            self.confidence_pub.publish(numpy_to_image(confidence, "mono8", message.header))
        self.labels_pub.publish(numpy_to_image(result.labels, "mono8", message.header))
        if self.params["publish_overlay"] and self.listened(self.overlay_pub):
            self.overlay_pub.publish(numpy_to_image(self.segmenter.overlay(rgb, result.labels), "rgb8", message.header))


def make_node() -> Node:
    return SegmentationNode()


def main(args: list[str] | None = None) -> int:
    return run_node(make_node, args)


if __name__ == "__main__":
    raise SystemExit(main())
