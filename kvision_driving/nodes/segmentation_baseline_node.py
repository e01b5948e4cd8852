"""A deliberately naive segmentation node, only for ``kvision bench segmentation`` to compare against.

It does what a first version often does: cv_bridge-style copies, torch eager, logits upsampled to
full resolution before the argmax, fresh buffers every frame, and a Python list assigned to
``msg.data``. Same model weights and inputs as segmentation_node, so the difference is the node.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from rclpy.node import Node
from sensor_msgs.msg import Image

from kvision_driving.inference.model_card import shipped_model, verified_card
from kvision_driving.nets.registry import build_exportable
from kvision_driving.ros.node import KvisionNode, run_node
from kvision_driving.ros.params import ParamSpec

PARAMS = (ParamSpec("model_path", "", "ONNX model whose card names the torch weights (empty: the shipped model)"),)


class SegmentationBaselineNode(KvisionNode):
    def __init__(self) -> None:
        super().__init__("segmentation_baseline_node", PARAMS)
        model = Path(str(self.params["model_path"]) or shipped_model("segmentation.onnx"))
        self.card = verified_card(model)
        spec = self.card.training["torch"]
        self.network = build_exportable(spec["architecture"], model.with_name(spec["weights"])).network.eval()
        self.health.backend = "torch-naive"
        self.publisher = self.create_publisher(Image, "perception/segmentation/labels", self.input_qos)
        self.create_subscription(
            Image, "sensing/camera/front/image_raw", self.process_latest("image", self.on_image), self.input_qos
        )

    def on_image(self, message: Image) -> None:
        image = np.array(message.data, dtype=np.uint8).reshape(message.height, message.width, 3).copy()
        tensor = torch.tensor(image).permute(2, 0, 1).float().div(255.0)
        mean = torch.tensor(self.card.input.mean).view(3, 1, 1)
        std = torch.tensor(self.card.input.std).view(3, 1, 1)
        tensor = ((tensor - mean) / std).unsqueeze(0)
        tensor = F.interpolate(tensor, size=(self.card.height, self.card.width), mode="bilinear", align_corners=False)
        started = time.perf_counter()
        with torch.no_grad():
            logits = self.network(tensor)
        self.health.add_timing("model", (time.perf_counter() - started) * 1e3)
        logits = F.interpolate(logits, size=(message.height, message.width), mode="bilinear", align_corners=False)
        labels = logits.argmax(1)[0].numpy().astype(np.uint8)
        out = Image(
            header=message.header, height=message.height, width=message.width, encoding="mono8", step=message.width
        )
        out.data = labels.ravel().tolist()
        self.publisher.publish(out)


def make_node() -> Node:
    return SegmentationBaselineNode()


def main(args: list[str] | None = None) -> int:
    return run_node(make_node, args)


if __name__ == "__main__":
    raise SystemExit(main())
