"""``kvision doctor``: is the installation complete?"""

from __future__ import annotations

import argparse
from collections.abc import Callable

MODULES = (
    "rclpy",
    "sensor_msgs.msg",
    "vision_msgs.msg",
    "autoware_perception_msgs.msg",
    "tf2_msgs.msg",
    "numpy",
    "cv2",
    "scipy",
    "torch",
    "onnxruntime",
    "open3d",
    "rosbags",
)


def doctor(args: argparse.Namespace) -> int:
    from kvision_driving.bench.machine import describe, machine_info
    from kvision_driving.core.allocator import keep_large_buffers
    from kvision_driving.inference.model_card import verified_card
    from kvision_driving.resources import installed_path
    from kvision_driving.ros.dds import apply_default_dds_profile, default_profile_path

    def module(name: str) -> Callable[[], str]:
        def check() -> str:
            imported = __import__(name, fromlist=["__name__"])
            return getattr(imported, "__version__", "ok")

        return check

    checks: list[tuple[str, Callable[[], str]]] = [(name, module(name)) for name in MODULES]
    checks.append(("machine", lambda: describe(machine_info())))
    checks.append(("dds profile", lambda: apply_default_dds_profile({}) or "user configured"))
    checks.append(("dds profile file", lambda: str(default_profile_path())))
    checks.append(
        ("allocator keeps large buffers", lambda: "yes" if keep_large_buffers() else "no (user setting or not glibc)")
    )
    for model in sorted(installed_path("models").glob("*.onnx")):  # the shipped models match their cards
        checks.append((f"model {model.name}", lambda model=model: f"{verified_card(model).name}, sha256 verified"))
    failed = 0
    for name, check in checks:
        try:
            print(f"ok    {name:32s} {check()}")
        except Exception as error:  # noqa: BLE001 - report every missing piece, not just the first
            failed += 1
            print(f"FAIL  {name:32s} {type(error).__name__}: {error}")
    return 1 if failed else 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("doctor", help="check the installation")
    parser.set_defaults(handler=doctor)
