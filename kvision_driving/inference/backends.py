"""The inference interface every model uses, and its backends.

A :class:`Backend` takes named float32 arrays and returns named arrays. Implementations:
ONNX Runtime (CPU, or its CUDA provider), torch (eager, for comparison and debugging) and TensorRT
(``inference/tensorrt.py``, imported only when asked for). :func:`create_backend` picks one from a
``backend`` parameter; ``auto`` prefers TensorRT on a GPU that has it, then ONNX Runtime on CUDA,
then ONNX Runtime on CPU, and says why.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from kvision_driving.inference.errors import BackendUnavailableError
from kvision_driving.inference.model_card import ModelCard, ModelIntegrityError, verified_card

BACKENDS = ("auto", "tensorrt", "onnxruntime-cuda", "onnxruntime", "torch")
PRECISIONS = ("fp32", "fp16", "int8")


class Backend(Protocol):
    name: str
    input_names: list[str]
    output_names: list[str]

    def run(self, inputs: dict[str, NDArray]) -> dict[str, NDArray]: ...


@dataclass(frozen=True)
class BackendChoice:
    backend: Backend
    card: ModelCard
    reason: str


class OnnxRuntimeBackend:
    def __init__(self, model: Path, cuda: bool = False, threads: int = 0) -> None:
        import onnxruntime as ort

        available = ort.get_available_providers()
        if cuda and "CUDAExecutionProvider" not in available:
            raise BackendUnavailableError(
                "ONNX Runtime has no CUDA provider here (install onnxruntime-gpu with a CUDA GPU); "
                f"available: {', '.join(available)}"
            )
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        # Idle worker threads spin by default: fine alone, but on a vehicle computer every node shares the
        # cores, and spinning threads take them from the others (measured: the whole stack ran slower).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(model), options, providers=providers)
        self.name = "onnxruntime-cuda" if cuda else "onnxruntime"
        self.input_names = [item.name for item in self.session.get_inputs()]
        self.output_names = [item.name for item in self.session.get_outputs()]

    def run(self, inputs: dict[str, NDArray]) -> dict[str, NDArray]:
        outputs = self.session.run(self.output_names, inputs)
        return dict(zip(self.output_names, outputs, strict=True))


class TorchBackend:
    """Eager torch for a model whose card names its architecture and safetensors weights."""

    def __init__(self, model: Path, card: ModelCard, threads: int = 0) -> None:
        import torch

        from kvision_driving.inference.model_card import sha256_of
        from kvision_driving.nets.registry import build_exportable

        spec = card.training.get("torch") if isinstance(card.training.get("torch"), dict) else None
        if spec is None:
            raise BackendUnavailableError(f"{model.name}: its card names no torch architecture and weights")
        weights = model.with_name(spec["weights"])
        if not weights.is_file():
            raise BackendUnavailableError(f"torch weights {weights} not found")
        if sha256_of(weights) != spec["sha256"]:
            raise ModelIntegrityError(f"{weights} does not match the sha256 in {model.name}'s card")
        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self.module = build_exportable(spec["architecture"], weights).eval()
        self.name = "torch"
        self.input_names = [card.input.name, *card.extra_inputs]
        self.output_names = list(card.outputs)

    def run(self, inputs: dict[str, NDArray]) -> dict[str, NDArray]:
        with self._torch.inference_mode():
            outputs = self.module(*(self._torch.from_numpy(inputs[name]) for name in self.input_names))
        if not isinstance(outputs, tuple):
            outputs = (outputs,)
        return {name: output.numpy() for name, output in zip(self.output_names, outputs, strict=True)}


def gpu_name() -> str | None:
    """The first CUDA GPU's name, or None; asks nvidia-smi's library only when it is installed."""
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            return str(torch.cuda.get_device_name(0))
    return None


def tensorrt_available() -> bool:
    return importlib.util.find_spec("tensorrt") is not None


def create_backend(
    model: Path,
    requested: str = "auto",
    precision: str = "fp16",
    threads: int = 0,
    engine_cache: Path | None = None,
) -> BackendChoice:
    """Verify the model against its card, then open it with the requested (or best available) backend."""
    if requested not in BACKENDS:
        raise BackendUnavailableError(f"unknown backend {requested!r}; choose one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise BackendUnavailableError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    card = verified_card(model)
    if requested == "auto":
        requested, reason = auto_backend()
    else:
        reason = "requested"
    if requested == "tensorrt":
        from kvision_driving.inference.tensorrt import TensorRTBackend

        return BackendChoice(TensorRTBackend(model, card, precision, engine_cache), card, reason)
    if requested == "torch":
        return BackendChoice(TorchBackend(model, card, threads), card, reason)
    return BackendChoice(OnnxRuntimeBackend(model, cuda=requested == "onnxruntime-cuda", threads=threads), card, reason)


def auto_backend() -> tuple[str, str]:
    """(backend, why) for ``auto``."""
    gpu = gpu_name()
    if gpu and tensorrt_available():
        return "tensorrt", f"TensorRT on {gpu}"
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers() and gpu:
        return "onnxruntime-cuda", f"no TensorRT; ONNX Runtime CUDA on {gpu}"
    if gpu is None:
        return "onnxruntime", "no CUDA GPU: ONNX Runtime on the CPU"
    return "onnxruntime", f"GPU {gpu} but neither TensorRT nor onnxruntime-gpu installed: ONNX Runtime on the CPU"


def as_batch(array: NDArray) -> NDArray[np.float32]:
    return np.ascontiguousarray(array[None] if array.ndim == 3 else array, dtype=np.float32)
