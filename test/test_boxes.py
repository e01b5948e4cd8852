"""core/boxes.py by hand: corners, overlap by separating axes, and the gap between two boxes."""

from __future__ import annotations

import numpy as np
import pytest

from kvision_driving.core.boxes import box_corners, box_corners_3d, box_distance, boxes_overlap


def square(x: float, y: float, side: float = 1.0, yaw: float = 0.0) -> np.ndarray:
    return box_corners(x, y, yaw, side, side)


def test_corners_counter_clockwise_from_front_left() -> None:
    assert box_corners(1.0, 2.0, 0.0, 4.0, 2.0) == pytest.approx(np.array([[3, 3], [-1, 3], [-1, 1], [3, 1]]))
    # Turned a quarter left, the front points up +y: front-left is at (1 - 1, 2 + 2).
    assert box_corners(1.0, 2.0, np.pi / 2, 4.0, 2.0) == pytest.approx(np.array([[0, 4], [0, 0], [2, 0], [2, 4]]))


def test_upright_box_corners_bottom_then_top() -> None:
    corners = box_corners_3d(np.array([1.0, 2.0, 3.0]), 0.0, (4.0, 2.0, 1.0))
    footprint = [[3, 3], [-1, 3], [-1, 1], [3, 1]]
    assert corners == pytest.approx(np.array([[*xy, 2.5] for xy in footprint] + [[*xy, 3.5] for xy in footprint]))


@pytest.mark.parametrize(
    ("b", "overlap"),
    [
        (square(1.1, 0.0), False),  # a 0.1 m gap across x: only an edge normal separates them
        (square(-1.1, 0.0), False),
        (square(0.0, 1.1), False),
        (square(1.0, 0.0), True),  # edges touching exactly: no gap, so no separating axis
        (square(-1.0, 0.0), True),
        (square(0.0, -1.0), True),
        (square(0.5, 0.5), True),
        (square(1.0, 1.0), True),  # corners touching
        (square(0.0, 0.0, side=0.2), True),  # one inside the other
    ],
)
def test_axis_aligned_overlap(b: np.ndarray, overlap: bool) -> None:
    a = square(0.0, 0.0)
    assert boxes_overlap(a, b) is overlap
    assert boxes_overlap(b, a) is overlap


def test_turned_boxes_are_separated_only_along_their_own_normals() -> None:
    # Two 4 x 1 m boxes turned 30 degrees, side by side 1.2 m apart across their width: a 0.2 m gap that
    # only the normal of their long sides shows (x and y, the axes of a box not turned, both overlap).
    yaw = np.deg2rad(30.0)
    across = np.array([-np.sin(yaw), np.cos(yaw)])
    a = box_corners(0.0, 0.0, yaw, 4.0, 1.0)
    assert not boxes_overlap(a, box_corners(*(1.2 * across), yaw, 4.0, 1.0))
    assert boxes_overlap(a, box_corners(*(0.9 * across), yaw, 4.0, 1.0))
    # A diamond (a square turned 45 degrees) beside a square, its corner towards the square's side: the
    # square's normal x separates them.
    diamond = square(2.5, 0.0, side=2.0, yaw=np.pi / 4)  # its left corner at x 2.5 - sqrt(2) = 1.086
    assert not boxes_overlap(square(0.0, 0.0, side=2.0), diamond)
    assert boxes_overlap(square(0.2, 0.0, side=2.0), diamond)
    # The square's corner (1, 1) towards the diamond's lower-left side x + y = cx + cy - sqrt(2): only the
    # diamond's normal (1, 1) separates them (in x and in y they overlap).
    corner_gap = square(2.2, 2.2, side=2.0, yaw=np.pi / 4)  # x + y = 4.4 - 1.414 = 2.986 > 2
    assert not boxes_overlap(square(0.0, 0.0, side=2.0), corner_gap)
    assert boxes_overlap(square(0.0, 0.0, side=2.0), square(1.6, 1.6, side=2.0, yaw=np.pi / 4))  # 1.786 < 2


