"""What the launch files check before they start any process: a missing rviz2, a backend that cannot run
here, a shipped model that fails its card. Each is a configuration error that no restart fixes; found up
front, the launch stops with one message instead of starting nodes it must then leave behind (a launch
that fails half-way leaves the processes it started running: ros2/launch#747) or restarting one forever.

ROS-free (ament_index_python only), so it is tested without the launch tools.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from kvision_driving.inference.backends import BACKENDS, gpu_name, tensorrt_available
from kvision_driving.inference.model_card import ModelIntegrityError, shipped_model, verified_card

#: A node's exit code for a configuration error (bad parameter, unloadable model or backend): the launch files
#: stop instead of respawning it.
CONFIGURATION_ERROR = 2
SHIPPED_MODELS = ("segmentation.onnx", "segmentation_int8.onnx", "actions.onnx")


def package_installed(package: str) -> bool:
    """Whether the ament index knows ``package`` (rviz2, rosbag2...)."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    except ImportError:
        return False
    try:
        get_package_prefix(package)
    except (PackageNotFoundError, ValueError, LookupError):
        return False
    return True


def backend_problem(backend: str) -> str | None:
    """Why ``backend`` cannot run on this machine, or None."""
    if backend not in BACKENDS:
        return f"backend:={backend} is not one of {', '.join(BACKENDS)}"
    if backend == "tensorrt":
        if not tensorrt_available():
            return "backend:=tensorrt but TensorRT is not installed (JetPack's python3-libnvinfer, or pip tensorrt)"
        if gpu_name() is None:
            return "backend:=tensorrt but no CUDA GPU is visible (and a CUDA build of torch)"
    if backend == "onnxruntime-cuda":
        import onnxruntime

        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            return "backend:=onnxruntime-cuda but ONNX Runtime has no CUDA provider here (install onnxruntime-gpu)"
    if backend == "torch" and importlib.util.find_spec("torch") is None:
        return "backend:=torch but torch is not installed"
    return None


def model_problems(models: tuple[Path, ...] | None = None) -> list[str]:
    """The shipped models (or ``models``) that are missing or do not match their cards."""
    problems = []
    for model in models if models is not None else tuple(shipped_model(name) for name in SHIPPED_MODELS):
        try:
            verified_card(model)
        except ModelIntegrityError as error:
            problems.append(str(error))
    return problems


def configuration_problems(backend: str, rviz: bool, models: tuple[Path, ...] | None = None) -> list[str]:
    """Everything that stops the stack from running as launched; empty when it can start."""
    problems = []
    if rviz and not package_installed("rviz2"):
        problems.append("rviz:=true but rviz2 is not installed (apt install ros-$ROS_DISTRO-rviz2, or rviz:=false)")
    problem = backend_problem(backend)
    if problem:
        problems.append(problem)
    return problems + model_problems(models)
