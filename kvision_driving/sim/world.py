"""The static world of a scenario: roads with markings, kerbs and sidewalks, and the scenery beside them."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.geometry import make_transform
from kvision_driving.core.labels import TRAIN_ID
from kvision_driving.sim.materials import FACADES
from kvision_driving.sim.mesh import Mesh, MeshBuilder
from kvision_driving.sim.road import Path, Road, RoadNetwork

KERB_HEIGHT = 0.15
MARKING_WIDTH = 0.15
MARKING_Z = 0.01

ROAD, SIDEWALK, BUILDING, POLE = TRAIN_ID["road"], TRAIN_ID["sidewalk"], TRAIN_ID["building"], TRAIN_ID["pole"]
SIGN, VEGETATION, TERRAIN = TRAIN_ID["traffic sign"], TRAIN_ID["vegetation"], TRAIN_ID["terrain"]


def _rotation_z(yaw: float) -> NDArray[np.float64]:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _lift(points: NDArray, z: float) -> NDArray[np.float64]:
    return np.column_stack([points, np.full(len(points), z)])


def _runs(mask: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[start, end) index ranges where ``mask`` is True."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2], strict=True))


class WorldBuilder:
    def __init__(self, network: RoadNetwork, parking: dict[str, float], rng: np.random.Generator) -> None:
        self.network = network
        self.main_parking = parking  # parking strips exist on the main road only
        self.rng = rng
        self.mesh = MeshBuilder()

    def _parking(self, road: Road) -> dict[str, float]:
        return self.main_parking if road.name == "main" else {"right": 0.0, "left": 0.0}

    # --- roads --------------------------------------------------------------------------------------

    def road(self, road: Road) -> None:
        centre = road.centre.resample(1.0)
        normals = centre.normals()
        s = centre.s
        kept = ~road.is_clear(s)
        parking = self._parking(road)
        right = road.right_edge - parking["right"]
        left = road.left_edge + parking["left"]

        def line(lateral: float, z: float) -> NDArray[np.float64]:
            return _lift(centre.points + lateral * normals, z)

        self.mesh.ribbon(line(left, 0.0), line(right, 0.0), "asphalt", ROAD)
        # Markings: a solid yellow centre line, dashed lane dividers, solid edge lines; none inside a crossing.
        for start, end in _runs(kept):
            segment = slice(start, end)
            self._stripe(centre, normals, 0.0, segment, "marking_yellow")
            self._stripe(centre, normals, road.right_edge + MARKING_WIDTH, segment, "marking_white")
            self._stripe(centre, normals, road.left_edge - MARKING_WIDTH, segment, "marking_white")
        dashed = kept & ((s % 9.0) < 3.0)
        for k in range(1, road.lanes_forward):
            for start, end in _runs(dashed):
                self._stripe(centre, normals, -k * road.lane_width, slice(start, end), "marking_white")
        for k in range(1, road.lanes_backward):
            for start, end in _runs(dashed):
                self._stripe(centre, normals, k * road.lane_width, slice(start, end), "marking_white")
        # Kerbs and sidewalks, interrupted where another road crosses.
        for start, end in _runs(kept):
            segment = slice(start, end + 1 if end < len(s) else end)
            for edge, outward in ((right, -1.0), (left, 1.0)):
                inner = line(edge, KERB_HEIGHT)[segment]
                outer = line(edge + outward * road.sidewalk_width, KERB_HEIGHT)[segment]
                first, second = (outer, inner) if outward > 0 else (inner, outer)
                self.mesh.ribbon(first, second, "sidewalk", SIDEWALK)
                self.mesh.wall(line(edge, 0.0)[segment], KERB_HEIGHT, "curb", SIDEWALK)

    def _stripe(self, centre: Path, normals: NDArray, lateral: float, segment: slice, material: str) -> None:
        points = centre.points[segment]
        n = normals[segment]
        if len(points) < 2:
            return
        half = MARKING_WIDTH / 2
        left = _lift(points + (lateral + half) * n, MARKING_Z)
        self.mesh.ribbon(left, _lift(points + (lateral - half) * n, MARKING_Z), material, ROAD)

    # --- scenery ------------------------------------------------------------------------------------

    def _free(self, xy: NDArray, radius: float, own: Road) -> bool:
        """True when a footprint of ``radius`` at ``xy`` stays off every other road and its sidewalks."""
        for road in self.network.roads:
            if road is own:
                continue
            s, lateral = road.centre.project(xy[None])
            half = max(-road.right_edge, road.left_edge) + road.sidewalk_width + 3.0 + radius
            if 0.0 <= s[0] <= road.centre.length and abs(lateral[0]) < half:
                return False
        return True

    def scenery(self, road: Road) -> None:
        rng = self.rng
        parking = self._parking(road)
        for side, sign in (("right", -1.0), ("left", 1.0)):
            edge = (road.right_edge - parking["right"]) if side == "right" else (road.left_edge + parking["left"])
            sidewalk_outer = edge + sign * road.sidewalk_width
            # Buildings: a row of blocks set back from the sidewalk.
            s = float(rng.uniform(0, 10))
            while s < road.centre.length:
                width = float(rng.uniform(10, 22))
                depth = float(rng.uniform(8, 14))
                height = float(rng.uniform(6, 24))
                setback = float(rng.uniform(3, 8))
                mid = s + width / 2
                xy, theta = road.centre.pose(mid)
                normal = np.array([-np.sin(theta), np.cos(theta)])
                lateral = sidewalk_outer + sign * (setback + depth / 2)
                centre = xy + lateral * normal
                if self._free(centre, max(width, depth) / 2, road):
                    self._building(centre, theta, (width, depth, height), sign)
                s += width + float(rng.uniform(1, 6))
            # Trees on the verge between sidewalk and buildings, street lights and signs on the sidewalk.
            for s_tree in np.arange(float(rng.uniform(0, 15)), road.centre.length, 15.0):
                xy, theta = road.centre.pose(s_tree + float(rng.uniform(-3, 3)))
                normal = np.array([-np.sin(theta), np.cos(theta)])
                position = xy + (sidewalk_outer + sign * 1.5) * normal
                if self._free(position, 2.0, road):
                    self._tree(position, float(rng.uniform(4.0, 7.0)))
            for s_pole in np.arange(float(rng.uniform(5, 25)), road.centre.length, 30.0):
                xy, theta = road.centre.pose(s_pole)
                normal = np.array([-np.sin(theta), np.cos(theta)])
                position = xy + (edge + sign * 0.5) * normal
                if self._free(position, 1.0, road):
                    self._street_light(position, theta, sign)
            for s_sign in np.arange(float(rng.uniform(10, 40)), road.centre.length, 60.0):
                xy, theta = road.centre.pose(s_sign)
                normal = np.array([-np.sin(theta), np.cos(theta)])
                position = xy + (edge + sign * 1.0) * normal
                if self._free(position, 1.0, road):
                    self._traffic_sign(position, theta if side == "right" else theta + np.pi)

    def _building(self, centre: NDArray, theta: float, size: tuple[float, float, float], sign: float) -> None:
        width, depth, height = size
        facade = FACADES[int(self.rng.integers(len(FACADES)))]
        transform = make_transform(_rotation_z(theta), [centre[0], centre[1], height / 2])
        self.mesh.box(transform, (width, depth, height), facade, BUILDING)
        # Windows on the facade facing the road: dark quads just in front of the wall.
        facing = -sign  # the road is on the other side of the building's centre
        normal = np.array([-np.sin(theta), np.cos(theta)]) * facing
        along = np.array([np.cos(theta), np.sin(theta)])
        face = centre + normal * (depth / 2 + 0.02)
        for row_z in np.arange(2.0, height - 1.0, 3.2):
            for column in np.arange(-width / 2 + 1.5, width / 2 - 1.0, 2.8):
                a = face + along * column
                b = a + along * 1.3
                self.mesh.quad(
                    np.array([[*a, row_z], [*b, row_z], [*b, row_z + 1.6], [*a, row_z + 1.6]]), "window", BUILDING
                )

    def _tree(self, position: NDArray, height: float) -> None:
        trunk = make_transform(translation=[position[0], position[1], height * 0.25])
        self.mesh.box(trunk, (0.35, 0.35, height * 0.5), "bark", VEGETATION)
        crown_size = height * 0.55
        for yaw in (0.0, np.pi / 4):  # two rotated boxes read as a rounder crown
            crown = make_transform(_rotation_z(yaw), [position[0], position[1], height * 0.5 + crown_size * 0.45])
            self.mesh.box(crown, (crown_size, crown_size, crown_size * 0.9), "foliage", VEGETATION)

    def _street_light(self, position: NDArray, theta: float, sign: float) -> None:
        self.mesh.box(
            make_transform(translation=[position[0], position[1], 3.5]), (0.18, 0.18, 7.0), "metal_pole", POLE
        )
        arm_direction = -sign * np.array([-np.sin(theta), np.cos(theta)])
        arm_centre = position + arm_direction * 0.9
        arm = make_transform(_rotation_z(theta + np.pi / 2), [arm_centre[0], arm_centre[1], 6.9])
        self.mesh.box(arm, (1.8, 0.12, 0.12), "metal_pole", POLE)

    def _traffic_sign(self, position: NDArray, facing: float) -> None:
        self.mesh.box(
            make_transform(translation=[position[0], position[1], 1.25]), (0.08, 0.08, 2.5), "metal_pole", POLE
        )
        plate = make_transform(_rotation_z(facing + np.pi / 2), [position[0], position[1], 2.55])
        material = "sign_blue" if self.rng.random() < 0.5 else "sign_red"
        self.mesh.box(plate, (0.75, 0.05, 0.75), material, SIGN)

    def ground(self, extent: tuple[float, float, float, float]) -> None:
        x0, y0, x1, y1 = extent
        self.mesh.quad(np.array([[x0, y0, -0.02], [x1, y0, -0.02], [x1, y1, -0.02], [x0, y1, -0.02]]), "grass", TERRAIN)


def build_world(network: RoadNetwork, parking: dict[str, float], rng: np.random.Generator) -> Mesh:
    builder = WorldBuilder(network, parking, rng)
    points = np.concatenate([road.centre.points for road in network.roads])
    margin = 80.0
    builder.ground(
        (
            points[:, 0].min() - margin,
            points[:, 1].min() - margin,
            points[:, 0].max() + margin,
            points[:, 1].max() + margin,
        )
    )
    for road in network.roads:
        builder.road(road)
    for road in network.roads:
        builder.scenery(road)
    return builder.mesh.build()
