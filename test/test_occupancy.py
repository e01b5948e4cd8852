"""The occupancy grid by hand: which points make a cell free or occupied, where a point lands, clearance.

A 10 m grid of 0.5 m cells centred on (3, -2): origin (-2, -7), 20 x 20 cells, so every expected cell
and distance below is worked out on paper.
"""

from __future__ import annotations

import numpy as np
import pytest

from kvision_driving.core.labels import IGNORE, TRAIN_ID
from kvision_driving.planning.occupancy import FREE, OCCUPIED, UNKNOWN, GridSpec, build_grid, inside_boxes

SPEC = GridSpec(size_m=10.0, resolution=0.5, obstacle_min_height=0.3, obstacle_max_height=2.5, min_points=2)
CENTRE = np.array([3.0, -2.0])
GROUND_Z = 1.0  # map z of the ground: heights below are measured from it


def grid_of(points: list[tuple[float, float, float]], labels: list[int], boxes=None, spec: GridSpec = SPEC):
    return build_grid(
        np.array(points, dtype=np.float64).reshape(-1, 3),
        np.array(labels, dtype=np.uint8),
        ground_z=GROUND_Z,
        centre=CENTRE,
        spec=spec,
        tracked_boxes=boxes,
    )


def cell(grid, x: float, y: float) -> int:
    col, row = int((x - grid.origin[0]) // grid.resolution), int((y - grid.origin[1]) // grid.resolution)
    return int(grid.cells[row, col])


def twice(x: float, y: float, height: float) -> list[tuple[float, float, float]]:
    """Two points in one cell (min_points), ``height`` above the ground."""
    return [(x, y, GROUND_Z + height), (x + 0.05, y + 0.05, GROUND_Z + height)]


def test_the_grid_is_centred_on_ego_with_the_spec_size() -> None:
    grid = grid_of([], [])
    assert grid.cells.shape == (20, 20) and grid.cells.dtype == np.int8
    assert np.array_equal(grid.origin, [-2.0, -7.0]) and grid.resolution == 0.5
    assert np.all(grid.cells == UNKNOWN)
    assert np.all(np.isinf(grid.clearance)) and grid.occupied_share() == 0.0


def test_a_point_lands_in_the_cell_that_holds_it_rows_are_y() -> None:
    # (0.74, -6.36): column floor(2.74 / 0.5) = 5, row floor(0.64 / 0.5) = 1.
    grid = grid_of(twice(0.74, -6.36, 1.0), [TRAIN_ID["pole"]] * 2)
    assert np.argwhere(grid.cells == OCCUPIED).tolist() == [[1, 5]]


@pytest.mark.parametrize(
    ("name", "height", "expected"),
    [
        ("road", 0.0, FREE),
        ("road", 0.29, FREE),
        ("road", 0.3, UNKNOWN),  # something standing on the road is neither free nor, by its label, an obstacle
        ("sidewalk", 0.1, OCCUPIED),  # ground that is not drivable
        ("terrain", -0.2, OCCUPIED),
        ("sidewalk", 1.0, UNKNOWN),
        ("building", 0.3, OCCUPIED),  # the limits are inclusive
        ("pole", 2.5, OCCUPIED),
        ("vegetation", 2.51, UNKNOWN),  # a branch ego passes under
        ("fence", 0.29, UNKNOWN),  # a kerb or a marking
        ("traffic sign", 1.5, OCCUPIED),
        ("person", 1.0, OCCUPIED),  # a road user no track explains
        ("car", 0.2, UNKNOWN),
        ("sky", 1.0, UNKNOWN),  # classes the grid has no use for
    ],
)
def test_what_each_class_makes_of_its_cell(name: str, height: float, expected: int) -> None:
    grid = grid_of(twice(4.1, -1.9, height), [TRAIN_ID[name]] * 2)
    assert cell(grid, 4.1, -1.9) == expected
    assert np.sum(grid.cells != UNKNOWN) == (expected != UNKNOWN)


def test_unlabelled_points_standing_above_the_ground_are_obstacles() -> None:
    grid = grid_of([*twice(1.1, 0.1, 1.0), *twice(5.1, 0.1, 0.1)], [IGNORE] * 4)
    assert cell(grid, 1.1, 0.1) == OCCUPIED and cell(grid, 5.1, 0.1) == UNKNOWN


def test_one_point_is_noise_two_make_an_obstacle_and_an_obstacle_wins_over_road() -> None:
    lone = [(1.1, 1.1, GROUND_Z + 1.0)]
    pair = twice(5.1, 1.1, 1.0)
    road = [(5.3, 1.3, GROUND_Z)]
    grid = grid_of([*lone, *pair, *road], [TRAIN_ID["pole"]] * 3 + [TRAIN_ID["road"]])
    assert cell(grid, 1.1, 1.1) == UNKNOWN and cell(grid, 5.1, 1.1) == OCCUPIED
    three = grid_of(lone * 3, [TRAIN_ID["pole"]] * 3, spec=GridSpec(10.0, 0.5, min_points=3))
    assert cell(three, 1.1, 1.1) == OCCUPIED


def test_points_outside_the_grid_or_not_a_number_are_left_out() -> None:
    # Edges: x = -2 is column 0; x = 8 would be column 20, one past the last.
    edge = [(-2.0, -7.0, GROUND_Z), (7.99, 2.99, GROUND_Z), (8.0, 0.0, GROUND_Z), (0.0, 3.0, GROUND_Z)]
    outside = [(-2.01, 0.0, GROUND_Z + 1), (-2.01, 0.1, GROUND_Z + 1), (np.nan, 0.0, GROUND_Z + 1)] * 2
    grid = grid_of([*edge, *outside], [TRAIN_ID["road"]] * 4 + [TRAIN_ID["pole"]] * 6)
    assert np.argwhere(grid.cells != UNKNOWN).tolist() == [[0, 0], [19, 19]]
    assert np.all(grid.cells[[0, 19], [0, 19]] == FREE)


def test_road_users_inside_a_tracked_box_are_left_to_prediction() -> None:
    # A car box at (4, -2), yaw 90 degrees: 4 m long along y, 2 m wide along x; road-user points within
    # 1 m of it are the object, static-class points only within 0.2 m.
    box = [(4.0, -2.0, np.pi / 2, 4.0, 2.0)]
    inside_user = twice(4.6, -4.8, 1.0)  # along y 2.8 <= 2 + 1; across x 0.6 <= 1 + 1
    outside_user = twice(4.6, -5.3, 1.0)  # along 3.3: beyond the 1 m margin
    inside_static = twice(5.0, -0.1, 1.0)  # across 1.0-1.05, along 1.9-1.95: within 0.2 m of the box
    outside_static = twice(4.1, -4.6, 1.0)  # along 2.55-2.6: past 0.2 m
    points = [*inside_user, *outside_user, *inside_static, *outside_static]
    labels = [TRAIN_ID["car"]] * 4 + [TRAIN_ID["pole"]] * 2 + [IGNORE] * 2
    grid = grid_of(points, labels, boxes=box)
    assert cell(grid, 4.6, -4.8) == UNKNOWN and cell(grid, 4.6, -5.3) == OCCUPIED
    assert cell(grid, 5.0, -0.1) == UNKNOWN and cell(grid, 4.1, -4.6) == OCCUPIED
    untracked = grid_of(points, labels)
    assert {cell(untracked, *xy) for xy in ((4.6, -4.8), (4.6, -5.3), (5.0, -0.1), (4.1, -4.6))} == {OCCUPIED}


def test_clearance_is_the_distance_to_the_nearest_occupied_cell_in_metres() -> None:
    grid = grid_of(twice(3.1, -1.9, 1.0), [TRAIN_ID["wall"]] * 2)  # cell (row 10, col 10)
    assert grid.clearance[10, 10] == 0.0
    assert grid.clearance[10, 13] == pytest.approx(1.5)  # three cells along x
    assert grid.clearance[14, 13] == pytest.approx(2.5)  # (3, 4) cells
    assert grid.clearance.dtype == np.float32 and grid.occupied_share() == pytest.approx(1 / 400)


def test_lookup_clearance_reads_the_cell_under_each_point_and_infinity_off_the_grid() -> None:
    grid = grid_of(twice(3.1, -1.9, 1.0), [TRAIN_ID["wall"]] * 2)
    queries = np.array([[[3.0, -2.0], [4.99, -1.9]], [[-2.0, -7.0], [8.0, -2.0]], [[3.0, 3.0], [-2.01, -2.0]]])
    distances = grid.lookup_clearance(queries)
    assert distances.shape == (3, 2)
    assert distances[0].tolist() == pytest.approx([0.0, 1.5])  # x 4.99 is column 13
    assert distances[1, 0] == pytest.approx(np.hypot(10, 10) * 0.5)  # the corner cell
    assert np.isinf(distances[1, 1]) and np.isinf(distances[2]).all()  # x = 8 and y = 3 are one past the last


def test_inside_boxes_by_hand() -> None:
    box = (10.0, 5.0, np.deg2rad(30.0), 4.0, 2.0)
    c, s = np.cos(np.deg2rad(30.0)), np.sin(np.deg2rad(30.0))

    def at(along: float, across: float) -> list[float]:
        return [10.0 + c * along - s * across, 5.0 + s * along + c * across]

    xy = np.array([at(2.4, 0.0), at(2.6, 0.0), at(0.0, -1.4), at(0.0, -1.6), at(-2.4, 1.4), at(1.0, 1.6)])
    assert inside_boxes(xy, [box], margin=0.5).tolist() == [True, False, True, False, True, False]
    assert inside_boxes(xy, [box], margin=0.0).tolist() == [False] * 6
    edges = np.array([at(1.999, 0.0), at(0.0, 0.999), at(-1.999, -0.999), at(2.001, 0.0), at(0.0, -1.001)])
    assert inside_boxes(edges, [box], margin=0.0).tolist() == [True, True, True, False, False]
    other = (0.0, 0.0, 0.0, 1.0, 1.0)
    assert inside_boxes(np.array([[0.2, 0.2], *xy[:2]]), [other, box], margin=0.5).tolist() == [True, True, False]
    assert inside_boxes(xy, [], margin=0.5).tolist() == [False] * 6


def test_a_box_edge_grown_by_the_default_half_metre_is_inside() -> None:
    box = (0.0, 0.0, 0.0, 4.0, 2.0)  # not turned: along is x, across is y, exactly
    xy = np.array([[2.5, 0.0], [-2.5, 0.0], [0.0, 1.5], [0.0, -1.5], [2.5 + 1e-9, 0.0], [0.0, 1.5 + 1e-9]])
    assert inside_boxes(xy, [box]).tolist() == [True, True, True, True, False, False]


def test_exactly_the_minimum_height_stands() -> None:
    spec = GridSpec(size_m=10.0, resolution=0.5, obstacle_min_height=0.25, obstacle_max_height=2.5, min_points=2)
    points = np.array([[3.1, -1.9, 0.25], [3.15, -1.85, 0.25], [1.1, -1.9, 0.2499], [1.15, -1.85, 0.2499]])
    grid = build_grid(points, np.full(4, TRAIN_ID["wall"], np.uint8), 0.0, CENTRE, spec)
    assert cell(grid, 3.1, -1.9) == OCCUPIED and cell(grid, 1.1, -1.9) == UNKNOWN


def test_a_tracked_box_clears_only_standing_points_within_a_fifth_of_a_metre() -> None:
    # The car box at (4, -2), turned 90 degrees, 4 m along y and 2 m across x, as above.
    box = [(4.0, -2.0, np.pi / 2, 4.0, 2.0)]
    pole_near = twice(4.0, -4.3, 1.0)  # along 2.3-2.35: 0.3 m past the box, beyond the 0.2 m it clears
    kerb_under = twice(4.1, -1.9, 0.0)  # sidewalk at ground level under the box: not standing, stays
    grid = grid_of([*pole_near, *kerb_under], [TRAIN_ID["pole"]] * 2 + [TRAIN_ID["sidewalk"]] * 2, boxes=box)
    assert cell(grid, 4.0, -4.3) == OCCUPIED and cell(grid, 4.1, -1.9) == OCCUPIED


def test_clearance_lookups_are_float32() -> None:
    grid = grid_of(twice(3.1, -1.9, 1.0), [TRAIN_ID["wall"]] * 2)
    assert grid.lookup_clearance(np.array([[3.0, -2.0], [30.0, 0.0]])).dtype == np.float32
    assert grid_of([], []).lookup_clearance(np.array([[3.0, -2.0]])).dtype == np.float32
