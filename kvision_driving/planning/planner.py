"""The planner: an explainable behaviour layer over Frenet trajectory sampling, checked against every
predicted path and the occupancy grid.

One cycle, top to bottom:

1. Put ego and every road user's hypotheses in the route's Frenet frame; read the recognised actions
   (a crossing pedestrian or a vehicle signalling into our lane constrains us before its predicted
   path says so; a braking lead gets a longer time gap).
2. Lateral targets: the lane centre, where ego is now, and when a stationary object blocks our lane,
   the adjacent lanes it may pass through (not the oncoming one); each reached by a minimum-jerk
   manoeuvre over the distance travelled (a path, whatever the speed along it).
3. Speed profiles per lateral manoeuvre: IDM against the leads in that corridor over time, a more
   cautious IDM, cruise, and stops of increasing firmness; jerk- and acceleration-limited.
4. Every candidate is swept against every hypothesis (time-aligned, with margins) and the grid;
   collision-free ones are ranked by cost (safety, progress, comfort, lane centring); if none is free,
   the one that collides latest, braking hardest, is taken: an emergency stop.
5. The behaviour is named from what constrained the chosen candidate, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.vehicle import EGO_LENGTH, EGO_WIDTH, REAR_AXLE_TO_CENTRE, EgoState
from kvision_driving.planning.frenet import FrenetFrame
from kvision_driving.planning.occupancy import OccupancyGrid
from kvision_driving.planning.profiles import LateralManoeuvres, idm_accel, integrate_speed
from kvision_driving.planning.scene import RoadUser

EGO_CIRCLES = 5  # circles covering ego's box: 5 over-approximate its half width by about 0.1 m
SHARP_PENALTY = 0.8  # cost of pulling out over tight_lane_change_m, not the gentle span (+0.2 only just clear)


def circle_cover(length: float, width: float, count: int) -> tuple[NDArray[np.float64], float]:
    """Offsets along the heading (from the box centre) and radius of ``count`` equal circles covering a box."""
    offsets = (np.arange(count) - (count - 1) / 2) * length / count
    return offsets, float(np.hypot(width / 2, length / (2 * count)))


class Behaviour(Enum):
    CRUISE = "cruise"
    FOLLOW = "follow"
    STOP_FOR_OBSTACLE = "stop_for_obstacle"
    YIELD_PEDESTRIAN = "yield_pedestrian"
    PASS_BLOCKED_LANE = "pass_blocked_lane"
    EMERGENCY_STOP = "emergency_stop"
    SAFE_STOP = "safe_stop"  # the watchdog's controlled stop: inputs stale or a node in error


@dataclass(frozen=True)
class PlannerConfig:
    horizon_s: float = 5.0
    dt: float = 0.1
    cruise_speed: float = 11.0
    lane_width: float = 3.5
    pass_left: bool = True
    pass_right: bool = True
    # Where oncoming traffic drives: "left" (right-hand traffic), "right" (left-hand) or "none" (one-way).
    # The route carries no lane directions, so an adjacent lane on that side is taken for the oncoming
    # lane, never passed into, until a vehicle is seen driving our way in it: with perception reaching
    # some 60 m, an oncoming car could not be seen in time to finish a pass through its lane.
    oncoming_side: str = "left"
    lane_evidence_s: float = 30.0  # how long a vehicle seen in a lane vouches for its direction
    lane_change_s: float = 3.0  # a full lane change at speed takes this long; at low speed, see below
    min_lane_change_m: float = 20.0  # and never less distance than this (a car cannot step sideways)
    tight_lane_change_m: float = 10.0  # a pass may also pull out this sharply: from a stop close behind
    pass_clearance: float = 0.2  # beyond the margin: how far clear of a blocker the sharp pull-out aims
    comfort_accel: float = 2.0
    comfort_decel: float = 3.0  # beyond it only in a declared emergency
    max_decel: float = 8.0
    comfort_jerk: float = 4.0
    emergency_jerk: float = 30.0
    time_gap: float = 1.5
    braking_lead_time_gap: float = 2.5
    standstill_gap: float = 4.0  # bumper to bumper when stopped behind something
    pedestrian_stop_gap: float = 5.0
    vehicle_margin: float = 0.3  # clearance to keep beyond the footprints' circles
    pedestrian_margin: float = 0.5
    static_margin: float = 0.3
    blocked_speed: float = 0.5  # a vehicle slower than this in our lane blocks it
    pass_lookahead: float = 60.0
    # A vehicle standing this long (or on hazards) may be passed; long enough not to overtake a car that
    # only paused, short enough to decide while still rolling up to it (from a standstill close behind,
    # there is no room to steer around it).
    pass_after_s: float = 2.0
    crossing_lookahead: float = 45.0
    min_path_confidence: float = 0.1
    ego_length: float = EGO_LENGTH
    ego_width: float = EGO_WIDTH
    rear_axle_to_centre: float = REAR_AXLE_TO_CENTRE


@dataclass
class Plan:
    """A timed trajectory of base_link in map, the behaviour that chose it and why."""

    t: NDArray[np.float64]  # (K,) seconds from the plan's stamp
    xy: NDArray[np.float64]  # (K, 2)
    yaw: NDArray[np.float64]  # (K,)
    v: NDArray[np.float64]  # (K,)
    a: NDArray[np.float64]  # (K,)
    behaviour: Behaviour
    reason: str
    min_clearance: float = np.inf
    candidates: int = 0
    collision_free: int = 0
    constraint_id: str = ""
    lateral_target: float = 0.0
    profile: str = ""  # which speed profile won: idm, idm_cautious, cruise, hold, stop_<decel>


@dataclass
class _Obstacle:
    """One hypothesis of one road user in Frenet coordinates over the horizon (or a virtual one)."""

    user: RoadUser
    s: NDArray[np.float64]  # (K,)
    d: NDArray[np.float64]  # (K,)
    xy: NDArray[np.float64]  # (K, 2)
    yaw: NDArray[np.float64]  # (K,)
    speed_s: NDArray[np.float64]  # (K,) along the route
    margin: float
    corridor: bool = False  # virtual: in every corridor (an announced crossing or cut-in)


class Planner:
    def __init__(self, route_xy: NDArray[np.floating], config: PlannerConfig | None = None) -> None:
        self.config = config or PlannerConfig()
        self.frame = FrenetFrame(route_xy)
        self.times = np.arange(round(self.config.horizon_s / self.config.dt) + 1) * self.config.dt
        self._stationary_since: dict[str, float] = {}  # object id -> stamp it was first seen stationary
        self._last_plan: tuple[float, Plan] | None = None  # (stamp, plan): the next one starts where it is
        self._last_lateral: tuple[float, LateralManoeuvres, float] | None = None  # (target, manoeuvre, start s)
        self._pass: tuple[str, float] | None = None  # (blocker id, lateral target) of the pass under way
        self._lane_direction: dict[int, tuple[int, float]] = {}  # lane (0: ours) -> (+1 ours / -1 oncoming, seen at)
        if self.config.oncoming_side not in ("left", "right", "none"):
            raise ValueError(f"oncoming_side must be left, right or none, not {self.config.oncoming_side!r}")

    def reset(self) -> None:
        """Forget what earlier plans carry over (the clock went back: a bag looped)."""
        self._stationary_since, self._last_plan, self._pass, self._lane_direction = {}, None, None, {}
        self._last_lateral = None

    # --- 1. the scene in the route's frame ---------------------------------------------------------

    def _obstacles(self, ego_s: float, users: list[RoadUser]) -> list[_Obstacle]:
        """Every hypothesis worth checking, and the announced obstacles; all positions projected at once."""
        config, times = self.config, self.times
        hypotheses = [
            (user, xy, yaw) for user in users for _, xy, yaw in user.positions(times, config.min_path_confidence)
        ]
        if not users:
            return []
        points = np.concatenate([xy for _, xy, _ in hypotheses] + [np.stack([user.xy for user in users])])
        s_all, d_all = self.frame.to_frenet(points)
        s_all, d_all = s_all.reshape(-1), d_all.reshape(-1)
        k = len(times)
        out = []
        for index, (user, xy, yaw) in enumerate(hypotheses):
            s, d = s_all[index * k : (index + 1) * k], d_all[index * k : (index + 1) * k]
            if np.all(s < ego_s - 30.0) or np.all(np.abs(d) > 3 * config.lane_width):
                continue  # far behind or far off the road: cannot meet us within the horizon
            margin = config.pedestrian_margin if user.is_pedestrian else config.vehicle_margin
            out.append(_Obstacle(user, s, d, xy, yaw, np.gradient(s, config.dt), margin))
        now = len(hypotheses) * k
        for index, user in enumerate(users):
            announced = self._announced(ego_s, user, float(s_all[now + index]), float(d_all[now + index]))
            if announced is not None:
                out.append(announced)
        return out

    def _announced(self, ego_s: float, user: RoadUser, s0: float, d0: float) -> _Obstacle | None:
        """A virtual obstacle in our corridor for what an action announces before a path shows it: a
        pedestrian crossing (held where it stands, across our lane), a vehicle beside us signalling
        towards our lane (kept at its speed)."""
        config = self.config
        ahead = s0 - ego_s
        k = len(self.times)
        if user.is_pedestrian and user.action == "crossing" and 0.0 < ahead < config.crossing_lookahead:
            lateral_speed = user.speed * float(np.sin(user.yaw - self.frame.heading_at(s0)))
            clear = config.lane_width / 2 + config.ego_width / 2 + config.pedestrian_margin
            if abs(d0) > clear and d0 * lateral_speed > 0:
                return None  # already across our lane and walking away from it
            s = np.full(k, s0)
            speed = np.zeros(k)
        elif (
            not user.is_pedestrian
            and -5.0 < ahead < config.pass_lookahead
            and config.lane_width * 0.5 < abs(d0) < config.lane_width * 1.6
            and ((user.action == "signal_right" and d0 > 0) or (user.action == "signal_left" and d0 < 0))
        ):
            heading = self.frame.heading_at(s0)
            speed_along = user.speed * float(np.cos(user.yaw - heading))
            s = s0 + speed_along * self.times
            speed = np.full(k, speed_along)
        else:
            return None
        xy, yaw = self.frame.to_cartesian(s, np.zeros(k))
        margin = config.pedestrian_margin if user.is_pedestrian else config.vehicle_margin
        return _Obstacle(user, s, np.zeros(k), xy, yaw, speed, margin, corridor=True)

    # --- 2. + 3. candidates --------------------------------------------------------------------------

    def _observe_lanes(self, users: list[RoadUser], stamp_s: float | None) -> dict[int, int]:
        """Which way the lanes beside the route run, from the vehicles seen driving in them (+1 our way, -1
        oncoming), remembered for ``lane_evidence_s`` when plans are stamped."""
        config = self.config
        moving = [user for user in users if not user.is_pedestrian and user.speed >= 2.0]
        seen: dict[int, tuple[int, float]] = {}
        if moving:
            s, d = self.frame.to_frenet(np.stack([user.xy for user in moving]))
            for user, s_user, d_user in zip(moving, s.reshape(-1), d.reshape(-1), strict=True):
                along = float(np.cos(user.yaw - self.frame.heading_at(float(s_user))))
                if abs(along) > 0.7:  # driving along the road, not turning across it
                    seen[round(float(d_user) / config.lane_width)] = (1 if along > 0 else -1, stamp_s or 0.0)
        if stamp_s is None:
            return {lane: direction for lane, (direction, _) in seen.items()}
        recent = {
            lane: evidence
            for lane, evidence in self._lane_direction.items()
            if 0.0 <= stamp_s - evidence[1] <= config.lane_evidence_s
        }
        self._lane_direction = {**recent, **seen}
        return {lane: direction for lane, (direction, _) in self._lane_direction.items()}

    def _may_pass_into(self, lane: int, directions: dict[int, int]) -> bool:
        """Whether the adjacent ``lane`` (+1 left, -1 right) may be driven in to pass: not seen oncoming, and
        on the oncoming side only once a vehicle was seen driving our way in it."""
        config = self.config
        if not (config.pass_left if lane > 0 else config.pass_right):
            return False
        oncoming_side = {"left": 1, "right": -1, "none": 0}[config.oncoming_side]
        direction = directions.get(lane, -1 if lane == oncoming_side else 1)
        return direction > 0

    def _lateral_targets(self, ego_d: float, blocker: _Obstacle | None, directions: dict[int, int]) -> list[float]:
        """Our lane, where we are now (mid-pass), and around a blocker the adjacent lanes that may be passed
        into; once ego has begun to move over to one side, only that side, so the choice does not flip from
        cycle to cycle."""
        config = self.config
        targets = [0.0]
        if abs(ego_d) > 0.5:
            targets.append(round(ego_d / 0.25) * 0.25)
        if blocker is None:
            self._pass = None
            return list(dict.fromkeys(targets))
        committed = self._pass if self._pass is not None and self._pass[0] == blocker.user.object_id else None
        if committed is not None and ego_d * committed[1] > 0 and abs(ego_d) > 0.5:  # already moving over
            if self._may_pass_into(1 if committed[1] > 0 else -1, directions):
                targets.append(committed[1])
        else:
            targets += [lane * config.lane_width for lane in (1, -1) if self._may_pass_into(lane, directions)]
        return list(dict.fromkeys(targets))

    def _in_corridor(self, d_ego: NDArray, obstacle: _Obstacle) -> NDArray[np.bool_]:
        """(C, K): where the obstacle overlaps the corridor of each lateral profile."""
        if obstacle.corridor:
            return np.ones(np.broadcast_shapes(d_ego.shape, obstacle.d.shape), dtype=bool)
        return np.abs(obstacle.d[None, :] - d_ego) < self._reach(obstacle)

    def _reach(self, obstacle: _Obstacle) -> float:
        """How close across the road ego's centre line may come to the obstacle's before they overlap."""
        return (self.config.ego_width + obstacle.user.width) / 2 + obstacle.margin

    def _idm_profiles(
        self, ego: EgoState, ego_s: float, manoeuvres: LateralManoeuvres, obstacles: list[_Obstacle]
    ) -> tuple[NDArray, NDArray, NDArray, NDArray, list[str]]:
        """IDM closed against the leads of each lateral manoeuvre's corridor over time, normal and cautious:
        (s, v, a (C, K), lateral index (C,), kinds), all candidates and obstacles at once. Where ego is across
        the road depends on how far it has gone, so the corridor is followed step by step."""
        config, dt, steps = self.config, self.config.dt, len(self.times)
        variants = (("idm", 1.0), ("idm_cautious", 1.6))
        lateral_count = len(manoeuvres.spans)
        lateral_index = np.repeat(np.arange(lateral_count), len(variants))
        gap_scale = np.tile([scale for _, scale in variants], lateral_count)
        count = len(lateral_index)
        front = config.rear_axle_to_centre + config.ego_length / 2
        own = manoeuvres.take(lateral_index)
        if obstacles:
            obstacle_d = np.stack([o.d for o in obstacles])  # (O, K)
            reach = np.array([self._reach(o) for o in obstacles])
            everywhere = np.array([o.corridor for o in obstacles])
            half = np.array([o.user.width / 2 if o.user.is_pedestrian else o.user.length / 2 for o in obstacles])
            rear = np.stack([o.s for o in obstacles]) - half[:, None]  # (O, K)
            rear -= np.array(
                [config.pedestrian_stop_gap - config.standstill_gap if o.user.is_pedestrian else 0.0 for o in obstacles]
            )[:, None]
            lead_speed = np.stack([np.maximum(o.speed_s, 0.0) for o in obstacles])
            gap_time = np.array(
                [config.braking_lead_time_gap if o.user.action == "braking" else config.time_gap for o in obstacles]
            )
        s, v, a = np.zeros((count, steps)), np.zeros((count, steps)), np.zeros((count, steps))
        v[:, 0], a[:, 0] = ego.v, ego.a
        rows = np.arange(count)
        for k in range(1, steps):
            gap = np.full(count, np.inf)
            speed = np.zeros(count)
            time_gap = np.full(count, config.time_gap)
            if obstacles:
                gaps = rear[None, :, k - 1] - (ego_s + s[:, k - 1, None] + front)  # (C, O)
                # A lead is what will be in the corridor where ego's front reaches it: a car being passed
                # stops being one once the path will have moved clear of it by then, not only once it has.
                d_there = own.at(s[:, k - 1, None] + np.maximum(gaps, 0.0) + front)  # (C, O)
                in_corridor = everywhere | (np.abs(obstacle_d[None, :, k - 1] - d_there) < reach)
                valid = in_corridor & (gaps > -(half[None, :] + config.ego_length))
                gaps = np.where(valid, gaps, np.inf)
                nearest = np.argmin(gaps, axis=1)
                gap = gaps[rows, nearest]
                speed = np.where(np.isfinite(gap), lead_speed[nearest, k - 1], 0.0)
                time_gap = np.where(np.isfinite(gap), gap_time[nearest], config.time_gap)
            wanted = idm_accel(
                v[:, k - 1],
                gap,
                speed,
                config.cruise_speed,
                time_gap * gap_scale,
                config.standstill_gap,
                config.comfort_accel,
                config.comfort_decel,
            )
            wanted = np.clip(wanted, -config.max_decel, config.comfort_accel)
            jerk = np.where(wanted < -config.comfort_decel, config.emergency_jerk, config.comfort_jerk) * dt
            a[:, k] = a[:, k - 1] + np.clip(wanted - a[:, k - 1], -jerk, jerk)
            v[:, k] = np.maximum(v[:, k - 1] + a[:, k] * dt, 0.0)
            a[:, k] = np.where(v[:, k] <= 0.0, 0.0, a[:, k])
            s[:, k] = s[:, k - 1] + 0.5 * (v[:, k - 1] + v[:, k]) * dt
        kinds = [name for _ in range(lateral_count) for name, _ in variants]
        return s, v, a, lateral_index, kinds

    def _open_loop_profiles(
        self, ego: EgoState, lateral_count: int
    ) -> tuple[NDArray, NDArray, NDArray, NDArray, list[str]]:
        """Cruise, hold speed and stops of increasing firmness, for every lateral profile."""
        config, steps = self.config, len(self.times)
        decels = (1.5, config.comfort_decel, 5.0, config.max_decel)
        towards_cruise = config.comfort_accel if ego.v < config.cruise_speed else -1.0
        desired = np.stack([np.full(steps, towards_cruise), np.zeros(steps), *(np.full(steps, -x) for x in decels)])
        jerks = np.array([config.comfort_jerk] * 4 + [config.emergency_jerk] * (len(decels) - 2))
        s, v, a = integrate_speed(ego.v, ego.a, desired, config.dt, jerks, (-config.max_decel, config.comfort_accel))
        if ego.v < config.cruise_speed:  # cruise: stop accelerating at the cruise speed
            reached = v[0] >= config.cruise_speed
            v[0] = np.minimum(v[0], config.cruise_speed)
            a[0] = np.where(reached, 0.0, a[0])
            s[0] = np.concatenate([[0.0], np.cumsum(0.5 * (v[0, 1:] + v[0, :-1]) * config.dt)])
        kinds = ["cruise", "hold", *(f"stop_{x:g}" for x in decels)]
        tile = (lateral_count, 1)
        return (
            np.tile(s, tile),
            np.tile(v, tile),
            np.tile(a, tile),
            np.repeat(np.arange(lateral_count), len(kinds)),
            kinds * lateral_count,
        )

    # --- 4. sweep and rank -------------------------------------------------------------------------------

    def _footprint(self, xy: NDArray, yaw: NDArray) -> NDArray[np.float64]:
        """Centres of the circles covering ego's box, (..., EGO_CIRCLES, 2), from base_link poses."""
        config = self.config
        offsets, _ = circle_cover(config.ego_length, config.ego_width, EGO_CIRCLES)
        offsets = offsets + config.rear_axle_to_centre
        heading = np.stack([np.cos(yaw), np.sin(yaw)], axis=-1)
        return xy[..., None, :] + offsets[:, None] * heading[..., None, :]

    def _clearances(
        self, xy: NDArray, yaw: NDArray, front_s: NDArray, obstacles: list[_Obstacle]
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """(C, K) clearance to the nearest obstacle beyond its margin (negative: too close) and which one.

        Road users are covered by circles (one for a pedestrian, three along a vehicle), and every circle
        of every nearby obstacle is measured against every circle of every candidate in one array."""
        config = self.config
        count, steps = front_s.shape
        _, ego_radius = circle_cover(config.ego_length, config.ego_width, EGO_CIRCLES)
        ego_circles = self._footprint(xy, yaw)  # (C, K, E, 2)
        ego_centres = ego_circles[:, :, EGO_CIRCLES // 2, :]
        per_obstacle = np.full((len(obstacles) + 1, count, steps), np.inf)  # last row: nothing
        centres, reach, owners = [], [], []
        for index, obstacle in enumerate(obstacles):
            user = obstacle.user
            if obstacle.corridor:  # announced: keep behind it along the route, whatever the lateral offset
                per_obstacle[index] = obstacle.s[None, :] - user.width / 2 - front_s - obstacle.margin
                continue
            if np.min(np.linalg.norm(ego_centres - obstacle.xy[None], axis=-1)) > 12.0:
                continue  # never within reach of any candidate
            offsets, radius = self._circles(user)
            heading = np.stack([np.cos(obstacle.yaw), np.sin(obstacle.yaw)], axis=-1)
            centres.append(obstacle.xy[:, None, :] + offsets[:, None] * heading[:, None, :])  # (K, n, 2)
            reach.extend([radius + obstacle.margin] * len(offsets))
            owners.extend([index] * len(offsets))
        if centres:
            circles = np.concatenate(centres, axis=1).astype(np.float32)  # (K, M, 2)
            ego32 = ego_circles.astype(np.float32)
            dx = ego32[:, :, :, None, 0] - circles[None, :, None, :, 0]  # (C, K, E, M)
            dy = ego32[:, :, :, None, 1] - circles[None, :, None, :, 1]
            distance = np.sqrt((dx * dx + dy * dy).min(axis=2))
            clearance = distance - ego_radius - np.array(reach, dtype=np.float32)  # (C, K, M)
            owners_array = np.array(owners)
            starts = np.flatnonzero(np.r_[True, owners_array[1:] != owners_array[:-1]])
            grouped = np.minimum.reduceat(clearance, starts, axis=2)  # (C, K, obstacles with circles)
            per_obstacle[owners_array[starts]] = np.moveaxis(grouped, 2, 0)
        which = np.argmin(per_obstacle, axis=0)
        best = np.take_along_axis(per_obstacle, which[None], axis=0)[0]
        which = np.where(np.isfinite(best), which, -1)
        return best, which

    @staticmethod
    def _circles(user: RoadUser) -> tuple[NDArray[np.float64], float]:
        """Offsets along a road user's heading and radius of the circles covering it: one for a pedestrian
        (or anything about as long as wide), three along a vehicle."""
        if user.is_pedestrian or user.length <= user.width * 1.5:
            return np.zeros(1), max(user.length, user.width) / 2
        return circle_cover(user.length, user.width, 3)

    def plan(
        self, ego: EgoState, users: list[RoadUser], grid: OccupancyGrid | None = None, stamp_s: float | None = None
    ) -> Plan:
        """The best trajectory from ``ego`` now. With ``stamp_s`` (the time of ``ego``), the speed profiles
        start from the acceleration the previous plan commands now (trajectory stitching), not from a
        measured acceleration whose noise and lag a controller would feed back into the plan."""
        config, times, dt = self.config, self.times, self.config.dt
        ego = replace(ego, a=self._stitched_accel(ego, stamp_s))
        self._track_stationary(users, stamp_s)
        (ego_s,), (ego_d,) = self.frame.to_frenet(ego.xy[None])
        ego_s, ego_d = float(ego_s), float(ego_d)
        obstacles = self._obstacles(ego_s, users)
        obstacles.append(self._route_end())
        blocker = self._blocker(ego_s, obstacles, stamp_s)
        targets = self._lateral_targets(ego_d, blocker, self._observe_lanes(users, stamp_s))
        heading_error = float(np.angle(np.exp(1j * (ego.yaw - self.frame.heading_at(ego_s)))))
        targets, spans, penalties, curvature = self._lateral_options(ego, ego_s, ego_d, targets, blocker, stamp_s)
        slope = float(np.tan(np.clip(heading_error, -1.2, 1.2)))
        manoeuvres = LateralManoeuvres.solve(ego_d, slope, curvature, np.array(targets), np.array(spans))
        idm = self._idm_profiles(ego, ego_s, manoeuvres, obstacles)
        open_loop = self._open_loop_profiles(ego, len(targets))
        s = np.concatenate([idm[0], open_loop[0]])
        v = np.concatenate([idm[1], open_loop[1]])
        a = np.concatenate([idm[2], open_loop[2]])
        lateral = np.concatenate([idm[3], open_loop[3]])
        kinds = idm[4] + open_loop[4]
        own = manoeuvres.take(lateral)
        d = own.at(s)
        xy, route_heading = self.frame.to_cartesian(ego_s + s, d)
        yaw = route_heading + np.arctan(own.at(s, derivative=1))
        yaw[:, 0] = ego.yaw
        front_s = ego_s + s + config.rear_axle_to_centre + config.ego_length / 2
        clearance, which = self._clearances(xy, yaw, front_s, obstacles)
        if grid is not None:
            _, ego_radius = circle_cover(config.ego_length, config.ego_width, EGO_CIRCLES)
            static = grid.lookup_clearance(self._footprint(xy, yaw)).min(axis=2) - ego_radius - config.static_margin
            static[:, 0] = np.inf  # where ego is now is not a choice; a phantom there must not freeze it
            which = np.where(static < clearance, -2, which)
            clearance = np.minimum(clearance, static)
        headway = self._headway_deficit(ego_s, s, v, own, obstacles)
        # Standing still in our own lane is never the cause of a collision (a pedestrian passing close in
        # front of a stopped car must not turn every candidate into one); standing in another lane is.
        in_own_lane = np.abs(d) < config.lane_width / 2
        # Already inside an obstacle's margin (a controller lagging its plan beside the car being passed),
        # every candidate starts there: only closing in further collides. Judged on the margin alone, none
        # was free, and the emergency stop stood ego beside the car for good.
        allowed = min(0.0, float(clearance[0, 0]) - 0.05)
        collides = (clearance < allowed) & ((v > 0.05) | ~in_own_lane)
        feasible = ~collides.any(axis=1)
        jerk = np.abs(np.diff(a, axis=1)) / dt
        cost = (
            -10.0 * s[:, -1] / max(config.cruise_speed * config.horizon_s, 1.0)
            + 0.5 * np.abs(a).max(axis=1)
            + 0.05 * jerk.max(axis=1)
            + (0.0 if blocker is not None else 2.0) * np.abs(np.array(targets))[lateral] / config.lane_width
            + 0.5 * np.abs(np.array(targets)[lateral] - ego_d) / config.lane_width
            + 0.3 * (np.array(targets)[lateral] < -0.5)  # overtake on the left when both are free
            + np.array(penalties)[lateral]  # the sharp pull-outs only when the gentle one is not free
            # Still behind a blocker in its lane at the horizon: as much gained over 5 s as pulling out slowly,
            # and nothing after (a blocked lane has no future).
            + 3.0 * self._stuck_behind(blocker, d[:, -1], front_s[:, -1])
            + 2.0 * np.sum(np.exp(-np.maximum(clearance, 0.0)), axis=1) * dt
            + 20.0 * np.maximum(-a.min(axis=1) - config.comfort_decel, 0.0)
            + 5.0 * headway
        )
        culprit = None
        if feasible.any():
            chosen = int(np.argmin(np.where(feasible, cost, np.inf)))
        else:  # nothing is free: collide as late as possible, braking as hard as we can
            first = collides.argmax(axis=1)
            chosen = int(np.lexsort((a.min(axis=1), -first))[0])
            culprit = int(which[chosen, first[chosen]])
        plan = Plan(
            t=times.copy(),
            xy=xy[chosen],
            yaw=yaw[chosen],
            v=v[chosen],
            a=a[chosen],
            behaviour=Behaviour.CRUISE,
            reason="",
            min_clearance=float(clearance[chosen].min()),
            candidates=len(s),
            collision_free=int(feasible.sum()),
            lateral_target=targets[lateral[chosen]],
            profile=kinds[chosen],
        )
        grid_blocked = bool(np.any(collides & (which == -2)))
        self._explain(plan, ego_s, culprit, obstacles, blocker, grid_blocked)
        if stamp_s is not None:
            self._last_plan = (stamp_s, plan)
            self._last_lateral = (plan.lateral_target, manoeuvres.take(lateral[chosen : chosen + 1]), ego_s)
        return plan

    def _stuck_behind(
        self, blocker: _Obstacle | None, final_d: NDArray[np.float64], final_front_s: NDArray[np.float64]
    ) -> NDArray[np.bool_]:
        """(C,) which candidates end the horizon still behind ``blocker`` in its corridor."""
        if blocker is None:
            return np.zeros(len(final_d), dtype=bool)
        in_its_lane = np.abs(final_d - blocker.d[-1]) < self._reach(blocker)
        return in_its_lane & (final_front_s < blocker.s[-1] + blocker.user.length / 2)

    def _headway_deficit(
        self, ego_s: float, s: NDArray, v: NDArray, own: LateralManoeuvres, obstacles: list[_Obstacle]
    ) -> NDArray[np.float64]:
        """(C,) how far each candidate closes in below the time gap on what is ahead in its corridor (where
        ego's front will be across the road when it gets there), as the time-integrated shortfall relative
        to the wanted gap (0: never closer than wanted)."""
        config = self.config
        front = ego_s + s + config.rear_axle_to_centre + config.ego_length / 2  # (C, K)
        wanted = config.standstill_gap + v * config.time_gap
        deficit = np.zeros(s.shape)
        for obstacle in obstacles:
            if obstacle.user.kind == "route_end":
                continue
            half = obstacle.user.width / 2 if obstacle.user.is_pedestrian else obstacle.user.length / 2
            gap = obstacle.s[None, :] - half - front
            d_there = own.at(s + np.maximum(gap, 0.0) + config.rear_axle_to_centre + config.ego_length / 2)
            ahead = self._in_corridor(d_there, obstacle) & (gap > -half - config.ego_length)
            deficit = np.maximum(deficit, np.where(ahead, np.clip((wanted - gap) / wanted, 0.0, 1.0), 0.0))
        return deficit.sum(axis=1) * config.dt

    def _route_end(self) -> _Obstacle:
        """The end of the route as an obstacle: ego stops before it instead of driving off its end."""
        k = len(self.times)
        s = np.full(k, self.frame.length)
        xy, yaw = self.frame.to_cartesian(s, np.zeros(k))
        end = RoadUser("route_end", "route_end", xy[0], float(yaw[0]), 0.1, 0.1, 0.0)
        return _Obstacle(end, s, np.zeros(k), xy, yaw, np.zeros(k), 0.0, corridor=True)

    def _stitched_accel(self, ego: EgoState, stamp_s: float | None) -> float:
        if stamp_s is None:
            return ego.a
        if self._last_plan is None or not 0.0 <= stamp_s - self._last_plan[0] <= 0.5:
            return 0.0  # no recent plan to continue: start without commanding an acceleration
        last_stamp, last = self._last_plan
        return float(np.interp(stamp_s - last_stamp, last.t, last.a))

    def _lateral_options(
        self,
        ego: EgoState,
        ego_s: float,
        ego_d: float,
        targets: list[float],
        blocker: _Obstacle | None,
        stamp_s: float | None,
    ) -> tuple[list[float], list[float], list[float], float]:
        """The lateral manoeuvres to try: (target, span in metres, cost penalty of a sharp variant) for each,
        and the curvature d2d/ds2 to start from. A full lane change spans what ``lane_change_s`` covers at
        the present speed, at least ``min_lane_change_m``. A pass may also pull out sharply, over
        ``tight_lane_change_m`` (from a stop close behind it, the gentle one runs into it): to the next
        lane's centre or, costing a little more, only as far as clears the blocker (all the way over, the
        nose swings over a kerb beyond that lane before ego straightens; only just clear, ego passes
        close). A manoeuvre the previous plan began towards the same target keeps its end and its
        curvature (stitching): restarted from rest every cycle, a lane change would creep, and ego would
        come up beside what it passes barely moved over."""
        config = self.config
        stitched = self._stitched_lateral(ego_s, stamp_s)
        options: list[tuple[float, float, float]] = []
        for target in targets:
            share = min(abs(target - ego_d) / config.lane_width, 1.0)
            if stitched is not None and abs(target - stitched[0]) < 1e-6:
                options.append((target, stitched[1], 0.0))
                continue
            gentle = max(ego.v * max(1.5, config.lane_change_s * share), config.min_lane_change_m * max(share, 0.25))
            options.append((target, gentle, 0.0))
            sharp = config.tight_lane_change_m * share
            if blocker is not None and share > 0.5 and sharp < gentle:
                options.append((target, sharp, SHARP_PENALTY))
        if blocker is not None:
            options += self._just_clear_options(ego_d, targets, blocker, stitched)
        curvature = stitched[2] if stitched is not None else 0.0
        return [o[0] for o in options], [o[1] for o in options], [o[2] for o in options], curvature

    def _just_clear_options(
        self, ego_d: float, targets: list[float], blocker: _Obstacle, stitched: tuple[float, float, float] | None
    ) -> list[tuple[float, float, float]]:
        """Sharp moves only as far as clears ``blocker`` (the circles the sweep checks cover a car's sides with
        some to spare), towards each side a target passes it on: from a stop close behind it, and, offered
        at every cycle of a pass, the way out when the move under way to the lane's centre is closed
        half-way (ego stood beside the blocker with its nose at the kerb)."""
        config = self.config
        _, ego_radius = circle_cover(config.ego_length, config.ego_width, EGO_CIRCLES)
        reach = self._circles(blocker.user)[1] + ego_radius + blocker.margin + config.pass_clearance
        options = []
        # Every side a target moves towards (the one ego is on, mid-pass, may be no further out than ego is).
        for side in {float(np.sign(target - blocker.d[0])) for target in targets if abs(target - blocker.d[0]) > 0.5}:
            clear = float(blocker.d[0] + side * reach)
            if stitched is not None and abs(clear - stitched[0]) < 0.1:  # the blocker's box jitters by cm
                # Under way, its penalty is paid: charged again, it lost to the gentle move it had beaten,
                # which from this close only creeps up behind the blocker. (Once it is the pass's committed
                # target, the targets already continue it.)
                if stitched[0] not in targets:
                    options.append((stitched[0], stitched[1], 0.0))
            elif (clear - ego_d) * side > 0.05:  # not there yet
                share = min(abs(clear - ego_d) / config.lane_width, 1.0)
                options.append((clear, max(config.tight_lane_change_m * share, 3.0), SHARP_PENALTY + 0.2))
        return options

        curvature = stitched[2] if stitched is not None else 0.0
        return [o[0] for o in options], [o[1] for o in options], [o[2] for o in options], curvature

    def _stitched_lateral(self, ego_s: float, stamp_s: float | None) -> tuple[float, float, float] | None:
        """(target, remaining span, curvature now) of the previous plan's lateral manoeuvre, if it goes on."""
        if stamp_s is None or self._last_lateral is None or self._last_plan is None:
            return None
        if not 0.0 <= stamp_s - self._last_plan[0] <= 0.5:
            return None
        target, manoeuvre, start_s = self._last_lateral
        travelled = ego_s - start_s
        remaining = float(manoeuvre.spans[0]) - travelled
        if travelled < -0.5 or remaining <= 0.5:
            return None
        return target, max(remaining, 3.0), float(manoeuvre.at(np.array([travelled]), derivative=2)[0])

    def _track_stationary(self, users: list[RoadUser], stamp_s: float | None) -> None:
        if stamp_s is None:
            return
        stationary = {user.object_id for user in users if abs(user.speed) < self.config.blocked_speed}
        self._stationary_since = {object_id: self._stationary_since.get(object_id, stamp_s) for object_id in stationary}

    def _blocker(self, ego_s: float, obstacles: list[_Obstacle], stamp_s: float | None) -> _Obstacle | None:
        """The nearest stationary vehicle in our lane ahead (or still beside us) that is worth passing: on
        hazards, or standing for ``pass_after_s`` (a car stopped in a queue is not overtaken at once)."""
        config = self.config
        found = None
        for obstacle in obstacles:
            user = obstacle.user
            if obstacle.corridor or user.is_pedestrian or abs(user.speed) >= config.blocked_speed:
                continue
            if user.action != "hazard" and stamp_s is not None:
                since = self._stationary_since.get(user.object_id, stamp_s)
                if stamp_s - since < config.pass_after_s:
                    continue
            ahead = obstacle.s[0] - ego_s
            in_lane = -15.0 < ahead < config.pass_lookahead and abs(obstacle.d[0]) < config.lane_width / 2
            if in_lane and (found is None or obstacle.s[0] < found.s[0]):
                found = obstacle
        return found

    # --- 5. explain --------------------------------------------------------------------------------------

    def _explain(
        self,
        plan: Plan,
        ego_s: float,
        culprit: int | None,
        obstacles: list[_Obstacle],
        blocker: _Obstacle | None,
        grid_blocked: bool,
    ) -> None:
        """Name the behaviour from what constrained the chosen candidate; ``culprit`` is the obstacle it
        collides with first when nothing was free (-2: the grid); ``grid_blocked``: the grid ruled out
        some candidates."""
        config = self.config
        constraint = self._constraint(ego_s, plan, obstacles)
        plan.constraint_id = constraint.user.object_id if constraint is not None else ""
        if culprit is not None:
            if culprit == -2:
                what = "a static obstacle"
            else:
                what = f"{obstacles[culprit].user.kind} {obstacles[culprit].user.object_id[:8]}"
            plan.behaviour, plan.reason = Behaviour.EMERGENCY_STOP, f"no collision-free trajectory: {what}"
            return
        if plan.a.min() < -config.comfort_decel - 0.1:
            who = f"{constraint.user.kind} {constraint.user.object_id[:8]}" if constraint else "an obstacle"
            plan.behaviour = Behaviour.EMERGENCY_STOP
            plan.reason = f"braking at {-plan.a.min():.1f} m/s2 for {who}"
            return
        if abs(plan.lateral_target) > 0.5 and blocker is not None:
            self._pass = (blocker.user.object_id, plan.lateral_target)
            side = "left" if plan.lateral_target > 0 else "right"
            plan.behaviour = Behaviour.PASS_BLOCKED_LANE
            plan.reason = f"passing stationary {blocker.user.kind} {blocker.user.object_id[:8]} on the {side}"
            plan.constraint_id = blocker.user.object_id
            return
        if constraint is None and grid_blocked and plan.v[-1] < plan.v[0] - 0.5:
            plan.behaviour, plan.reason = Behaviour.STOP_FOR_OBSTACLE, "static obstacle ahead on the occupancy grid"
            return
        if constraint is None:
            plan.behaviour, plan.reason = Behaviour.CRUISE, f"road clear, cruising at {config.cruise_speed:.1f} m/s"
            return
        user = constraint.user
        gap = float(constraint.s[0] - ego_s - config.rear_axle_to_centre - config.ego_length / 2)
        if user.is_pedestrian:
            plan.behaviour = Behaviour.YIELD_PEDESTRIAN
            plan.reason = f"pedestrian {user.object_id[:8]} {user.action} {gap:.0f} m ahead"
        elif abs(constraint.speed_s[0]) < config.blocked_speed:
            plan.behaviour = Behaviour.STOP_FOR_OBSTACLE
            what = "end of route" if user.kind == "route_end" else f"stationary {user.kind} {user.object_id[:8]}"
            suffix = "" if user.kind == "route_end" or blocker is None else ", no adjacent lane free to pass"
            plan.reason = f"{what} {gap:.0f} m ahead{suffix}"
        else:
            plan.behaviour = Behaviour.FOLLOW
            note = ""
            if user.action == "braking":
                note = " (braking: longer gap)"
            elif constraint.corridor:
                note = f" (cut-in: {user.action} into our lane)"
            plan.reason = (
                f"following {user.kind} {user.object_id[:8]} {gap:.0f} m ahead at {constraint.speed_s[0]:.1f} m/s{note}"
            )

    def _constraint(self, ego_s: float, plan: Plan, obstacles: list[_Obstacle]) -> _Obstacle | None:
        """The obstacle nearest ahead that is, or will be within the horizon, in the chosen corridor."""
        config = self.config
        reach = plan.v[0] * config.horizon_s + 20.0
        _, d_path = self.frame.to_frenet(plan.xy)
        best, best_gap = None, np.inf
        for obstacle in obstacles:
            inside = self._in_corridor(d_path[None], obstacle)[0]
            if not inside.any():
                continue
            k = int(np.argmax(inside))
            gap = obstacle.s[k] - ego_s
            if -2.0 < gap < min(reach, best_gap):
                best, best_gap = obstacle, gap
        return best

    # --- the watchdog's stop -----------------------------------------------------------------------------

    def stop_plan(self, ego: EgoState, reason: str, decel: float | None = None) -> Plan:
        """A controlled stop in the lane ego is in: comfort deceleration (jerk-limited), holding the offset."""
        config, times = self.config, self.times
        decel = decel or config.comfort_decel
        (ego_s,), (ego_d,) = self.frame.to_frenet(ego.xy[None])
        s, v, a = integrate_speed(
            ego.v,
            ego.a,
            np.full((1, len(times)), -decel),
            config.dt,
            config.comfort_jerk * 2,
            (-config.max_decel, config.comfort_accel),
        )
        xy, heading = self.frame.to_cartesian(ego_s + s[0], np.full(len(times), ego_d))
        return Plan(t=times.copy(), xy=xy, yaw=heading, v=v[0], a=a[0], behaviour=Behaviour.SAFE_STOP, reason=reason)
