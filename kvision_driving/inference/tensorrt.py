"""TensorRT: engines built from ONNX (FP32/FP16/INT8), cached by what makes them valid, run on the GPU.

``tensorrt`` is imported only inside the functions that need it, so this module (cache keys,
calibration batches, error messages) works and is tested on machines without TensorRT or a GPU.
Written against the TensorRT 8.6 / 10 Python API (named I/O tensors, ``execute_async_v3``); GPU
buffers are torch CUDA tensors, which every Jetson/Drive image with TensorRT also has.

An engine is only valid for the exact ONNX file, TensorRT version, GPU and precision it was built
for: those (and the batch range) form the cache key. A sidecar JSON records the key fields and the
engine's own sha256, checked before an engine is deserialized.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from kvision_driving.inference.errors import BackendUnavailableError
from kvision_driving.inference.model_card import ModelCard, ModelIntegrityError, sha256_of
from kvision_driving.inference.preprocess import ImagePreprocessor

LOG = logging.getLogger("kvision.tensorrt")
DEFAULT_CACHE = Path.home() / ".cache" / "kvision" / "engines"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
INSTALL_HINT = (
    "TensorRT is not installed: on Jetson/Drive use JetPack's python3-libnvinfer, on x86 `pip install tensorrt` "
    "with a matching CUDA driver; or choose backend onnxruntime"
)


# Any-size models (card size_policy "pixels"): the engine's optimisation profile spans input sides from this
# to MAX_SIDE_FACTOR times the nominal input's larger side (a 4:1 panorama at the nominal pixel count fits).
MIN_SIDE = 64
MAX_SIDE_FACTOR = 2


def input_profile(card: ModelCard, max_batch: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(min, opt, max) input shapes of the engine's optimisation profile: the batch from 1 to ``max_batch``;
    for a model that takes any image size (core.image_fit), height and width from MIN_SIDE to
    MAX_SIDE_FACTOR times the nominal larger side, optimised for the nominal size."""
    channels, height, width = (int(v) for v in card.input.shape)
    optimum = (max(1, max_batch // 2), channels, height, width)
    if card.input.size_policy != "pixels":
        return (1, channels, height, width), optimum, (max_batch, channels, height, width)
    side = MAX_SIDE_FACTOR * max(height, width)
    return (1, channels, MIN_SIDE, MIN_SIDE), optimum, (max_batch, channels, side, side)


def engine_cache_key(onnx_sha256: str, trt_version: str, gpu: str, precision: str, max_batch: int) -> str:
    """Stable key of everything an engine depends on; any change means a rebuild."""
    fields = {
        "onnx_sha256": onnx_sha256,
        "tensorrt": trt_version,
        "gpu": gpu,
        "precision": precision,
        "max_batch": int(max_batch),
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


def engine_paths(cache_dir: Path, model: Path, key: str) -> tuple[Path, Path]:
    stem = model.name.removesuffix(".onnx")
    return cache_dir / f"{stem}-{key}.engine", cache_dir / f"{stem}-{key}.json"


def read_cached_engine(engine: Path, sidecar: Path, key: str) -> bytes | None:
    """The cached engine's bytes if it exists and is intact; None when it must be (re)built."""
    if not engine.exists() or not sidecar.exists():
        return None
    try:
        meta = json.loads(sidecar.read_text())
    except json.JSONDecodeError:
        return None
    data = engine.read_bytes()
    if meta.get("key") != key:
        return None
    if hashlib.sha256(data).hexdigest() != meta.get("engine_sha256"):
        raise ModelIntegrityError(f"cached engine {engine} does not match its recorded sha256: delete it to rebuild")
    return data


def write_cached_engine(engine: Path, sidecar: Path, key: str, data: bytes, fields: dict[str, object]) -> None:
    engine.parent.mkdir(parents=True, exist_ok=True)
    engine.write_bytes(data)
    sidecar.write_text(json.dumps({"key": key, "engine_sha256": hashlib.sha256(data).hexdigest(), **fields}, indent=2))


class CalibrationBatches:
    """INT8 calibration data: images from a folder, pre-processed exactly as at inference, in batches."""

    def __init__(self, folder: Path, card: ModelCard, batch_size: int = 8, limit: int = 512) -> None:
        self.files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
        if not self.files:
            raise FileNotFoundError(f"no calibration images ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
        self.batch_size = batch_size
        self.preprocessor = ImagePreprocessor(card, batch=batch_size, fixed=True)  # one size per batch

    def __len__(self) -> int:
        return len(self.files) // self.batch_size  # a last partial batch is dropped: TensorRT wants full ones

    def __iter__(self) -> Iterator[NDArray[np.float32]]:
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            for slot, path in enumerate(self.files[start : start + self.batch_size]):
                bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if bgr is None:
                    raise ValueError(f"cannot read calibration image {path}")
                self.preprocessor(bgr[:, :, ::-1], slot)
            yield self.preprocessor.batch.copy()


def _import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError as error:
        raise BackendUnavailableError(INSTALL_HINT) from error
    return trt


def _require_cuda():
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailableError("TensorRT needs a CUDA GPU and a CUDA build of torch; none is available here")
    return torch


def make_calibrator(batches: CalibrationBatches, cache_file: Path):
    """An entropy calibrator feeding ``batches`` from GPU memory, with a calibration cache file."""
    trt = _import_tensorrt()
    torch = _require_cuda()

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self._iterator = iter(batches)
            self._device = None

        def get_batch_size(self) -> int:
            return batches.batch_size

        def get_batch(self, names: list[str]) -> list[int] | None:
            try:
                batch = next(self._iterator)
            except StopIteration:
                return None
            self._device = torch.from_numpy(batch).cuda()
            return [int(self._device.data_ptr())]

        def read_calibration_cache(self) -> bytes | None:
            return cache_file.read_bytes() if cache_file.exists() else None

        def write_calibration_cache(self, cache: bytes) -> None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_bytes(bytes(cache))

    return EntropyCalibrator()


def build_engine(
    model: Path,
    card: ModelCard,
    precision: str,
    max_batch: int,
    calibration: CalibrationBatches | None = None,
    calibration_cache: Path | None = None,
) -> bytes:
    """Parse the ONNX file and build a serialized engine with a dynamic-batch optimisation profile."""
    trt = _import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    major = int(trt.__version__.split(".")[0])
    flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(model.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {model}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
    profile = builder.create_optimization_profile()
    for index in range(network.num_inputs):
        profile.set_shape(network.get_input(index).name, *input_profile(card, max_batch))
    config.add_optimization_profile(profile)
    if precision in ("fp16", "int8"):
        if not builder.platform_has_fast_fp16:
            LOG.warning("this GPU has no fast FP16; building anyway")
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        if calibration is None:
            raise ValueError("INT8 needs calibration images (a folder of camera frames)")
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = make_calibrator(calibration, calibration_cache or model.with_suffix(".calib"))
        config.set_calibration_profile(profile)
    LOG.info("building a %s TensorRT engine for %s (this takes minutes; it is cached)", precision, model.name)
    started = time.monotonic()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine for {model}")
    LOG.info("engine built in %.0f s", time.monotonic() - started)
    return bytes(serialized)


def cached_engine(
    model: Path,
    card: ModelCard,
    precision: str,
    max_batch: int,
    cache_dir: Path,
    calibration: CalibrationBatches | None = None,
) -> tuple[bytes, Path]:
    """The engine for this model on this GPU: from the cache, or built and cached."""
    trt = _import_tensorrt()
    torch = _require_cuda()
    gpu = torch.cuda.get_device_name(0)
    key = engine_cache_key(sha256_of(model), trt.__version__, gpu, precision, max_batch)
    engine_file, sidecar = engine_paths(cache_dir, model, key)
    data = read_cached_engine(engine_file, sidecar, key)
    if data is None:
        data = build_engine(model, card, precision, max_batch, calibration, cache_dir / f"{model.stem}.calib")
        fields = {
            "model": model.name,
            "tensorrt": trt.__version__,
            "gpu": gpu,
            "precision": precision,
            "max_batch": max_batch,
        }
        write_cached_engine(engine_file, sidecar, key, data, fields)
    return data, engine_file


class TensorRTBackend:
    def __init__(
        self, model: Path, card: ModelCard, precision: str = "fp16", cache_dir: Path | None = None, max_batch: int = 16
    ) -> None:
        trt = _import_tensorrt()
        self._torch = _require_cuda()
        data, self.engine_file = cached_engine(model, card, precision, max_batch, cache_dir or DEFAULT_CACHE)
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self._runtime.deserialize_cuda_engine(data)
        if self.engine is None:
            raise RuntimeError(f"cannot deserialize {self.engine_file}; delete it to rebuild")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names = [n for n in names if n not in self.input_names]
        self._dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        self.name = f"tensorrt-{precision}"

    def run(self, inputs: dict[str, NDArray]) -> dict[str, NDArray]:
        torch = self._torch
        keep = []
        for name in self.input_names:
            tensor = torch.from_numpy(np.ascontiguousarray(inputs[name], dtype=self._dtypes[name])).cuda()
            self.context.set_input_shape(name, tuple(tensor.shape))
            self.context.set_tensor_address(name, int(tensor.data_ptr()))
            keep.append(tensor)
        outputs = {}
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            tensor = torch.empty(shape, dtype=getattr(torch, str(self._dtypes[name])), device="cuda")
            self.context.set_tensor_address(name, int(tensor.data_ptr()))
            outputs[name] = tensor
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        stream.synchronize()
        return {name: tensor.cpu().numpy() for name, tensor in outputs.items()}
