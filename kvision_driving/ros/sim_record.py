"""``kvision sim record``: run a scenario with the built-in autopilot and write everything to a rosbag2."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from kvision_driving.ros.bag import BagWriter
from kvision_driving.ros.sim_messages import SimMessages
from kvision_driving.sim.scenario import Scenario
from kvision_driving.sim.sensors import CameraSpec
from kvision_driving.sim.simulator import Simulator


def record(
    scenario: Scenario,
    out: Path,
    duration_s: float | None = None,
    storage: str = "mcap",
    cameras: tuple[CameraSpec, ...] = (CameraSpec(),),
    progress: bool = True,
    lidar_offset_steps: int = 0,
) -> dict[str, int]:
    """Write sensors, /tf_static, /tf, odometry, route, ground truth and /clock; returns message counts."""
    if duration_s is not None:
        from dataclasses import replace

        scenario = replace(scenario, duration=duration_s)
    simulator = Simulator(scenario, cameras=cameras, lidar_offset_steps=lidar_offset_steps)
    messages = SimMessages(simulator)
    with BagWriter(out, storage) as bag:
        for item in messages.static(simulator.stamp_ns):
            bag.write(item.topic, item.message, simulator.stamp_ns, item.qos)
        for _ in tqdm(range(simulator.steps), desc=f"recording {scenario.name}", unit="step", disable=not progress):
            frame = simulator.render()
            for item in messages.frame(frame):
                bag.write(item.topic, item.message, frame.stamp_ns, item.qos)
            simulator.advance(*simulator.autopilot_command())
        return dict(bag.counts)
