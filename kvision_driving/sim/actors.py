"""Actors and their behaviours, integrated ahead of time into a timeline.

Actors follow their script and each other (intelligent-driver model), never the ego vehicle, like
agents replayed from a log. So every actor's future is known exactly at any time (the ground
truth that prediction is scored against), a run is reproducible whatever ego does, and in
closed loop a collision is always ego's responsibility.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.actions import ACTION_ID
from kvision_driving.sim.materials import CLOTHES, VEHICLE_PAINTS
from kvision_driving.sim.road import Path, RoadNetwork, turn_path
from kvision_driving.sim.scenario import Event, PedestrianSpec, Scenario, VehicleSpec

DT = 0.05  # s, the simulator's step (camera 20 Hz, lidar every second step)
FUTURE_S = 3.0
FUTURE_STEP_S = 0.1

SIZES = {  # length, width, height (m)
    "car": (4.5, 1.85, 1.5),
    "truck": (8.0, 2.5, 3.2),
    "bicycle": (1.8, 0.6, 1.75),
    "pedestrian": (0.5, 0.6, 1.75),
}

# Intelligent-driver model (Treiber): comfortable values for urban traffic.
IDM_ACCEL, IDM_DECEL, IDM_HEADWAY, IDM_GAP, IDM_DELTA = 1.5, 2.0, 1.2, 2.5, 4.0
MAX_DECEL = 8.0
TURN_SPEED = 5.0
INDICATOR_LEAD_S = 1.5  # indicator on this long before a lane change starts
BRAKE_LIGHT_DECEL = 0.7  # brake lights show when decelerating harder than this (m/s2)


@dataclass
class ActorTimeline:
    """Everything about one actor at every step (index = step)."""

    actor_id: int  # also the instance id in label images
    kind: str
    size: tuple[float, float, float]
    appearance: str  # paint or clothes material
    parked: bool
    xy: NDArray[np.float64]  # (T, 2)
    heading: NDArray[np.float64]  # (T,)
    speed: NDArray[np.float64]  # (T,)
    accel: NDArray[np.float64]  # (T,)
    action: NDArray[np.int16]  # (T,) index into core.actions.ACTIONS
    brake_light: NDArray[np.bool_]
    indicator_left: NDArray[np.bool_]
    indicator_right: NDArray[np.bool_]
    hazard: NDArray[np.bool_]
    walk_phase: NDArray[np.float64]  # radians, drives leg swing

    def future(self, step: int, horizon_s: float = FUTURE_S, step_s: float = FUTURE_STEP_S) -> NDArray[np.float64]:
        """(N, 3) x, y, heading at step_s intervals after ``step`` (exact: the timeline is precomputed)."""
        stride = round(step_s / DT)
        count = round(horizon_s / step_s)
        index = np.minimum(step + stride * np.arange(1, count + 1), len(self.xy) - 1)
        return np.column_stack([self.xy[index], self.heading[index]])


def _smoothstep(x: NDArray[np.floating] | float) -> NDArray[np.float64]:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _blink(time_s: float) -> bool:
    """Indicators blink at 1.5 Hz, half the period on."""
    return (time_s * 1.5) % 1.0 < 0.5


class _Vehicle:
    def __init__(self, spec: VehicleSpec, network: RoadNetwork, parking_offset: float) -> None:
        self.spec = spec
        road = network.road(spec.road)
        if spec.turn:
            self.path = turn_path(network, spec.turn, spec.s)
            self.s = 0.0
            bend = np.flatnonzero(
                np.abs(np.diff(np.unwrap(np.arctan2(*np.diff(self.path.points, axis=0).T[::-1])))) > 1e-3
            )
            self.turn_range = (
                (float(self.path.s[bend[0]]), float(self.path.s[bend[-1] + 1])) if len(bend) else (0.0, 0.0)
            )
        else:
            lane_path = road.lane_path(spec.lane)
            self.path = lane_path
            self.s = road.lane_s(spec.lane, spec.s) if spec.lane < 0 else spec.s
            self.turn_range = (0.0, 0.0)
        self.road = road
        self.lateral = 0.0
        if spec.parked:
            self.lateral = parking_offset
        elif spec.kind == "bicycle":
            self.lateral = -(road.lane_width / 2 - 0.7)  # keep right, beside the cars
        self.v = 0.0 if spec.parked else spec.speed
        self.target_v = self.v
        self.forced_decel = 0.0
        self.hazard = spec.hazard
        self.lane_change: tuple[float, float, float, float] | None = None  # t0, duration, d0, d1
        self.events = list(spec.events)

    def lane_change_offset(self, event: Event) -> float:
        lane = int(event.value)
        if (lane >= 0) != (self.spec.lane >= 0):
            raise ValueError(f"vehicle {self.spec.name or self.spec.kind}: lane change across the centre line")
        delta = self.road.lane_offset(lane) - self.road.lane_offset(self.spec.lane)
        return delta if self.spec.lane >= 0 else -delta


class _Pedestrian:
    def __init__(self, spec: PedestrianSpec, network: RoadNetwork, parking: dict[str, float]) -> None:
        self.spec = spec
        self.road = network.road(spec.road)
        self.sidewalk = {
            "right": self.road.right_edge - parking["right"] - self.road.sidewalk_width / 2,
            "left": self.road.left_edge + parking["left"] + self.road.sidewalk_width / 2,
        }
        towards_road = 1.0 if spec.side == "right" else -1.0
        self.s = spec.s
        self.lateral = self.sidewalk[spec.side] + towards_road * spec.offset
        self.mode = spec.mode
        self.v = spec.speed
        self.direction = spec.direction
        self.cross_target: float | None = None
        self.events = list(spec.events)
        self.phase = 0.0


def build_timelines(scenario: Scenario, network: RoadNetwork, rng: np.random.Generator) -> list[ActorTimeline]:
    """Integrate every actor over the scenario plus the prediction horizon."""
    parking = {"right": 0.0, "left": 0.0}
    if scenario.parked_side:
        parking[scenario.parked_side] = PARKING_WIDTH
    specs = list(scenario.vehicles) + _parked_specs(scenario) + _traffic_specs(scenario, rng)
    vehicles = [_Vehicle(spec, network, _parking_offset(network, spec, parking)) for spec in specs]
    pedestrians = [_Pedestrian(spec, network, parking) for spec in scenario.pedestrians]
    steps = round((scenario.duration + FUTURE_S + 1.0) / DT) + 1
    n_v, n_p = len(vehicles), len(pedestrians)
    n = n_v + n_p
    xy = np.zeros((steps, n, 2))
    heading = np.zeros((steps, n))
    speed = np.zeros((steps, n))
    accel = np.zeros((steps, n))
    action = np.zeros((steps, n), dtype=np.int16)
    brake = np.zeros((steps, n), dtype=bool)
    left = np.zeros((steps, n), dtype=bool)
    right = np.zeros((steps, n), dtype=bool)
    hazard = np.zeros((steps, n), dtype=bool)
    phase = np.zeros((steps, n))
    lengths = np.array([SIZES[v.spec.kind][0] for v in vehicles] + [SIZES["pedestrian"][0]] * n_p)

    for step in range(steps):
        t = step * DT
        # Poses first: everyone's leader search uses the same instant.
        for i, vehicle in enumerate(vehicles):
            lateral = vehicle.lateral
            if vehicle.lane_change is not None:
                t0, duration, d0, d1 = vehicle.lane_change
                lateral = d0 + (d1 - d0) * float(_smoothstep((t - t0) / duration))
                if t >= t0 + duration:
                    vehicle.lateral, vehicle.lane_change = d1, None
                    lateral = d1
            position, theta = vehicle.path.pose(vehicle.s)
            xy[step, i] = position + lateral * np.array([-np.sin(theta), np.cos(theta)])
            heading[step, i] = theta
        for j, pedestrian in enumerate(pedestrians):
            position, theta = pedestrian.road.centre.pose(pedestrian.s)
            normal = np.array([-np.sin(theta), np.cos(theta)])
            xy[step, n_v + j] = position + pedestrian.lateral * normal
            if pedestrian.mode == "cross":
                sign = np.sign((pedestrian.cross_target or 0.0) - pedestrian.lateral) or 1.0
                heading[step, n_v + j] = theta + sign * np.pi / 2
            else:
                heading[step, n_v + j] = theta if pedestrian.direction > 0 else theta + np.pi

        # Vehicles: events, then IDM towards the nearest actor ahead in their corridor.
        velocity = np.zeros((n, 2))
        for i, vehicle in enumerate(vehicles):
            velocity[i] = vehicle.v * np.array([np.cos(heading[step, i]), np.sin(heading[step, i])])
        for i, vehicle in enumerate(vehicles):
            a_cmd, signal_left, signal_right = _vehicle_step(
                vehicle, i, t, xy[step], heading[step], velocity, lengths, n_v, pedestrians
            )
            if vehicle.spec.parked:
                a_cmd = 0.0
            new_v = max(vehicle.v + a_cmd * DT, 0.0)
            actual_a = (new_v - vehicle.v) / DT
            speed[step, i], accel[step, i] = vehicle.v, actual_a
            vehicle.s += (vehicle.v + new_v) / 2 * DT
            vehicle.v = new_v
            blinking = _blink(t)
            hazard[step, i] = vehicle.hazard and blinking
            left[step, i] = (signal_left and blinking) or hazard[step, i]
            right[step, i] = (signal_right and blinking) or hazard[step, i]
            holding = speed[step, i] < 0.3 and not vehicle.spec.parked and vehicle.target_v < 0.3
            brake[step, i] = (
                vehicle.spec.kind != "bicycle"
                and (actual_a < -BRAKE_LIGHT_DECEL or holding)
                and not vehicle.spec.parked
            )
            action[step, i] = ACTION_ID[_vehicle_action(vehicle, speed[step, i], actual_a, signal_left, signal_right)]

        for j, pedestrian in enumerate(pedestrians):
            index = n_v + j
            _pedestrian_step(pedestrian, t)
            v = pedestrian.v if pedestrian.mode in ("walk", "cross") else 0.0
            speed[step, index] = v
            if pedestrian.mode == "cross" and pedestrian.cross_target is not None:
                delta = pedestrian.cross_target - pedestrian.lateral
                move = np.sign(delta) * min(abs(delta), v * DT)
                pedestrian.lateral += move
                if abs(pedestrian.cross_target - pedestrian.lateral) < 1e-6:
                    pedestrian.mode = pedestrian.spec.mode
            elif pedestrian.mode == "walk":
                pedestrian.s += pedestrian.direction * v * DT
            pedestrian.phase += v * DT * 2.2  # about one stride cycle per 1.4 m
            phase[step, index] = pedestrian.phase
            state = "crossing" if pedestrian.mode == "cross" else ("walking" if v > 0.2 else "standing")
            action[step, index] = ACTION_ID[state]

    # Who each column of the arrays is; the draws from rng keep their order (vehicles, then people).
    identities = [
        (
            vehicle.spec.kind,
            vehicle.spec.paint or VEHICLE_PAINTS[int(rng.integers(len(VEHICLE_PAINTS)))],
            vehicle.spec.parked,
        )
        for vehicle in vehicles
    ] + [("pedestrian", CLOTHES[int(rng.integers(len(CLOTHES)))], False) for _ in pedestrians]
    timelines = []
    for index, (kind, appearance, parked) in enumerate(identities):
        timelines.append(
            ActorTimeline(
                actor_id=index + 1,
                kind=kind,
                size=SIZES[kind],
                appearance=appearance,
                parked=parked,
                xy=xy[:, index],
                heading=np.unwrap(heading[:, index]),
                speed=speed[:, index],
                accel=accel[:, index],
                action=action[:, index],
                brake_light=brake[:, index],
                indicator_left=left[:, index],
                indicator_right=right[:, index],
                hazard=hazard[:, index],
                walk_phase=phase[:, index],
            )
        )
    return timelines


PARKING_WIDTH = 2.5


def _parking_offset(network: RoadNetwork, spec: VehicleSpec, parking: dict[str, float]) -> float:
    """Lateral offset (from the lane centre, left positive) of a parked car in the parking strip."""
    if not spec.parked:
        return 0.0
    road = network.road(spec.road)
    if spec.lane >= 0:
        return road.right_edge - PARKING_WIDTH / 2 - road.lane_offset(spec.lane)
    # Backward lane paths run the other way, so their left is the road's right.
    return -(road.left_edge + PARKING_WIDTH / 2 - road.lane_offset(spec.lane))


def _parked_specs(scenario: Scenario) -> list[VehicleSpec]:
    if not scenario.parked_count or not scenario.parked_side:
        return []
    lane = 0 if scenario.parked_side == "right" else -1
    specs = []
    for index in range(scenario.parked_count):
        s = scenario.parked_start + index * scenario.parked_spacing
        specs.append(
            VehicleSpec(kind="car", road="main", lane=lane, s=s, speed=0.0, parked=True, name=f"parked{index}")
        )
    return specs


def _traffic_specs(scenario: Scenario, rng: np.random.Generator) -> list[VehicleSpec]:
    """Random extra traffic: oncoming vehicles, and vehicles ahead of ego in the other forward lanes."""
    if scenario.traffic_density <= 0:
        return []
    specs = []
    spacing = 40.0 / scenario.traffic_density
    for lane in range(-scenario.lanes, scenario.lanes):
        if lane == scenario.ego.lane:
            continue
        start = 20.0 if lane < 0 else scenario.ego.s + 15.0
        s = start + float(rng.uniform(0, spacing))
        while s < scenario.road_length - 20:
            kind = "truck" if rng.random() < 0.15 else "car"
            speed = float(rng.uniform(8.0, 13.0))
            specs.append(VehicleSpec(kind=kind, road="main", lane=lane, s=s, speed=speed, name=f"traffic{len(specs)}"))
            s += spacing * float(rng.uniform(0.7, 1.3))
    return specs


def _vehicle_step(
    vehicle: _Vehicle,
    index: int,
    t: float,
    xy: NDArray,
    heading: NDArray,
    velocity: NDArray,
    lengths: NDArray,
    n_vehicles: int,
    pedestrians: list[_Pedestrian],
) -> tuple[float, bool, bool]:
    signal_left = signal_right = False
    while vehicle.events and vehicle.events[0].at <= t + (
        INDICATOR_LEAD_S if vehicle.events[0].kind == "lane_change" else 0.0
    ):
        event = vehicle.events[0]
        if event.kind == "lane_change":
            if event.at > t:  # the indicator leads the manoeuvre
                offset = vehicle.lane_change_offset(event)
                signal_left, signal_right = offset > 0, offset < 0
                break
            offset = vehicle.lane_change_offset(event)
            vehicle.lane_change = (event.at, event.duration, vehicle.lateral, vehicle.lateral + offset)
        elif event.kind == "brake":
            vehicle.forced_decel = event.value
            vehicle.target_v = 0.0
        elif event.kind == "speed":
            vehicle.target_v = event.value
            vehicle.forced_decel = 0.0
        elif event.kind == "hazard":
            vehicle.hazard = bool(event.value)
        vehicle.events.pop(0)
    if vehicle.lane_change is not None:
        _, _, d0, d1 = vehicle.lane_change
        signal_left, signal_right = d1 > d0, d1 < d0
    desired_v = vehicle.target_v
    if vehicle.spec.turn:
        start, end = vehicle.turn_range
        if start - 30.0 <= vehicle.s <= end:
            signal_left, signal_right = vehicle.spec.turn == "left", vehicle.spec.turn == "right"
        if start - 25.0 <= vehicle.s <= end:
            desired_v = min(desired_v, TURN_SPEED)

    # Nearest actor ahead within a lane-wide corridor (vehicles, and pedestrians on the carriageway).
    theta = heading[index]
    forward = np.array([np.cos(theta), np.sin(theta)])
    relative = xy - xy[index]
    along = relative @ forward
    across = relative @ np.array([-forward[1], forward[0]])
    corridor = (along > 0) & (np.abs(across) < 2.0)
    corridor[index] = False
    for j, pedestrian in enumerate(pedestrians):
        if pedestrian.mode != "cross":
            corridor[n_vehicles + j] = False
    gap, closing = np.inf, 0.0
    if corridor.any():
        candidates = np.flatnonzero(corridor)
        nearest = candidates[np.argmin(along[candidates])]
        gap = along[nearest] - (lengths[index] + lengths[nearest]) / 2
        closing = vehicle.v - float(velocity[nearest] @ forward)
    accel = _idm(vehicle.v, desired_v, gap, closing)
    if vehicle.forced_decel > 0 and vehicle.v > 0:
        accel = min(accel, -vehicle.forced_decel)
    return float(np.clip(accel, -MAX_DECEL, IDM_ACCEL)), signal_left, signal_right


def _idm(v: float, v0: float, gap: float, closing: float) -> float:
    free = IDM_ACCEL * (1.0 - (v / v0) ** IDM_DELTA) if v0 > 0.1 else -IDM_DECEL * min(v, 1.0)
    if not np.isfinite(gap):
        return free
    desired = IDM_GAP + v * IDM_HEADWAY + v * closing / (2 * np.sqrt(IDM_ACCEL * IDM_DECEL))
    return free - IDM_ACCEL * (desired / max(gap, 0.1)) ** 2


def _vehicle_action(vehicle: _Vehicle, v: float, a: float, signal_left: bool, signal_right: bool) -> str:
    if vehicle.spec.kind == "bicycle":
        return "stopped" if v < 0.3 else "moving"
    if vehicle.hazard:
        return "hazard"
    if signal_left:
        return "signal_left"
    if signal_right:
        return "signal_right"
    if v < 0.3:
        return "stopped"
    if a < -BRAKE_LIGHT_DECEL * 1.5:
        return "braking"
    return "moving"


def _pedestrian_step(pedestrian: _Pedestrian, t: float) -> None:
    while pedestrian.events and pedestrian.events[0].at <= t:
        event = pedestrian.events.pop(0)
        if event.kind == "cross":
            side = "left" if pedestrian.lateral < 0 else "right"  # right sidewalk has negative lateral
            pedestrian.cross_target = pedestrian.sidewalk[side]
            pedestrian.mode = "cross"
            pedestrian.v = pedestrian.v or 1.4
        elif event.kind == "walk":
            pedestrian.mode = "walk"
            pedestrian.v = pedestrian.spec.speed or 1.4
        elif event.kind == "stand":
            pedestrian.mode = "stand"


def vehicle_path_for(network: RoadNetwork, spec: VehicleSpec) -> Path:
    """The reference path a vehicle drives (for tools that draw it)."""
    return turn_path(network, spec.turn, spec.s) if spec.turn else network.road(spec.road).lane_path(spec.lane)