@pytest.mark.parametrize(
    ("b", "distance"),
    [
        (square(2.0, 0.0), 1.0),  # parallel sides 1 m apart
        (square(0.0, -2.5), 1.5),
        (square(2.0, 2.0), np.sqrt(2.0)),  # corner (0.5, 0.5) to corner (1.5, 1.5)
        (square(0.6, 0.0), 0.0),  # overlapping
        (square(1.5, 0.25), 0.5),  # offset along the side: the gap is still across it
        # A diamond's corner facing the middle of a side: its left corner (3 - sqrt(2), 0) to the side x = 0.5.
        (square(3.0, 0.0, side=2.0, yaw=np.pi / 4), 2.5 - np.sqrt(2.0)),
    ],
)
def test_distance_between_boxes_by_hand(b: np.ndarray, distance: float) -> None:
    a = square(0.0, 0.0)
    assert box_distance(a, b) == pytest.approx(distance, abs=1e-12)
    assert box_distance(b, a) == pytest.approx(distance, abs=1e-12)


def test_distance_between_small_boxes_projects_onto_their_short_sides() -> None:
    # 0.2 m boxes (pedestrian-sized sides shorter than a metre) 0.5 m apart centre to centre, 0.05 m offset.
    assert box_distance(square(0.0, 0.0, side=0.2), square(0.5, 0.05, side=0.2)) == pytest.approx(0.3, abs=1e-12)
    # Corner to the middle of a short side: the corner (0.1, 0.1) of a turned box's neighbour.
    diamond = square(0.3, 0.0, side=0.2, yaw=np.pi / 4)  # left corner at x 0.3 - 0.1 * sqrt(2)
    assert box_distance(square(0.0, 0.0, side=0.2), diamond) == pytest.approx(0.2 - 0.1 * np.sqrt(2.0), abs=1e-12)


@pytest.mark.parametrize("offset", [(10.0, 0.0), (-10.0, 0.0), (0.0, 10.0), (0.0, -10.0)])
def test_long_boxes_far_from_the_origin_side_by_side(offset: tuple[float, float]) -> None:
    """4 x 1 m boxes, so their axes' projections differ in scale, away from the origin, so each axis's
    extremes differ: 0.2 m apart across their length they are separate, 0.1 m overlapping they are not."""
    x, y = offset
    a = box_corners(x, y, 0.0, 4.0, 1.0)
    for gap, overlap in ((1.2, False), (0.9, True)):
        b = box_corners(x, y + gap, 0.0, 4.0, 1.0)
        assert boxes_overlap(a, b) is overlap and boxes_overlap(b, a) is overlap
        b = box_corners(x + 3.0 + gap, y, 0.0, 4.0, 1.0)  # end to end along their length
        assert boxes_overlap(a, b) is overlap and boxes_overlap(b, a) is overlap


BEYOND = (  # two quadrilaterals touching the line 2x + y = 8 from outside at (4, 0)
    np.array([[4.0, 0.0], [6.0, 0.5], [6.0, 3.0], [3.8, 1.0]]),
    np.array([[4.0, 0.0], [5.0, 2.5], [4.3, 3.0], [3.8, 0.4]]),  # one side nearly along the line
)


@pytest.mark.parametrize("shift", [(0.0, 0.0), (20.0, -7.0), (-15.0, 9.0)])
@pytest.mark.parametrize("beyond", BEYOND)
def test_quadrilaterals_without_parallel_sides(shift: tuple[float, float], beyond: np.ndarray) -> None:
    """The separating-axis test holds for any convex quadrilateral, not only for boxes, whose axes come in
    opposite pairs (so each side of the test backs the other up)."""
    quad = np.array([[0.0, 0.0], [4.0, 0.0], [3.0, 2.0], [0.5, 1.0]]) + shift
    normal = np.array([2.0, 1.0]) / np.sqrt(5.0)  # outward from the side (4, 0) - (3, 2)
    for other, overlap in ((beyond + shift + 0.1 * normal, False), (beyond + shift - 0.1 * normal, True)):
        assert boxes_overlap(quad, other) is overlap and boxes_overlap(other, quad) is overlap


