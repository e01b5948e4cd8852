"""Semantic segmentation of camera images with any model that has a card: pre-process, infer, post-process.

ROS-free. Any backend from inference/ works; buffers are allocated once. The model may output
``logits`` (N, classes, h, w) at any resolution, as models exported here do (a quarter of the input's)
and many trained elsewhere do (the input's): labels and confidence at the image's size are computed
here; or ``labels`` + ``confidence``, as models exported here before did: they are only resized.
Images of any size are fitted to the model without stretching (``core.image_fit``, the card's size
policy); the outputs' padding is cropped off before they are resized to the image.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.labels import PALETTE
from kvision_driving.inference.backends import Backend
from kvision_driving.inference.model_card import ModelCard
from kvision_driving.inference.preprocess import ImagePreprocessor


@dataclass
class SegmentationResult:
    labels: NDArray[np.uint8]  # (H, W) at the input image's size, class ids
    confidence: NDArray[np.float32]  # (H, W) probability of that class
    model_ms: float  # the backend's run
    postprocess_ms: float  # labels and confidence at the image's size from the model's outputs
    total_ms: float


class Segmenter:
    def __init__(self, backend: Backend, card: ModelCard) -> None:
        if card.task != "segmentation":
            raise ValueError(f"{card.name} is a {card.task} model, not segmentation")
        self.backend = backend
        self.card = card
        self.preprocessor = ImagePreprocessor(card)
        self.input_name = card.input.name
        outputs = set(backend.output_names)
        if not ({"labels", "confidence"} <= outputs or "logits" in outputs):
            raise ValueError(f"{card.name}: outputs {sorted(outputs)}; expected labels+confidence or logits")
        self._palette = np.zeros((256, 3), np.uint8)
        self._palette[: len(PALETTE)] = PALETTE

    def __call__(self, rgb: NDArray[np.uint8]) -> SegmentationResult:
        """Segment an (H, W, 3) RGB image; results come back at the same H x W."""
        started = time.perf_counter()
        batch = self.preprocessor(rgb)
        model_started = time.perf_counter()
        outputs = self.backend.run({self.input_name: batch})
        postprocess_started = time.perf_counter()
        model_ms = (postprocess_started - model_started) * 1e3
        height, width = rgb.shape[:2]
        fit = self.preprocessor.fit
        if "labels" in outputs:
            rows, cols = fit.output_region(*outputs["labels"].shape[-2:])
            labels = cv2.resize(
                outputs["labels"][0, :rows, :cols].astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST
            )
            confidence = cv2.resize(
                outputs["confidence"][0, :rows, :cols].astype(np.float32),
                (width, height),
                interpolation=cv2.INTER_LINEAR,
            )
        else:
            rows, cols = fit.output_region(*outputs["logits"].shape[-2:])
            labels, confidence = labels_from_logits(outputs["logits"][0, :, :rows, :cols], height, width)
        finished = time.perf_counter()
        return SegmentationResult(
            labels, confidence, model_ms, (finished - postprocess_started) * 1e3, (finished - started) * 1e3
        )

    def overlay(self, rgb: NDArray[np.uint8], labels: NDArray[np.uint8], alpha: float = 0.5) -> NDArray[np.uint8]:
        """The image with the class colours blended in (for RViz)."""
        return cv2.addWeighted(rgb, 1.0 - alpha, self._palette[labels], alpha, 0.0)


def to_rgb(image: NDArray[np.uint8], encoding: str) -> NDArray[np.uint8]:
    """Any supported camera encoding as contiguous RGB; raises ValueError for what cannot be an RGB image."""
    if encoding == "rgb8":
        return image
    if encoding == "bgr8":
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if encoding == "rgba8":
        return cv2.cvtColor(image, cv2.COLOR_RGBA2RGB)
    if encoding == "bgra8":
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    if encoding in ("mono8", "8UC1"):
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    raise ValueError(f"cannot segment a {encoding} image (need rgb8, bgr8, rgba8, bgra8 or mono8)")


def _source_index(out_size: int, in_size: int) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float32]]:
    """For each output row (or column): the two input ones a bilinear resize blends and the second's
    weight, as torch's ``interpolate(mode="bilinear", align_corners=False)`` and OpenCV compute them."""
    source = np.maximum((np.arange(out_size, dtype=np.float32) + 0.5) * np.float32(in_size / out_size) - 0.5, 0.0)
    low = np.minimum(source.astype(np.intp), in_size - 1)
    return low, np.minimum(low + 1, in_size - 1), (source - low).astype(np.float32)


def _winners(scores: NDArray[np.float32]) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """Per column of (classes, N) scores: the winning class and its softmax probability, 1 / sum(exp(s - max)).
    Class by class over whole rows: numpy reduces a short last axis pixel by pixel, ten times slower."""
    top = scores.max(axis=0)
    winner = np.zeros(scores.shape[1], np.uint8)
    for index in range(len(scores) - 1, -1, -1):  # downwards: a tie goes to the first class, as argmax does
        winner[scores[index] == top] = index
    return winner, (1.0 / np.exp(scores - top).sum(axis=0)).astype(np.float32)


def labels_from_logits(
    logits: NDArray[np.float32], height: int, width: int
) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """Class ids and confidence at ``height`` x ``width`` from (classes, h, w) scores: the argmax of the scores
    resized bilinearly, computed without resizing them.

    A pixel blends the scores of a 2x2 block of coarse cells. Where those four cells agree on the class,
    every blend of them does too (each margin l_c - l_k is a convex sum of non-negative margins), so only
    pixels on class boundaries are blended and compared; the rest take their block's class. Confidence
    (the softmax maximum) is exact on those pixels and resized from the coarse one elsewhere.
    """
    classes, rows, cols = logits.shape
    if classes > 256:
        raise ValueError(f"{classes} classes do not fit uint8 labels")
    scores = np.ascontiguousarray(logits, dtype=np.float32).reshape(classes, -1)
    coarse, coarse_confidence = (values.reshape(rows, cols) for values in _winners(scores))
    if (rows, cols) == (height, width):
        return coarse, coarse_confidence
    row0, row1, row_weight = _source_index(height, rows)
    col0, col1, col_weight = _source_index(width, cols)
    below, beside = np.minimum(np.arange(rows) + 1, rows - 1), np.minimum(np.arange(cols) + 1, cols - 1)
    uniform = (coarse == coarse[below]) & (coarse == coarse[:, beside]) & (coarse == coarse[below][:, beside])
    labels = coarse[row0][:, col0]
    confidence = cv2.resize(coarse_confidence, (width, height), interpolation=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(~uniform[row0][:, col0])
    if len(ys):
        upper, lower, left, right = row0[ys] * cols, row1[ys] * cols, col0[xs], col1[xs]
        down, across = row_weight[ys], col_weight[xs]
        top = np.take(scores, upper + left, axis=1)
        top += across * (np.take(scores, upper + right, axis=1) - top)
        bottom = np.take(scores, lower + left, axis=1)
        bottom += across * (np.take(scores, lower + right, axis=1) - bottom)
        top += down * (bottom - top)  # the blend, row by row as torch does it
        labels[ys, xs], confidence[ys, xs] = _winners(top)
    return labels, confidence
