"""Coverage-guided fuzzing (atheris, libFuzzer) of the message converters in ``ros/convert.py``.

Run by ``test_atheris_fuzz.py`` in a subprocess (libFuzzer ends the process when done), or by hand:
``python test/fuzz_convert.py -runs=100000``. Every input becomes an Image, a PointCloud2 or a
CameraInfo with fuzzer-chosen fields and bytes; the converters must either refuse it with
ConversionError or return what the message describes. Anything else is a crash libFuzzer reports.
"""

from __future__ import annotations

import sys

import atheris
import numpy as np
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField

# Coverage of our converters guides the search; instrumenting numpy as well cost four fifths of the time.
with atheris.instrument_imports(include=["kvision_driving"]):
    from kvision_driving.ros.convert import (
        IMAGE_ENCODINGS,
        ConversionError,
        camera_info_to_pinhole,
        image_to_numpy,
        pointcloud2_to_array,
        pointcloud2_to_xyz,
    )

ENCODINGS = [*IMAGE_ENCODINGS, "yuv422", "", "bayer_rggb8"]
DATATYPES = list(range(0, 10))


def fuzz_image(data: atheris.FuzzedDataProvider) -> None:
    message = Image()
    message.height, message.width = data.ConsumeIntInRange(0, 64), data.ConsumeIntInRange(0, 64)
    message.step = data.ConsumeIntInRange(0, 512)
    message.encoding = ENCODINGS[data.ConsumeIntInRange(0, len(ENCODINGS) - 1)]
    message.is_bigendian = data.ConsumeIntInRange(0, 1)
    message.data = data.ConsumeBytes(data.ConsumeIntInRange(0, 8192))
    try:
        view = image_to_numpy(message)
    except ConversionError:
        return
    _, channels = IMAGE_ENCODINGS[message.encoding]
    assert view.shape[:2] == (message.height, message.width)
    assert (view.shape[2] if view.ndim == 3 else 1) == channels
    assert len(message.data) == message.step * message.height


def fuzz_cloud(data: atheris.FuzzedDataProvider) -> None:
    message = PointCloud2()
    message.height, message.width = data.ConsumeIntInRange(0, 8), data.ConsumeIntInRange(0, 64)
    message.point_step, message.row_step = data.ConsumeIntInRange(0, 64), data.ConsumeIntInRange(0, 4096)
    message.is_bigendian = data.ConsumeBool()
    message.fields = [
        PointField(
            name=["x", "y", "z", "intensity", "x", ""][data.ConsumeIntInRange(0, 5)],
            offset=data.ConsumeIntInRange(0, 64),
            datatype=DATATYPES[data.ConsumeIntInRange(0, len(DATATYPES) - 1)],
            count=data.ConsumeIntInRange(0, 3),
        )
        for _ in range(data.ConsumeIntInRange(0, 5))
    ]
    message.data = data.ConsumeBytes(data.ConsumeIntInRange(0, 8192))
    try:
        points = pointcloud2_to_array(message)
    except ConversionError:
        return
    assert len(points) == message.width * message.height
    try:
        xyz, kept = pointcloud2_to_xyz(message)
    except ConversionError:
        return
    assert xyz.shape[1] == 3 and np.isfinite(xyz).all()
    assert len(xyz) == (len(points) if kept is None else len(kept))


def fuzz_camera_info(data: atheris.FuzzedDataProvider) -> None:
    message = CameraInfo()
    message.width, message.height = data.ConsumeIntInRange(0, 100_000), data.ConsumeIntInRange(0, 100_000)
    message.k = [data.ConsumeRegularFloat() if data.ConsumeBool() else data.ConsumeFloat() for _ in range(9)]
    message.p = [data.ConsumeFloat() for _ in range(12)] if data.ConsumeBool() else [0.0] * 12
    message.r = [data.ConsumeFloat() for _ in range(9)] if data.ConsumeBool() else [0.0] * 9
    message.d = [data.ConsumeFloat() for _ in range(data.ConsumeIntInRange(0, 14))]
    message.distortion_model = ["plumb_bob", "rational_polynomial", "equidistant", "", "fisheye"][
        data.ConsumeIntInRange(0, 4)
    ]
    try:
        camera = camera_info_to_pinhole(message)
    except ConversionError:
        return
    assert camera.fx > 0 and camera.fy > 0 and np.isfinite(camera.k).all() and np.isfinite(camera.p).all()


TARGETS = (fuzz_image, fuzz_cloud, fuzz_camera_info)


def one_input(raw: bytes) -> None:
    data = atheris.FuzzedDataProvider(raw)
    TARGETS[data.ConsumeIntInRange(0, len(TARGETS) - 1)](data)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
