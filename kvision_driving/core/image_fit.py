"""How a camera image of any size becomes a network input, and how the output maps back: never stretched.

Two policies, chosen by the model's card:
- ``pixels`` (models that accept any input size, as ours do): the image is scaled, keeping its aspect
  ratio, to about the card's pixel count (640 x 384 = 245,760), then padded on the right and bottom to
  a multiple of the network's stride. A KITTI frame (1242 x 375) runs at 904 x 272, a CamVid frame
  (480 x 360) at 572 x 428, a 1920 x 1080 frame at 660 x 372: the same detail per pixel budget whatever
  the camera, and no cost for aspect ratios the model was not trained on.
- ``letterbox`` (models with a fixed input size): scaled to fit inside it, padded to it.

The scaled size is a multiple of the output stride (4: the network's scores are at a quarter of its
input), so the scores of the image are exactly the top-left ``scaled / 4`` of the output, and resizing
them to the camera's size is the same half-pixel-centre mapping as resizing the image down was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SIZE_POLICIES = ("pixels", "letterbox")


@dataclass(frozen=True)
class InputFit:
    height: int  # the camera image
    width: int
    scaled_height: int  # the image inside the network input
    scaled_width: int
    input_height: int  # the network input, padded
    input_width: int

    def output_region(self, output_height: int, output_width: int) -> tuple[int, int]:
        """Rows and columns of a network output (at any fraction of the input's size) that show the image."""
        return (
            max(1, round(output_height * self.scaled_height / self.input_height)),
            max(1, round(output_width * self.scaled_width / self.input_width)),
        )


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def fit_pixels(height: int, width: int, pixels: int, stride: int = 32, output_stride: int = 4) -> InputFit:
    """Scale to about ``pixels`` keeping the aspect ratio, pad to a multiple of ``stride``."""
    if height <= 0 or width <= 0 or pixels <= 0:
        raise ValueError(f"cannot fit a {width}x{height} image into {pixels} pixels")
    scale = math.sqrt(pixels / (height * width))
    scaled_height, scaled_width = _round_to(height * scale, output_stride), _round_to(width * scale, output_stride)
    return InputFit(
        height,
        width,
        scaled_height,
        scaled_width,
        math.ceil(scaled_height / stride) * stride,
        math.ceil(scaled_width / stride) * stride,
    )


def fit_letterbox(height: int, width: int, input_height: int, input_width: int, output_stride: int = 4) -> InputFit:
    """Scale to fit inside a fixed input keeping the aspect ratio, pad to it."""
    if height <= 0 or width <= 0:
        raise ValueError(f"cannot fit a {width}x{height} image")
    # In integers: with a float scale, 154 * (640 / 154) is 639.99..., and the limiting side lost 4 pixels.
    if width * input_height >= height * input_width:  # the width fills the input
        scaled_height, scaled_width = height * input_width // width, input_width
    else:
        scaled_height, scaled_width = input_height, width * input_height // height
    return InputFit(
        height,
        width,
        max(output_stride, scaled_height // output_stride * output_stride),
        max(output_stride, scaled_width // output_stride * output_stride),
        input_height,
        input_width,
    )


def fit_image(height: int, width: int, policy: str, nominal_height: int, nominal_width: int) -> InputFit:
    """The fit for a model whose card gives ``policy`` and a nominal input size."""
    if policy == "pixels":
        return fit_pixels(height, width, nominal_height * nominal_width)
    if policy == "letterbox":
        return fit_letterbox(height, width, nominal_height, nominal_width)
    raise ValueError(f"unknown input size policy {policy!r} ({', '.join(SIZE_POLICIES)})")
