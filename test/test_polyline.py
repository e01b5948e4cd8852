"""``core.polyline.Polyline`` by hand on an L-shaped path: (0, 0) -> (10, 0) -> (10, 10), 20 m long.

Each case was checked against planted bugs (scripts/mutation.sh): the segment index off by one either way
or unclamped, the lookup at a vertex taking the segment before it, moving backwards along a segment, the
offset to the wrong side, normals from the other axis or unnormalised, a projection that scales instead of
divides, measures its distance wrongly, picks the nearest over all points at once or forgets the sign,
resampling to the wrong count or from the wrong start, and the constructor's duplicate filter and limits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from kvision_driving.core.polyline import Polyline

L_PATH = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])


def test_arc_length_starts_at_zero_and_points_are_float() -> None:
    path = Polyline([[0, 0], [3, 4]])  # integers in
    assert path.points.dtype == np.float64 and path.s.tolist() == [0.0, 5.0] and path.length == 5.0
    assert Polyline(L_PATH).s.tolist() == [0.0, 10.0, 20.0]


def test_repeated_points_are_dropped_and_a_path_needs_two_distinct_ones() -> None:
    assert Polyline([[0, 0], [0, 0], [1, 0]]).points.tolist() == [[0.0, 0.0], [1.0, 0.0]]
    assert len(Polyline([[0, 0], [1e-6, 0], [1, 0]]).points) == 2  # a 1 um step counts as a repeat
    assert len(Polyline([[0, 0], [2e-6, 0], [1, 0]]).points) == 3
    with pytest.raises(ValueError, match=r"^a path needs at least two distinct points$"):
        Polyline([[1, 1], [1, 1]])


@pytest.mark.parametrize(
    ("s", "xy", "heading"),
    [
        (0.0, (0.0, 0.0), 0.0),
        (5.0, (5.0, 0.0), 0.0),
        (10.0, (10.0, 0.0), math.pi / 2),  # at a vertex: the segment that starts there
        (15.0, (10.0, 5.0), math.pi / 2),
        (20.0, (10.0, 10.0), math.pi / 2),
        (-2.0, (-2.0, 0.0), 0.0),  # before the start: the first segment extended
        (25.0, (10.0, 15.0), math.pi / 2),  # past the end: the last one extended
    ],
)
def test_pose_along_the_path(s: float, xy: tuple[float, float], heading: float) -> None:
    where, towards = Polyline(L_PATH).pose(s)
    np.testing.assert_allclose(where, xy, atol=1e-12)
    assert float(towards) == pytest.approx(heading)


def test_poses_of_many_arc_lengths_at_once() -> None:
    where, towards = Polyline(L_PATH).pose(np.array([2.5, 12.5]))
    np.testing.assert_allclose(where, [[2.5, 0.0], [10.0, 2.5]], atol=1e-12)
    np.testing.assert_allclose(towards, [0.0, math.pi / 2])


def test_normals_point_left_and_have_unit_length() -> None:
    north = Polyline([[0, 0], [0, 2], [0, 4]])  # 2 m steps: the tangent must be normalised
    np.testing.assert_allclose(north.normals(), [[-1.0, 0.0]] * 3, atol=1e-12)
    east = Polyline([[0, 0], [2, 0], [4, 0]])
    np.testing.assert_allclose(east.normals(), [[0.0, 1.0]] * 3, atol=1e-12)


def test_offsets_go_left_for_positive_and_may_vary_per_point() -> None:
    east = Polyline([[0, 0], [2, 0], [4, 0]])
    np.testing.assert_allclose(east.offset(1.5).points, [[0, 1.5], [2, 1.5], [4, 1.5]], atol=1e-12)
    np.testing.assert_allclose(east.offset(-1.0).points[:, 1], [-1.0, -1.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(east.offset(np.array([0.0, 1.0, 2.0])).points[:, 1], [0.0, 1.0, 2.0], atol=1e-12)


def test_projection_by_hand() -> None:
    points = np.array(
        [
            [5.0, 2.0],  # above the first leg: s 5, 2 m left
            [5.0, -3.0],  # below it: 3 m right
            [12.0, 5.0],  # right of the second leg (heading north): s 15, 2 m right
            [8.0, 1.0],  # inside the corner, nearer the first leg (1 m) than the second (2 m)
            [-3.0, 1.0],  # before the start: the start point, sqrt(10) m away, on the left
            [13.0, 14.0],  # past the end: the end point, 5 m away, on the right
        ]
    )
    s, lateral = Polyline(L_PATH).project(points)
    np.testing.assert_allclose(s, [5.0, 5.0, 15.0, 8.0, 0.0, 20.0], atol=1e-12)
    np.testing.assert_allclose(lateral, [2.0, -3.0, -2.0, 1.0, math.sqrt(10.0), -5.0], atol=1e-12)
    one_s, one_lateral = Polyline(L_PATH).project(np.array([10.0, 7.0]))  # one point, not (N, 2)
    assert one_s.tolist() == [17.0] and one_lateral.tolist() == [0.0]


def test_resampling_spaces_points_evenly_from_start_to_end() -> None:
    path = Polyline(L_PATH).resample(3.0)
    assert len(path.points) == 8  # ceil(20 / 3) = 7 steps of 20/7 m
    arc = 20.0 * np.arange(8) / 7.0  # where each lies along the old path: first leg up to 10 m, then north
    expected = np.where(arc[:, None] <= 10.0, np.stack([arc, 0 * arc], 1), np.stack([0 * arc + 10, arc - 10], 1))
    np.testing.assert_allclose(path.points, expected, atol=1e-12)
    assert len(Polyline([[0, 0], [1, 0]]).resample(5.0).points) == 2  # never fewer than two


def test_projection_on_a_diagonal_segment_away_from_the_origin() -> None:
    """(1, 1) -> (4, 5): direction (0.6, 0.8), left normal (-0.8, 0.6); no coordinate is zero, so a sum for
    a difference or a swapped component shows."""
    path = Polyline([[1.0, 1.0], [4.0, 5.0]])
    s, lateral = path.project(np.array([[1.3, 3.9], [5.0, 3.0]]))  # 2.5 along, 1.5 left; 4 along, 2 right
    np.testing.assert_allclose(s, [2.5, 4.0], atol=1e-12)
    np.testing.assert_allclose(lateral, [1.5, -2.0], atol=1e-12)
