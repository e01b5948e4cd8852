"""ament_python package: built by colcon on a vehicle, by pip (scripts/setup.sh) elsewhere."""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "kvision_driving"

# Executables: each node's main(), the tools, and the kvision command.
NODES = {
    "action_node": "kvision_driving.nodes.action_node:main",
    "fusion_node": "kvision_driving.nodes.fusion_node:main",
    "planning_node": "kvision_driving.nodes.planning_node:main",
    "segmentation_node": "kvision_driving.nodes.segmentation_node:main",
    "segmentation_baseline_node": "kvision_driving.nodes.segmentation_baseline_node:main",
    "sim_node": "kvision_driving.nodes.sim_node:main",
    "transport_source": "kvision_driving.nodes.transport_source:main",
    "transport_sink": "kvision_driving.nodes.transport_sink:main",
}


def tree(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries installing ``folder`` recursively under share/<package>/."""
    entries: dict[str, list[str]] = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            entries.setdefault(f"share/{PACKAGE}/{path.parent.as_posix()}", []).append(path.as_posix())
    return list(entries.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={"kvision_driving.ros": ["*.xml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        *tree("config"),
        *tree("models"),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="kvision_driving developers",
    maintainer_email="dev@kvision-driving.org",
    description="Autonomous-driving perception to planning as ROS 2 nodes in Python",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "kvision = kvision_driving.cli:main",
            *(f"{name} = {target}" for name, target in NODES.items()),
        ],
    },
)
