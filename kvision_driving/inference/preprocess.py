"""Image pre-processing as a model card prescribes: fit (never stretch), channel order, scale, mean/std, NCHW.

The card's ``size_policy`` says how an image of any size becomes the network input (``core.image_fit``):
scaled keeping its aspect ratio, padded on the right and bottom by mirroring the image (what training
pads with). Buffers are allocated once per camera size and reused for every frame.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.image_fit import InputFit, fit_image, fit_letterbox
from kvision_driving.inference.model_card import ModelCard


class ImagePreprocessor:
    """``fixed=True`` always fills the card's nominal input size (letterboxed), as batches of images of
    different sizes need (INT8 calibration)."""

    def __init__(self, card: ModelCard, batch: int = 1, fixed: bool = False) -> None:
        channels, self.height, self.width = card.input.shape
        if channels != 3:
            raise ValueError(f"{card.name}: only 3-channel image inputs are supported, card says {channels}")
        self.policy = card.input.size_policy
        self.fixed = fixed
        self.swap_to_bgr = card.input.colour_order.lower() == "bgr"
        self.scale = float(card.input.scale)
        self.mean = np.asarray(card.input.mean, dtype=np.float32).reshape(3, 1, 1)
        self.inv_std = (1.0 / np.asarray(card.input.std, dtype=np.float32)).reshape(3, 1, 1)
        self.batch_size = batch
        self._fits: dict[tuple[int, int], InputFit] = {}
        self.fit = self._fit_for(self.height, self.width)
        self._allocate(self.fit)

    def _fit_for(self, height: int, width: int) -> InputFit:
        fit = self._fits.get((height, width))
        if fit is None:
            if self.fixed:
                fit = fit_letterbox(height, width, self.height, self.width)
            else:
                fit = fit_image(height, width, self.policy, self.height, self.width)
            self._fits[(height, width)] = fit
        return fit

    def _allocate(self, fit: InputFit) -> None:
        self.batch = np.empty((self.batch_size, 3, fit.input_height, fit.input_width), dtype=np.float32)
        self._padded = np.empty((fit.input_height, fit.input_width, 3), dtype=np.uint8)
        self._resized = np.empty((fit.scaled_height, fit.scaled_width, 3), dtype=np.uint8)

    def __call__(self, rgb: NDArray[np.uint8], index: int = 0) -> NDArray[np.float32]:
        """Fill slot ``index`` of the batch from an (H, W, 3) RGB uint8 image; returns the whole batch, whose
        size is the fit of this image (``self.fit``)."""
        fit = self._fit_for(*rgb.shape[:2])
        if (fit.input_height, fit.input_width) != self.batch.shape[2:]:
            if index:
                raise ValueError(f"slot {index}: images of one batch must share a size ({fit} vs {self.fit})")
            self._allocate(fit)
        elif (fit.scaled_height, fit.scaled_width) != self._resized.shape[:2]:
            self._resized = np.empty((fit.scaled_height, fit.scaled_width, 3), dtype=np.uint8)
        self.fit = fit
        resized = self._resized
        cv2.resize(
            rgb,
            (fit.scaled_width, fit.scaled_height),
            dst=resized,
            interpolation=cv2.INTER_AREA if fit.scaled_height < fit.height else cv2.INTER_LINEAR,
        )
        bottom, right = fit.input_height - fit.scaled_height, fit.input_width - fit.scaled_width
        if bottom or right:
            cv2.copyMakeBorder(resized, 0, bottom, 0, right, cv2.BORDER_REFLECT_101, dst=self._padded)
            resized = self._padded
        source = resized[:, :, ::-1] if self.swap_to_bgr else resized
        target = self.batch[index]
        np.copyto(target, source.transpose(2, 0, 1), casting="unsafe")
        target *= self.scale
        target -= self.mean
        target *= self.inv_std
        return self.batch
