"""Roads as centre polylines with lanes; paths (lane centres, lane changes, turns) actors drive along.

Right-hand traffic. Along a road's direction, forward lanes lie right of the centre line
(lane 0 next to it), backward lanes left of it (lane -1 next to it, driven the other way).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.polyline import Polyline

LANE_WIDTH = 3.5

Path = Polyline  # the name the simulator's modules use for lanes and routes


def straight(start: tuple[float, float], heading: float, length: float, step: float = 1.0) -> NDArray[np.float64]:
    s = np.linspace(0.0, length, max(int(np.ceil(length / step)) + 1, 2))
    return np.asarray(start) + s[:, None] * np.array([np.cos(heading), np.sin(heading)])


def arc(start: tuple[float, float], heading: float, radius: float, angle: float, step: float = 1.0) -> NDArray:
    """Points along a circular arc; positive ``angle`` turns left."""
    n = max(int(np.ceil(abs(angle) * radius / step)) + 1, 2)
    turn = np.sign(angle)
    centre = np.asarray(start) + radius * np.array([-np.sin(heading), np.cos(heading)]) * turn
    phis = heading - turn * np.pi / 2 + np.linspace(0.0, angle, n)
    return centre + radius * np.stack([np.cos(phis), np.sin(phis)], axis=1)


@dataclass
class Road:
    """A road: centre line, lanes each way, sidewalks. ``clear`` lists s-intervals kept free of
    roadside objects and curbs (where another road crosses)."""

    name: str
    centre: Path
    lanes_forward: int = 1
    lanes_backward: int = 1
    lane_width: float = LANE_WIDTH
    sidewalk_width: float = 3.0
    clear: list[tuple[float, float]] = field(default_factory=list)

    @property
    def right_edge(self) -> float:
        return -self.lanes_forward * self.lane_width

    @property
    def left_edge(self) -> float:
        return self.lanes_backward * self.lane_width

    def lane_offset(self, lane: int) -> float:
        """Lateral offset of a lane centre: lane k >= 0 forward, lane -k backward (k >= 1)."""
        if lane >= 0:
            if lane >= self.lanes_forward:
                raise ValueError(f"road {self.name} has {self.lanes_forward} forward lanes, no lane {lane}")
            return -(lane + 0.5) * self.lane_width
        if -lane > self.lanes_backward:
            raise ValueError(f"road {self.name} has {self.lanes_backward} backward lanes, no lane {lane}")
        return (-lane - 0.5) * self.lane_width

    def lane_path(self, lane: int) -> Path:
        """The centre of a lane, in its driving direction."""
        path = self.centre.offset(self.lane_offset(lane))
        return path if lane >= 0 else Path(path.points[::-1])

    def lane_s(self, lane: int, s_on_centre: float) -> float:
        """Arc length on ``lane_path(lane)`` of the point abreast of ``s_on_centre`` on the centre line."""
        if lane >= 0:
            return s_on_centre
        return self.centre.length - s_on_centre

    def is_clear(self, s: NDArray[np.floating]) -> NDArray[np.bool_]:
        s = np.asarray(s)
        mask = np.zeros(s.shape, dtype=bool)
        for start, end in self.clear:
            mask |= (s >= start) & (s <= end)
        return mask


@dataclass
class RoadNetwork:
    roads: list[Road]
    intersection: tuple[float, float] | None = None  # centre of the crossing, if any

    def road(self, name: str) -> Road:
        for road in self.roads:
            if road.name == name:
                return road
        raise KeyError(f"no road named {name!r}; roads: {', '.join(r.name for r in self.roads)}")


def build_network(layout: str, lanes: int, length: float, curve_radius: float = 60.0) -> RoadNetwork:
    """The road layouts scenarios choose from: ``straight``, ``curve`` or ``intersection``.

    The main road starts at x = -40 (behind the ego start) and runs along +x.
    """
    start = (-40.0, 0.0)
    if layout == "straight":
        return RoadNetwork([Road("main", Path(straight(start, 0.0, length)), lanes, lanes)])
    if layout == "curve":
        lead_in = 60.0
        angle = min((length - 2 * lead_in) / curve_radius, np.pi * 0.75)
        first = straight(start, 0.0, lead_in)
        bend = arc(tuple(first[-1]), 0.0, curve_radius, angle)
        tail = straight(tuple(bend[-1]), angle, max(length - lead_in - angle * curve_radius, 10.0))
        return RoadNetwork([Road("main", Path(np.concatenate([first, bend[1:], tail[1:]])), lanes, lanes)])
    if layout == "intersection":
        crossing_x = 60.0
        main = Road("main", Path(straight(start, 0.0, length)), lanes, lanes)
        half = 80.0
        cross = Road("cross", Path(straight((crossing_x, -half), np.pi / 2, 2 * half)), lanes, lanes)
        margin = lanes * LANE_WIDTH + 0.5
        main.clear.append((crossing_x - start[0] - margin, crossing_x - start[0] + margin))
        cross.clear.append((half - margin, half + margin))
        return RoadNetwork([main, cross], intersection=(crossing_x, 0.0))
    raise ValueError(f"unknown road layout {layout!r}; choose straight, curve or intersection")


def turn_path(network: RoadNetwork, direction: str, approach_start: float) -> Path:
    """A path in the main road's forward lane 0 that turns left or right onto the cross road.

    The cross road runs along +y: a right turn ends in its backward lane -1 (heading -y, at x below
    the crossing), a left turn in its forward lane 0 (heading +y, at x above it).
    """
    if network.intersection is None:
        raise ValueError("turning needs the intersection layout")
    main, cross = network.road("main"), network.road("cross")
    crossing_x, _ = network.intersection
    lane_y = main.lane_offset(0)
    x0 = float(main.centre.points[0, 0])
    if direction == "right":
        radius = 4.5
        target_x = crossing_x - cross.lane_offset(-1)  # lateral offsets are to the left of +y, i.e. towards -x
        turn_start = target_x - radius
        angle = -np.pi / 2
        exit_heading = -np.pi / 2
    elif direction == "left":
        radius = 8.0
        target_x = crossing_x - cross.lane_offset(0)
        turn_start = target_x - radius
        angle = np.pi / 2
        exit_heading = np.pi / 2
    else:
        raise ValueError(f"turn direction must be left or right, not {direction!r}")
    approach = straight((x0 + approach_start, lane_y), 0.0, max(turn_start - x0 - approach_start, 1.0))
    bend = arc((turn_start, lane_y), 0.0, radius, angle)
    exit_leg = straight(tuple(bend[-1]), exit_heading, 60.0)
    return Path(np.concatenate([approach, bend[1:], exit_leg[1:]]))
