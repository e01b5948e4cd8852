"""The model parameters every inference node declares, and opening its model with them."""

from __future__ import annotations

from pathlib import Path

from kvision_driving.inference.backends import (
    BACKENDS,
    PRECISIONS,
    BackendChoice,
    BackendUnavailableError,
    auto_backend,
    create_backend,
)
from kvision_driving.inference.fastest import fastest_variant
from kvision_driving.inference.model_card import ModelIntegrityError, shipped_model
from kvision_driving.ros.params import ParameterError, ParamSpec

MODEL_PARAMS = (
    ParamSpec("model_path", "", "ONNX model with a .card.json beside it (empty: the shipped model)"),
    ParamSpec("backend", "auto", "Inference backend", choices=BACKENDS),
    ParamSpec("precision", "fp16", "TensorRT precision", choices=PRECISIONS),
    ParamSpec("engine_cache_dir", "", "TensorRT engine cache (empty: ~/.cache/kvision/engines)"),
    ParamSpec("threads", 0, "CPU threads for ONNX Runtime / torch (0: library default)", 0, 64),
    ParamSpec(
        "cpu_model",
        "fastest",
        "With model_path empty and ONNX Runtime on the CPU, where an INT8 model is shipped beside the float one "
        "(kvision quantize; its card has its accuracy): the one measured faster on this machine (cached), or int8 "
        "or float",
        choices=("fastest", "int8", "float"),
    ),
)


def model_to_open(params: dict, shipped: str, backend: str) -> tuple[Path, str]:
    """``model_path``, else the shipped model, and why. On ONNX Runtime's CPU provider (``backend`` resolved: not
    ``auto``) with an INT8 sibling shipped (``<name>_int8.onnx``), ``cpu_model`` picks: ``fastest`` the one
    measured faster here (``inference.fastest``), or ``int8`` or ``float``. GPU backends take the float model
    (TensorRT builds its own reduced precision from it)."""
    if params["model_path"]:
        return Path(str(params["model_path"])), "model_path"
    model = shipped_model(shipped)
    int8 = model.with_name(model.name.removesuffix(".onnx") + "_int8.onnx")
    choice = str(params["cpu_model"])
    if backend != "onnxruntime" or not int8.is_file() or choice == "float":
        return model, "shipped"
    if choice == "int8":
        return int8, "cpu_model int8"
    chosen, timings = fastest_variant([model, int8], int(params["threads"]))
    return chosen, "faster here: " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in timings.items())


def open_model(node: object, shipped: str) -> tuple[Path, BackendChoice]:
    """The node's model (``model_path`` or the shipped ``shipped``) verified and opened with its backend;
    a model that cannot be used is a ParameterError (the node stops at start, saying why)."""
    params = node.params
    backend, reason = auto_backend() if params["backend"] == "auto" else (str(params["backend"]), "requested")
    try:
        model, why = model_to_open(params, shipped, backend)
    except (ModelIntegrityError, BackendUnavailableError, ValueError, OSError) as error:
        raise ParameterError(f"shipped {shipped}: {error}") from error
    cache = str(params["engine_cache_dir"])
    try:
        choice = create_backend(
            model,
            backend,
            str(params["precision"]),
            int(params["threads"]),
            Path(cache) if cache else None,
        )
    except (ModelIntegrityError, BackendUnavailableError, ValueError) as error:
        raise ParameterError(f"model {model}: {error}") from error
    node.health.backend = choice.backend.name
    node.health.set_value("model", choice.card.name)
    node.get_logger().info(f"backend {choice.backend.name} ({reason}); model {model.name} ({why})")
    return model, choice
