"""Image pre-processing as a model card prescribes: resize, channel order, scale, mean/std, NCHW.

Buffers are allocated once and reused for every frame.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from kvision_driving.inference.model_card import ModelCard


class ImagePreprocessor:
    def __init__(self, card: ModelCard, batch: int = 1) -> None:
        channels, self.height, self.width = card.input.shape
        if channels != 3:
            raise ValueError(f"{card.name}: only 3-channel image inputs are supported, card says {channels}")
        self.swap_to_bgr = card.input.colour_order.lower() == "bgr"
        self.scale = float(card.input.scale)
        self.mean = np.asarray(card.input.mean, dtype=np.float32).reshape(3, 1, 1)
        self.inv_std = (1.0 / np.asarray(card.input.std, dtype=np.float32)).reshape(3, 1, 1)
        self.batch = np.empty((batch, 3, self.height, self.width), dtype=np.float32)
        self._resized = np.empty((self.height, self.width, 3), dtype=np.uint8)

    def __call__(self, rgb: NDArray[np.uint8], index: int = 0) -> NDArray[np.float32]:
        """Fill slot ``index`` of the batch from an (H, W, 3) RGB uint8 image; returns the whole batch."""
        cv2.resize(rgb, (self.width, self.height), dst=self._resized, interpolation=cv2.INTER_LINEAR)
        source = self._resized[:, :, ::-1] if self.swap_to_bgr else self._resized
        target = self.batch[index]
        np.copyto(target, source.transpose(2, 0, 1), casting="unsafe")
        target *= self.scale
        target -= self.mean
        target *= self.inv_std
        return self.batch
