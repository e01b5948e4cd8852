"""The simulator: a scenario's world, actors and ego, stepped at 20 Hz, sensed and scored.

ROS-free. ``render()`` returns a :class:`SimFrame` with every sensor output and the ground truth
at the current step; ``advance()`` moves ego with an acceleration and a steering angle.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.actions import ACTIONS
from kvision_driving.core.boxes import box_corners, box_distance, boxes_overlap
from kvision_driving.core.geometry import Matrix4, make_transform
from kvision_driving.core.vehicle import EGO_LENGTH, EGO_WIDTH, REAR_AXLE_TO_CENTRE, EgoState
from kvision_driving.sim.actors import DT, PARKING_WIDTH, ActorTimeline, build_timelines
from kvision_driving.sim.appearance import PLAIN_LOOK, AppearanceSettings, lighting_for
from kvision_driving.sim.bodies import actor_mesh
from kvision_driving.sim.ego import autopilot, step_bicycle
from kvision_driving.sim.road import Path, RoadNetwork, build_network, turn_path
from kvision_driving.sim.scenario import Scenario
from kvision_driving.sim.sensors import CameraImage, CameraRenderer, CameraSpec, LidarRenderer, LidarSpec, SensorScene
from kvision_driving.sim.world import build_world

START_NS = 100_000_000_000  # the simulated clock starts at 100 s: a zero stamp means "unset" to many tools
LIDAR_EVERY = 2  # lidar at 10 Hz, cameras at 20 Hz
GROUND_TRUTH_RANGE = 120.0
DEFAULT_LIDAR = LidarSpec()


@dataclass(frozen=True)
class GroundTruthObject:
    actor_id: int
    kind: str  # car | truck | bicycle | pedestrian
    centre: NDArray[np.float64]  # box centre x, y, z in map
    yaw: float
    size: tuple[float, float, float]
    velocity: NDArray[np.float64]  # vx, vy in map
    action: str
    future: NDArray[np.float64]  # (30, 3) x, y, yaw at 0.1 s steps, map
    parked: bool


@dataclass
class SimFrame:
    step: int
    stamp_ns: int
    ego: EgoState
    cameras: dict[str, CameraImage]
    lidar: NDArray[np.void] | None  # LIDAR_DTYPE in the lidar frame; None on camera-only steps
    objects: list[GroundTruthObject]

    @property
    def time_s(self) -> float:
        return self.step * DT


@dataclass
class RunScore:
    collisions: list[int] = field(default_factory=list)  # actor ids, first contact each
    collision_times: list[float] = field(default_factory=list)  # simulated seconds of those contacts
    min_gap: float = np.inf
    travelled: float = 0.0
    max_decel: float = 0.0
    max_jerk: float = 0.0
    accels: list[float] = field(default_factory=list)


class Simulator:
    def __init__(
        self,
        scenario: Scenario,
        cameras: tuple[CameraSpec, ...] = (CameraSpec(),),
        lidar: LidarSpec | None = DEFAULT_LIDAR,
        end_at_goal: bool = False,
        appearance: AppearanceSettings = PLAIN_LOOK,
        lidar_offset_steps: int = 0,
        camera_every_steps: int = 1,
    ) -> None:
        """``end_at_goal``: closed-loop route completion. The run ends when ego reaches the scenario's goal or at
        its time limit, instead of after its duration, so waiting for a pedestrian costs time, not progress.
        ``appearance``: what the camera sees beyond flat shading (sim/appearance.py); labels do not change.
        ``lidar_offset_steps``: the sweep comes that many 50 ms steps after the camera frame it would coincide
        with (on a vehicle the sweep and the exposure are tens of milliseconds apart): painting then needs
        ego-motion compensation. ``camera_every_steps``: 2 renders the cameras at 10 Hz, with the sweeps,
        so with the offset every sweep is 50 ms from every camera frame."""
        self.scenario = scenario
        self.end_at_goal = end_at_goal
        self.time_limit_s = (scenario.time_limit or 2.0 * scenario.duration) if end_at_goal else scenario.duration
        self.goal_reached_s: float | None = None
        self.camera_specs = cameras
        self.lidar_spec = lidar
        self.network: RoadNetwork = build_network(scenario.layout, scenario.lanes, scenario.road_length)
        parking = {"right": 0.0, "left": 0.0}
        if scenario.parked_side:
            parking[scenario.parked_side] = PARKING_WIDTH
        self.static_mesh = build_world(self.network, parking, np.random.default_rng([scenario.seed, 1]))
        self.actors: list[ActorTimeline] = build_timelines(  # (the draws do not depend on the duration)
            replace(scenario, duration=self.time_limit_s), self.network, np.random.default_rng([scenario.seed, 2])
        )
        main = self.network.road("main")
        if scenario.ego.route == "straight":
            self.route: Path = main.lane_path(scenario.ego.lane)
            start_s = scenario.ego.s
        else:
            self.route = turn_path(self.network, scenario.ego.route, scenario.ego.s)
            start_s = 0.0
        xy, heading = self.route.pose(start_s)
        # base_link (rear axle) sits behind the route point so the car's centre starts on it.
        rear = xy - REAR_AXLE_TO_CENTRE * np.array([np.cos(heading), np.sin(heading)])
        self.ego = EgoState(x=float(rear[0]), y=float(rear[1]), yaw=float(heading), v=scenario.ego.speed)
        self.route_start_s = float(self.route.project(self.ego.box_centre()[None])[0][0])
        cruising = scenario.goal or scenario.ego.cruise_speed * scenario.duration
        self.goal_m = min(cruising, self.route.length - self.route_start_s)  # along the route from the start
        self.step_index = 0
        self.score = RunScore()
        lighting = lighting_for(appearance, scenario.seed)
        self._camera_renderers = [CameraRenderer(spec, lighting) for spec in cameras]
        self._lidar_renderer = LidarRenderer(lidar) if lidar is not None else None
        self.lidar_offset_steps = lidar_offset_steps % LIDAR_EVERY
        self.camera_every_steps = max(1, camera_every_steps)
        self._last_accel = 0.0
        self._accel_window: list[float] = []

    # --- time -------------------------------------------------------------------------------------

    @property
    def time_s(self) -> float:
        return self.step_index * DT

    @property
    def stamp_ns(self) -> int:
        return START_NS + round(self.step_index * DT * 1e9)

    @property
    def steps(self) -> int:
        return round(self.time_limit_s / DT)

    @property
    def done(self) -> bool:
        return self.step_index >= self.steps or self.goal_reached_s is not None

    # --- frames and transforms ----------------------------------------------------------------------

    def ego_pose(self) -> Matrix4:
        """map <- base_link."""
        c, s = np.cos(self.ego.yaw), np.sin(self.ego.yaw)
        return make_transform(np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]), [self.ego.x, self.ego.y, 0.0])

    def sensor_extrinsics(self) -> dict[str, Matrix4]:
        """base_link <- sensor frame, for every sensor (what /tf_static carries)."""
        extrinsics = {spec.frame_id: spec.optical_in_base() for spec in self.camera_specs}
        if self.lidar_spec is not None:
            extrinsics[self.lidar_spec.frame_id] = self.lidar_spec.in_base()
        return extrinsics

    # --- sensing ------------------------------------------------------------------------------------

    def render(self, with_sensors: bool = True) -> SimFrame:
        step = self.step_index
        cameras: dict[str, CameraImage] = {}
        lidar = None
        if with_sensors:
            scene = SensorScene(self.static_mesh, actor_mesh(self.actors, step))
            ego_pose = self.ego_pose()
            renderers = self._camera_renderers if step % self.camera_every_steps == 0 else []
            for index, renderer in enumerate(renderers):
                rng = np.random.default_rng([self.scenario.seed, step, 10 + index])
                cameras[renderer.spec.name] = renderer.render(scene, ego_pose @ renderer.spec.optical_in_base(), rng)
            if self._lidar_renderer is not None and step % LIDAR_EVERY == self.lidar_offset_steps:
                rng = np.random.default_rng([self.scenario.seed, step, 99])
                lidar = self._lidar_renderer.render(scene, ego_pose @ self._lidar_renderer.spec.in_base(), rng)
        return SimFrame(step, self.stamp_ns, self.ego, cameras, lidar, self.ground_truth(step))

    def ground_truth(self, step: int) -> list[GroundTruthObject]:
        objects = []
        ego_xy = np.array([self.ego.x, self.ego.y])
        for actor in self.actors:
            xy = actor.xy[step]
            if np.linalg.norm(xy - ego_xy) > GROUND_TRUTH_RANGE:
                continue
            yaw = float(actor.heading[step])
            velocity = actor.speed[step] * np.array([np.cos(yaw), np.sin(yaw)])
            objects.append(
                GroundTruthObject(
                    actor_id=actor.actor_id,
                    kind=actor.kind,
                    centre=np.array([xy[0], xy[1], actor.size[2] / 2]),
                    yaw=yaw,
                    size=actor.size,
                    velocity=velocity,
                    action=ACTIONS[actor.action[step]],
                    future=actor.future(step),
                    parked=actor.parked,
                )
            )
        return objects

    # --- driving ------------------------------------------------------------------------------------

    def lead_ahead(self) -> tuple[float, float]:
        """(gap, speed) of the nearest actor ahead of ego in its corridor (for the autopilot)."""
        forward = np.array([np.cos(self.ego.yaw), np.sin(self.ego.yaw)])
        centre = self.ego.box_centre()
        best, speed = np.inf, 0.0
        for actor in self.actors:
            relative = actor.xy[self.step_index] - centre
            along, across = relative @ forward, relative @ np.array([-forward[1], forward[0]])
            if along > 0 and abs(across) < 2.2:
                gap = along - (EGO_LENGTH + actor.size[0]) / 2
                if gap < best:
                    best = gap
                    speed = float(actor.speed[self.step_index] * np.cos(actor.heading[self.step_index] - self.ego.yaw))
        return best, speed

    def autopilot_command(self) -> tuple[float, float]:
        gap, lead_speed = self.lead_ahead()
        return autopilot(self.ego, self.route, self.scenario.ego.cruise_speed, gap, lead_speed)

    def advance(self, accel: float, steer: float) -> None:
        """Move ego by one step with the given controls, advance time, update the score."""
        before = self.ego
        self.ego = step_bicycle(self.ego, accel, steer, DT)
        self.step_index += 1
        self._update_score(before)
        if self.end_at_goal and self.goal_reached_s is None and self.progress() >= 1.0:
            self.goal_reached_s = round(self.time_s, 2)

    def _update_score(self, before: EgoState) -> None:
        score = self.score
        score.travelled += float(np.hypot(self.ego.x - before.x, self.ego.y - before.y))
        score.accels.append(self.ego.a)
        score.max_decel = max(score.max_decel, -self.ego.a)
        # Jerk over a 0.2 s moving average: the raw 20 Hz difference of a bang-bang controller is noise.
        window = score.accels[-4:]
        if len(score.accels) >= 8:
            previous = score.accels[-8:-4]
            score.max_jerk = max(score.max_jerk, abs(np.mean(window) - np.mean(previous)) / (4 * DT))
        centre = self.ego.box_centre()
        ego_box = box_corners(centre[0], centre[1], self.ego.yaw, EGO_LENGTH, EGO_WIDTH)
        step = min(self.step_index, len(self.actors[0].xy) - 1) if self.actors else 0
        for actor in self.actors:
            xy = actor.xy[step]
            if np.linalg.norm(xy - centre) > 15.0:
                continue
            other = box_corners(xy[0], xy[1], actor.heading[step], actor.size[0], actor.size[1])
            if boxes_overlap(ego_box, other):
                if actor.actor_id not in score.collisions:
                    score.collisions.append(actor.actor_id)
                    score.collision_times.append(round(self.time_s, 2))
                score.min_gap = 0.0
            else:
                score.min_gap = min(score.min_gap, box_distance(ego_box, other))

    def progress(self) -> float:
        """Route progress: distance made good along the route over the goal's distance (by default what cruising
        for the scenario's duration covers); with ``end_at_goal``, the share of the route completed."""
        s_now = float(self.route.project(self.ego.box_centre()[None])[0][0])
        return float(np.clip((s_now - self.route_start_s) / max(self.goal_m, 1e-6), 0.0, 1.0))

    def results(self) -> dict[str, object]:
        score = self.score
        return {
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "duration_s": self.time_s,
            "collisions": len(score.collisions),
            "collided_with": score.collisions,
            "collided_at_s": score.collision_times,
            "min_gap_m": None if not np.isfinite(score.min_gap) else round(score.min_gap, 3),
            "progress": round(self.progress(), 4),
            "goal_m": round(self.goal_m, 1),
            "goal_reached_s": self.goal_reached_s,
            "time_limit_s": self.time_limit_s,
            "travelled_m": round(score.travelled, 2),
            "max_decel_mps2": round(score.max_decel, 3),
            "max_jerk_mps3": round(score.max_jerk, 3),
            "passable": self.scenario.passable,
            "success": (not score.collisions)
            and (not self.scenario.passable or self.progress() >= self.scenario.min_progress),
        }
