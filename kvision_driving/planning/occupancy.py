"""An ego-centred occupancy grid from painted lidar points: road free, the rest of the world occupied.

Cells: -1 unknown (no point fell there), 0 free (road), 100 occupied: a point of a static class
standing above the ground (buildings, poles, vegetation, fences...), an unlabelled point standing
above the ground (an unclassified obstacle), or ground that is not drivable (sidewalk, terrain).
Points of road users (people, vehicles) inside a tracked object's box are left out: they move, and
the planner checks them through their predicted paths instead; road-user points that no track
explains (a car the tracker lost, a pedestrian not confirmed yet) are obstacles like any other.
Standing points within a tracked box (the parts of it the camera does not see, or mislabelled as a
static class) are left out too.
The grid is axis-aligned with the map and centred on ego, so RViz draws it without a rotation and
the planner looks cells up directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.labels import IGNORE, TRAIN_ID

FREE, OCCUPIED, UNKNOWN = 0, 100, -1
DRIVABLE = np.array([TRAIN_ID["road"]])
NOT_DRIVABLE_GROUND = np.array([TRAIN_ID["sidewalk"], TRAIN_ID["terrain"]])
STATIC_OBSTACLES = np.array(
    [TRAIN_ID[name] for name in ("building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation")]
)
ROAD_USERS = np.array(
    [TRAIN_ID[name] for name in ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")]
)

_NONE, _DRIVABLE, _GROUND, _STATIC, _ROAD_USER, _UNLABELLED = range(6)
_KIND = np.full(256, _NONE, dtype=np.uint8)  # what each train id means for the grid
_KIND[DRIVABLE], _KIND[NOT_DRIVABLE_GROUND], _KIND[STATIC_OBSTACLES] = _DRIVABLE, _GROUND, _STATIC
_KIND[ROAD_USERS], _KIND[IGNORE] = _ROAD_USER, _UNLABELLED


@dataclass(frozen=True)
class GridSpec:
    size_m: float = 80.0
    resolution: float = 0.25
    obstacle_min_height: float = 0.3  # above the ground: lower points are ground (kerbs, markings)
    obstacle_max_height: float = 2.5  # above it: overhanging branches and signs that ego passes under
    min_points: int = 2


@dataclass(frozen=True)
class OccupancyGrid:
    cells: NDArray[np.int8]  # (rows = y, cols = x)
    origin: NDArray[np.float64]  # map xy of cell (0, 0)'s corner
    resolution: float
    clearance: NDArray[np.float32]  # metres from each cell to the nearest occupied cell

    def lookup_clearance(self, xy: NDArray[np.floating]) -> NDArray[np.float32]:
        """Distance to the nearest occupied cell at map points (..., 2); outside the grid: infinity."""
        index = np.floor((np.asarray(xy) - self.origin) / self.resolution).astype(np.int64)
        rows, cols = self.cells.shape
        inside = (index[..., 0] >= 0) & (index[..., 0] < cols) & (index[..., 1] >= 0) & (index[..., 1] < rows)
        out = np.full(index.shape[:-1], np.inf, dtype=np.float32)
        out[inside] = self.clearance[index[..., 1][inside], index[..., 0][inside]]
        return out

    def occupied_share(self) -> float:
        return float(np.mean(self.cells == OCCUPIED))


def inside_boxes(
    xy: NDArray[np.floating], boxes: list[tuple[float, float, float, float, float]], margin: float = 0.5
) -> NDArray[np.bool_]:
    """Which points (N, 2) lie in any box (x, y, yaw, length, width), grown by ``margin``."""
    inside = np.zeros(len(xy), dtype=bool)
    for x, y, yaw, length, width in boxes:
        c, s = np.cos(yaw), np.sin(yaw)
        dx, dy = xy[:, 0] - x, xy[:, 1] - y
        along, across = c * dx + s * dy, -s * dx + c * dy
        inside |= (np.abs(along) <= length / 2 + margin) & (np.abs(across) <= width / 2 + margin)
    return inside


def build_grid(
    points_map: NDArray[np.floating],
    labels: NDArray[np.integer],
    ground_z: float,
    centre: NDArray[np.floating],
    spec: GridSpec = GridSpec(),
    tracked_boxes: list[tuple[float, float, float, float, float]] | None = None,
) -> OccupancyGrid:
    """Rasterise painted points (map frame, (N, 3), labels as Cityscapes train ids or 255 unlabelled) around
    ``centre``; ``ground_z`` is the ground's height in map (ego's base_link z); ``tracked_boxes`` (x, y, yaw,
    length, width in map) explain the road-user points inside them."""
    cells_per_side = round(spec.size_m / spec.resolution)
    origin = np.asarray(centre, dtype=np.float64)[:2] - spec.size_m / 2
    points = np.asarray(points_map)
    # Column by column: numpy reduces a (N, 2) array's short last axis element by element, several times slower.
    col = np.floor((points[:, 0] - origin[0]) / spec.resolution)  # NaN stays NaN and fails every test below
    row = np.floor((points[:, 1] - origin[1]) / spec.resolution)
    kept = np.flatnonzero((col >= 0) & (col < cells_per_side) & (row >= 0) & (row < cells_per_side))
    flat = (row[kept] * cells_per_side + col[kept]).astype(np.int64)
    xy = points[kept, :2]
    kind = _KIND[np.asarray(labels)[kept]]  # one table lookup instead of a set test per class group
    height = points[kept, 2] - ground_z
    standing = (height >= spec.obstacle_min_height) & (height <= spec.obstacle_max_height)
    free = (kind == _DRIVABLE) & ~standing
    occupied = ((kind == _STATIC) | (kind == _UNLABELLED)) & standing
    occupied |= (kind == _GROUND) & ~standing
    users = np.flatnonzero((kind == _ROAD_USER) & standing)
    occupied[users[~inside_boxes(xy[users], tracked_boxes or [], margin=1.0)]] = True  # unexplained
    # Standing points on a tracked box are that object: unlabelled where the camera does not see it (below
    # its view close up, beside it when passing), or painted with a static class where segmentation
    # erred (pole and vegetation on a stopped car's side: cells inside the car that blocked the pull-out
    # to pass it, closed loop ``lead_vehicle_braking``). No static obstacle stands inside a vehicle. Only
    # just inside the box: an unknown thing or a pole beside a car stays.
    on_users = np.flatnonzero(occupied & standing)
    occupied[on_users[inside_boxes(xy[on_users], tracked_boxes or [], margin=0.2)]] = False
    # A lone point is noise (a mislabelled pixel, a ray through a gap): a cell needs MIN_POINTS to be occupied.
    hits = np.bincount(flat[occupied], minlength=cells_per_side * cells_per_side)
    cells = np.full(cells_per_side * cells_per_side, UNKNOWN, dtype=np.int8)
    cells[flat[free]] = FREE
    cells[hits >= spec.min_points] = OCCUPIED  # occupied wins over free in a shared cell
    cells = cells.reshape(cells_per_side, cells_per_side)
    blocked = cells == OCCUPIED
    # OpenCV's exact Euclidean transform (DIST_MASK_PRECISE): the same distances as scipy's, several times faster.
    clearance = (
        cv2.distanceTransform((~blocked).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) * spec.resolution
        if blocked.any()
        else np.full(cells.shape, np.inf, dtype=np.float32)
    )
    return OccupancyGrid(cells, origin, spec.resolution, clearance.astype(np.float32))
