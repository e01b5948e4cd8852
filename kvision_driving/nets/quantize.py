"""INT8 for the CPU: a network's ONNX graph quantised by ONNX Runtime's static quantisation, with its own card.

QDQ format, weights per output channel (signed), activations (unsigned) calibrated by min/max on camera
frames of the kind the model will see, pre-processed as its card prescribes. The graph runs on ONNX
Runtime's CPU provider with integer kernels (VNNI where the CPU has it) and is also the explicit-quantisation
input TensorRT builds INT8 engines from. ROS-free.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kvision_driving.inference.model_card import ModelCard, verified_card, write_card
from kvision_driving.inference.preprocess import ImagePreprocessor


class _CalibrationFrames:
    """ONNX Runtime's CalibrationDataReader protocol over RGB frames."""

    def __init__(self, card: ModelCard, frames: Iterable[NDArray[np.uint8]]) -> None:
        self.preprocessor = ImagePreprocessor(card)
        self.input_name = card.input.name
        self.frames: Iterator[NDArray[np.uint8]] = iter(frames)
        self.count = 0

    def has_frames(self) -> bool:
        """Whether any frame is left (it stays to be read)."""
        first = next(self.frames, None)
        if first is None:
            return False
        self.frames = itertools.chain([first], self.frames)
        return True

    def get_next(self) -> dict[str, NDArray[np.float32]] | None:
        frame = next(self.frames, None)
        if frame is None:
            return None
        self.count += 1
        return {self.input_name: self.preprocessor(frame).copy()}


def quantize_model(
    model: Path, frames: Iterable[NDArray[np.uint8]], out: Path, command: str = ""
) -> tuple[Path, ModelCard]:
    """Quantise ``model`` (verified against its card) into ``out``; returns the new card's path and the card.
    The card is the original's, renamed, with how it was quantised (``command``: how to do it again) and
    without the original's metrics and notes (the float model's: measure the INT8 one). It names no torch
    weights: torch cannot run the quantised graph, and the float weights are not this model."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    card = verified_card(model)
    reader = _CalibrationFrames(card, frames)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kvision-quantize-") as scratch:
        prepared = Path(scratch) / "prepared.onnx"  # shapes inferred and constants folded, as ORT advises
        quant_pre_process(str(model), str(prepared))
        if not reader.has_frames():
            raise ValueError("no calibration frames")
        quantize_static(
            str(prepared),
            str(out),
            reader,
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
        )
    training = {key: value for key, value in card.training.items() if key != "torch"}
    training["quantization"] = {
        "from": f"{card.file} (sha256 {card.sha256})",
        "method": "ONNX Runtime quantize_static: QDQ, per-channel int8 weights, uint8 activations, min/max",
        "calibration_frames": reader.count,
        "command": command,
    }
    notes = f"INT8 version of {card.file} for ONNX Runtime on the CPU; the metrics are this model's. {card.notes}"
    quantized = replace(card, name=f"{card.name} INT8", training=training, metrics={}, notes=notes)
    return write_card(quantized, out), quantized
