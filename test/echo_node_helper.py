"""A minimal KvisionNode run as a real process by the tests: keep-latest input, bad-input handling.

It converts each Image to numpy, sleeps ``work_s`` (a slow model), and publishes the first channel
as mono8 with the input header. Not part of the package: it exercises the node base.
"""

from __future__ import annotations

import time

import numpy as np
from sensor_msgs.msg import Image

from kvision_driving.ros.convert import image_to_numpy, numpy_to_image
from kvision_driving.ros.node import KvisionNode, run_node
from kvision_driving.ros.params import ParamSpec

PARAMS = (ParamSpec("work_s", 0.0, "Simulated processing time per frame", 0.0, 5.0),)


class EchoNode(KvisionNode):
    def __init__(self) -> None:
        super().__init__("echo", PARAMS)
        self.health.backend = "numpy"
        self.publisher = self.create_publisher(Image, "echo/out", self.output_qos)
        self.create_subscription(Image, "echo/in", self.process_latest("image", self.on_image), self.input_qos)

    def on_image(self, message: Image) -> None:
        image = image_to_numpy(message)
        time.sleep(float(self.params["work_s"]))
        first = image[:, :, 0] if image.ndim == 3 else image
        self.publisher.publish(numpy_to_image(np.ascontiguousarray(first), "mono8", message.header))


if __name__ == "__main__":
    raise SystemExit(run_node(EchoNode))
