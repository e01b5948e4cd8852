"""sim_node: the simulator live, publishing /clock, sensors, tf and ground truth; ego follows /planning/trajectory.

Two clock modes. ``lockstep`` (for evaluation): after publishing the sensors of time t it waits for
the planner's trajectory stamped t (or ``lockstep_timeout_s`` of wall time) before advancing, so
results do not depend on the machine's speed. ``realtime``: one step per 50 ms of wall time.
Without a fresh trajectory ego brakes to a stop (``drive: planner``); ``drive: autopilot`` uses
the built-in driver instead, for demos and recordings without a planner.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
from nav_msgs.msg import Path as PathMsg
from rclpy.duration import Duration
from rclpy.node import Node

from kvision_driving.ros.convert import ConversionError, stamp_to_ns
from kvision_driving.ros.diagnostics import ERROR, OK
from kvision_driving.ros.names import in_namespace
from kvision_driving.ros.node import KvisionNode, run_node
from kvision_driving.ros.params import ParameterError, ParamSpec
from kvision_driving.ros.qos import qos_by_name
from kvision_driving.ros.sim_messages import SimMessages
from kvision_driving.sim.actors import DT
from kvision_driving.sim.ego import Trajectory, follow_trajectory
from kvision_driving.sim.scenario import ScenarioError, load_scenario
from kvision_driving.sim.sensors import CAMERA_RIGS
from kvision_driving.sim.simulator import START_NS, Simulator

STOP_DECEL = 3.0  # m/s2 when no valid trajectory is available

PARAMS = (
    ParamSpec("scenario", "lead_vehicle_braking", "Scenario name (config/scenarios) or YAML path"),
    ParamSpec("seed", -1, "Scenario seed override (-1: the scenario's own)", -1, 2**31 - 1),
    ParamSpec("rig", "front", "Camera rig", choices=tuple(CAMERA_RIGS)),
    ParamSpec(
        "lidar_offset_steps",
        0,
        "Sweeps 50 ms steps after the camera frames (1: sweep and image apart, as on a car)",
        0,
        1,
    ),
    ParamSpec("camera_every_steps", 1, "Cameras every N 50 ms steps (1: 20 Hz, 2: 10 Hz like the lidar)", 1, 20),
    ParamSpec(
        "sensors",
        True,
        "Render and publish the cameras and the lidar (false: odometry and ground truth only, for planning on "
        "exact objects, several times faster)",
    ),
    ParamSpec(
        "clock_mode",
        "lockstep",
        "lockstep: wait for the planner each step; realtime: 20 Hz wall clock",
        choices=("lockstep", "realtime"),
    ),
    ParamSpec(
        "drive",
        "planner",
        "planner: follow /planning/trajectory; autopilot: built-in driver",
        choices=("planner", "autopilot"),
    ),
    ParamSpec("lockstep_timeout_s", 0.5, "Wall seconds to wait for a trajectory before stepping anyway", 0.01, 30.0),
    ParamSpec(
        "trajectory_max_age_s", 0.5, "Simulated seconds after which a trajectory is stale (ego brakes)", 0.05, 10.0
    ),
    ParamSpec("duration_s", 0.0, "Simulated seconds to run (0: the scenario's duration)", 0.0, 3600.0),
    ParamSpec(
        "end_at_goal",
        False,
        "Route completion: end when ego reaches the scenario's goal, or at its time limit (twice the duration)",
    ),
    ParamSpec("start_delay_s", 1.0, "Wall seconds to wait before the first step (let subscribers connect)", 0.0, 60.0),
    ParamSpec("planner_timeout_s", 30.0, "Lockstep: wall seconds to wait for a planner before starting", 0.0, 600.0),
    ParamSpec("results_path", "", "Write the run's score (JSON) here when done"),
    ParamSpec("exit_when_done", True, "Exit at the end of the scenario"),
    ParamSpec(
        "mute_topics",
        [""],
        "Fault injection: topics left unpublished; may change at run time (ros2 param set), e.g. a camera dropout",
        dynamic=True,
    ),
)


class SimNode(KvisionNode):
    def __init__(self) -> None:
        super().__init__("sim_node", PARAMS)
        try:
            scenario = load_scenario(str(self.params["scenario"]))
        except ScenarioError as error:
            raise ParameterError(f"scenario: {error}") from error
        if int(self.params["seed"]) >= 0:
            scenario = scenario.with_seed(int(self.params["seed"]))
        if float(self.params["duration_s"]) > 0:
            from dataclasses import replace

            scenario = replace(scenario, duration=float(self.params["duration_s"]))
        self.simulator = Simulator(
            scenario,
            cameras=CAMERA_RIGS[str(self.params["rig"])],
            end_at_goal=bool(self.params["end_at_goal"]),
            lidar_offset_steps=int(self.params["lidar_offset_steps"]),
            camera_every_steps=int(self.params["camera_every_steps"]),
        )
        self.messages = SimMessages(self.simulator)
        self.health.backend = "open3d raycasting"
        self.health.set_value("scenario", scenario.name)
        self._outputs: dict[str, object] = {}  # topic -> publisher
        self._trajectory: Trajectory | None = None
        self._trajectory_stamp_ns = -1
        self._trajectory_arrived = threading.Condition()
        self.finished = False
        self.exit_code = 0
        self.create_subscription(PathMsg, "planning/trajectory", self.on_trajectory, qos_by_name("reliable"))
        # Every publisher exists before the first step, so subscribers have matched by then (start_delay_s).
        first = self.simulator.render()
        for item in (*self.messages.static(first.stamp_ns), *self.messages.frame(first)):
            self.publisher_for(item.topic, item.message, item.qos)
        self._thread = threading.Thread(target=self.run_loop, name="sim-loop", daemon=True)
        self._thread.start()

    def publisher_for(self, topic: str, message: object, qos: str):
        publisher = self._outputs.get(topic)
        if publisher is None:
            publisher = self.create_publisher(type(message), in_namespace(topic), qos_by_name(qos))
            self._outputs[topic] = publisher
        return publisher

    def publish(self, topic: str, message: object, qos: str) -> None:
        self.publisher_for(topic, message, qos).publish(message)

    def on_trajectory(self, message: PathMsg) -> None:
        try:
            trajectory = path_to_trajectory(message)
        except ConversionError as error:
            self.reject("trajectory", error)
            return
        with self._trajectory_arrived:
            self._trajectory = trajectory
            self._trajectory_stamp_ns = stamp_to_ns(message.header.stamp)
            self._trajectory_arrived.notify_all()

    def wait_for_trajectory(self, stamp_ns: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._trajectory_arrived:
            while self._trajectory_stamp_ns < stamp_ns:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._trajectory_arrived.wait(remaining)
        return True

    def control(self) -> tuple[float, float]:
        sim = self.simulator
        if self.params["drive"] == "autopilot":
            return sim.autopilot_command()
        with self._trajectory_arrived:
            trajectory, stamp_ns = self._trajectory, self._trajectory_stamp_ns
        age_s = (sim.stamp_ns - stamp_ns) / 1e9
        if trajectory is None or age_s > float(self.params["trajectory_max_age_s"]):
            if trajectory is None:
                self.health.set_state(OK, "waiting for a planner: braking")
            else:
                self.health.set_state(ERROR, f"trajectory {age_s:.2f} s old: braking")
            return -STOP_DECEL, sim.ego.steer
        self.health.set_state(OK, "following the planner")
        return follow_trajectory(sim.ego, trajectory, sim.time_s, DT)

    def destroy_node(self) -> None:
        """Stop the simulation thread between two steps first: a daemon thread killed inside open3d's
        ray casting at interpreter exit takes the process down with a non-zero status."""
        self.finished = True
        self.shutting_down = True
        thread = getattr(self, "_thread", None)  # absent when construction failed (bad parameters)
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=10.0)
        super().destroy_node()

    def run_loop(self) -> None:
        try:
            self.simulate()
        except Exception as error:  # noqa: BLE001 - a dead loop must end the process, not leave it spinning
            if self.shutting_down or not self.context.ok():
                return  # shutting down (Ctrl-C, ros2 launch): publishing fails then, and that is no failure
            self.get_logger().fatal(f"simulation failed: {type(error).__name__}: {error}")
            self.health.set_state(ERROR, f"simulation failed: {error}")
            self.exit_code = 1
            self.finished = True

    def wait_for_planner(self) -> None:
        """Lockstep starts when a planner is connected both ways: it publishes trajectories and our
        odometry has reached its subscription (else step 0 would be lost to it)."""
        deadline = time.monotonic() + float(self.params["planner_timeout_s"])
        odometry = self._outputs["/localization/odometry"]
        while time.monotonic() < deadline:
            if self.count_publishers("planning/trajectory") and odometry.get_subscription_count():
                time.sleep(0.2)  # let the remaining endpoints finish matching
                return
            time.sleep(0.05)
        self.get_logger().warning("no planner connected: starting anyway (ego will brake)")

    def simulate(self) -> None:
        time.sleep(float(self.params["start_delay_s"]))
        if self.params["clock_mode"] == "lockstep" and self.params["drive"] == "planner":
            self.wait_for_planner()
        sim = self.simulator
        for item in self.messages.static(sim.stamp_ns):
            self.publish(item.topic, item.message, item.qos)
        lockstep = self.params["clock_mode"] == "lockstep" and self.params["drive"] == "planner"
        next_wall = time.monotonic()
        timeouts = 0
        while not sim.done and not self.finished:
            started = time.perf_counter()
            frame = sim.render(with_sensors=bool(self.params["sensors"]))
            muted = set(self.get_parameter("mute_topics").value)
            for item in self.messages.frame(frame):
                if item.topic not in muted:
                    self.publish(item.topic, item.message, item.qos)
            self.health.on_processed((time.perf_counter() - started) * 1e3, time.monotonic())
            if lockstep:
                if not self.wait_for_trajectory(frame.stamp_ns, float(self.params["lockstep_timeout_s"])):
                    self.health.on_drop()  # a step without the planner's answer
                    timeouts += 1
            else:
                next_wall += DT
                time.sleep(max(0.0, next_wall - time.monotonic()))
            sim.advance(*self.control())
        for publisher in self._outputs.values():  # let subscribers receive the last step before exiting
            publisher.wait_for_all_acked(Duration(seconds=2))
        results = {**sim.results(), "steps_without_a_plan": timeouts}
        self.health.set_value("collisions", results["collisions"])
        path = str(self.params["results_path"])
        if path:
            Path(path).write_text(json.dumps(results, indent=2))
        self.get_logger().info(f"scenario {sim.scenario.name} done: {results}")
        if self.params["exit_when_done"]:
            self.finished = True


def path_to_trajectory(message: PathMsg) -> Trajectory:
    """A planned nav_msgs/Path (map frame, pose stamps = when to be there) as a Trajectory."""
    if message.header.frame_id != "map":
        raise ConversionError(f"trajectory must be in the map frame, got {message.header.frame_id!r}")
    if not message.poses:
        raise ConversionError("empty trajectory")
    times = np.array([(stamp_to_ns(pose.header.stamp) - START_NS) / 1e9 for pose in message.poses])
    xy = np.array([[pose.pose.position.x, pose.pose.position.y] for pose in message.poses])
    if not np.all(np.isfinite(xy)):
        raise ConversionError("trajectory has NaN or inf positions")
    if len(times) > 1 and np.any(np.diff(times) <= 0):
        raise ConversionError("trajectory pose stamps must increase")
    return Trajectory(t=times, xy=xy)


def make_node() -> Node:
    return SimNode()


def main(args: list[str] | None = None) -> int:
    return run_node(make_node, args)


if __name__ == "__main__":
    raise SystemExit(main())
