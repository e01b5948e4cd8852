"""Semantic segmentation of camera images with any model that has a card: pre-process, infer, post-process.

ROS-free. Any backend from inference/ works; buffers are allocated once. The model may output
``labels`` (+ ``confidence``), as models exported here do, or raw ``logits`` (N, classes, H, W), as
many models trained elsewhere do: then argmax and softmax are done here.
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
    model_ms: float
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
        model_ms = (time.perf_counter() - model_started) * 1e3
        if "labels" in outputs:
            labels, confidence = outputs["labels"][0], outputs["confidence"][0]
        else:
            logits = outputs["logits"][0]
            labels = logits.argmax(axis=0)
            shifted = np.exp(logits - logits.max(axis=0, keepdims=True))
            confidence = (shifted.max(axis=0) / shifted.sum(axis=0)).astype(np.float32)
        height, width = rgb.shape[:2]
        labels = cv2.resize(labels.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
        confidence = cv2.resize(confidence.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
        return SegmentationResult(labels, confidence, model_ms, (time.perf_counter() - started) * 1e3)

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