@pytest.mark.parametrize("shift", [(0.0, 0.0), (-20.0, -20.0), (20.0, 20.0)])
def test_a_corner_pointing_at_a_side_is_separated_by_that_side_alone(shift: tuple[float, float]) -> None:
    """A kite's sharp corner 0.1 m off the middle of a quadrilateral's side: no side of the kite separates
    them (its sides would cut the quadrilateral's), only the quadrilateral's side does, whichever comes first."""
    quad = np.array([[0.0, 0.0], [4.0, 0.0], [3.0, 2.0], [0.5, 1.0]]) + shift
    normal = np.array([2.0, 1.0]) / np.sqrt(5.0)

    def turned(vector: np.ndarray, degrees: float) -> np.ndarray:
        c, s = np.cos(np.deg2rad(degrees)), np.sin(np.deg2rad(degrees))
        return np.array([c * vector[0] - s * vector[1], s * vector[0] + c * vector[1]])

    for offset, overlap in ((0.1, False), (-0.1, True)):
        tip = np.array([3.5, 1.0]) + shift + offset * normal
        kite = np.array([tip, tip + 2 * turned(normal, -60), tip + 3 * normal, tip + 2 * turned(normal, 60)])
        assert boxes_overlap(quad, kite) is overlap and boxes_overlap(kite, quad) is overlap


def test_box_corners_by_hand() -> None:
    # A 4 x 2 box at (1, 2) facing +y: its front-left corner is at (1 - 1, 2 + 2).
    np.testing.assert_allclose(box_corners(1.0, 2.0, np.pi / 2, 4.0, 2.0), [[0, 4], [0, 0], [2, 0], [2, 4]], atol=1e-12)
    corners = box_corners_3d(np.array([0.0, 0.0, 1.0]), 0.0, (4.0, 2.0, 1.5))
    assert corners[:4, 2].tolist() == [0.25] * 4 and corners[4:, 2].tolist() == [1.75] * 4
    np.testing.assert_allclose(corners[0, :2], [2.0, 1.0])


def test_box_overlap_and_distance_by_hand() -> None:
    unit = box_corners(0.0, 0.0, 0.0, 2.0, 2.0)  # x, y in [-1, 1]
    assert box_distance(unit, box_corners(5.0, 0.0, 0.0, 2.0, 2.0)) == pytest.approx(3.0)
    assert box_distance(unit, box_corners(3.0, 3.0, 0.0, 2.0, 2.0)) == pytest.approx(np.sqrt(2.0))  # corner to corner
    diamond = box_corners(2.0 + np.sqrt(2.0) / 2, 0.0, np.pi / 4, 1.0, 1.0)  # its left tip at x = 2
    assert box_distance(unit, diamond) == pytest.approx(1.0) and not boxes_overlap(unit, diamond)
    touching = box_corners(1.5, 0.0, np.pi / 4, 1.0, 1.0)  # its left tip 0.21 m inside
    assert boxes_overlap(unit, touching) and box_distance(unit, touching) == 0.0
    # Separated only along a rotated box's own axis (the axis-aligned extents overlap).
    tilted = box_corners(2.2, 2.2, -np.pi / 4, 3.0, 0.4)  # its extents reach x, y = 0.998
    assert tilted[:, 0].min() < 1.0 and tilted[:, 1].min() < 1.0 and not boxes_overlap(unit, tilted)
    # From the square's corner (1, 1) to the near long side, x + y = 4.4 - 0.2 * sqrt(2):
    assert box_distance(unit, tilted) == pytest.approx((4.4 - 0.2 * np.sqrt(2) - 2.0) / np.sqrt(2))
