"""core/frames.py by hand: static frame chains in both directions, and poses interpolated in time."""

from __future__ import annotations

import numpy as np
import pytest

from kvision_driving.core.frames import FrameNotFoundError, PoseHistory, StaticFrameTree

S = 1_000_000_000


def transform(x: float = 0.0, y: float = 0.0, z: float = 0.0, yaw: float = 0.0) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0, x], [s, c, 0, y], [0, 0, 1, z], [0, 0, 0, 1]], dtype=np.float64)


def apply(matrix: np.ndarray, point: tuple[float, float, float]) -> np.ndarray:
    return (matrix @ np.array([*point, 1.0]))[:3]


def tree() -> StaticFrameTree:
    frames = StaticFrameTree()
    frames.add("base_link", "lidar_top", transform(x=1.0, z=2.0))
    frames.add("base_link", "camera", transform(x=2.0, yaw=np.pi / 2))
    frames.add("map", "base_link", transform(y=10.0))
    return frames


def test_a_child_point_maps_up_and_across_the_tree() -> None:
    frames = tree()
    assert frames.frames == {"map", "base_link", "lidar_top", "camera"}
    # A lidar point 3 m ahead: base_link (4, 0, 2); camera yawed 90 deg at x 2: (0, -2, 2); map (4, 10, 2).
    assert apply(frames.lookup("base_link", "lidar_top"), (3, 0, 0)) == pytest.approx([4, 0, 2])
    assert apply(frames.lookup("camera", "lidar_top"), (3, 0, 0)) == pytest.approx([0, -2, 2])
    assert apply(frames.lookup("map", "lidar_top"), (3, 0, 0)) == pytest.approx([4, 10, 2])
    assert apply(frames.lookup("lidar_top", "map"), (4, 10, 2)) == pytest.approx([3, 0, 0])
    assert np.array_equal(frames.lookup("nowhere", "nowhere"), np.eye(4))


def test_adding_a_child_again_replaces_its_transform() -> None:
    frames = tree()
    frames.add("base_link", "lidar_top", transform(x=-1.0))
    assert apply(frames.lookup("base_link", "lidar_top"), (0, 0, 0)) == pytest.approx([-1, 0, 0])


def test_unknown_and_unconnected_frames_are_named() -> None:
    frames = tree()
    frames.add("trailer", "trailer_lidar", transform())
    with pytest.raises(FrameNotFoundError, match="unknown frame\\(s\\) radar; known: base_link, camera"):
        frames.lookup("radar", "camera")
    with pytest.raises(FrameNotFoundError, match="no transform chain from 'camera' to 'trailer_lidar'"):
        frames.lookup("trailer_lidar", "camera")
    with pytest.raises(FrameNotFoundError, match="known: none"):
        StaticFrameTree().lookup("a", "b")
    with pytest.raises(ValueError, match="cannot be its own parent"):
        frames.add("camera", "camera", transform())


def test_poses_are_interpolated_linearly_and_yaw_the_short_way() -> None:
    history = PoseHistory()
    history.add(1 * S, transform(x=0.0, y=0.0, yaw=np.deg2rad(170)))
    history.add(2 * S, transform(x=10.0, y=-4.0, z=2.0, yaw=np.deg2rad(-170)))
    pose = history.at(1 * S + S // 4)
    assert pose[:3, 3] == pytest.approx([2.5, -1.0, 0.5])
    assert np.rad2deg(np.arctan2(pose[1, 0], pose[0, 0])) == pytest.approx(175.0)  # not 85: across +-180
    middle = history.at(1 * S + S // 2)
    assert abs(np.rad2deg(np.arctan2(middle[1, 0], middle[0, 0]))) == pytest.approx(180.0)
    assert history.at(2 * S)[:3, 3] == pytest.approx([10, -4, 2])


def test_poses_just_outside_the_history_are_its_ends_and_further_out_none() -> None:
    history = PoseHistory()
    assert history.at(0) is None and history.latest_stamp_ns() is None
    history.add(1 * S, transform(x=1.0))
    history.add(2 * S, transform(x=2.0))
    assert history.at(1 * S - 100_000_000)[0, 3] == 1.0  # within the 0.1 s tolerance
    assert history.at(1 * S - 100_000_001) is None
    assert history.at(2 * S + 50_000_000)[0, 3] == 2.0
    assert history.at(2 * S + 200_000_000, tolerance_ns=200_000_000)[0, 3] == 2.0
    assert history.at(2 * S + 100_000_001) is None
    for stamp in (2 * S, 2 * S + 50_000_000):  # copies, interpolated or not: the history is unchanged
        history.at(stamp)[0, 3] = 99.0
        assert history.at(stamp)[0, 3] == 2.0


def test_history_keeps_time_monotonic_and_starts_over_when_it_goes_back() -> None:
    history = PoseHistory(capacity=3)
    for stamp, x in ((1 * S, 1.0), (2 * S, 2.0), (2 * S, 5.0), (2 * S - 900_000_000, 5.0)):
        history.add(stamp, transform(x=x))  # a duplicate and a message 0.9 s late are dropped
    assert len(history) == 2 and history.latest_stamp_ns() == 2 * S and history.at(2 * S)[0, 3] == 2.0
    history.add(3 * S, transform(x=3.0))
    history.add(4 * S, transform(x=4.0))  # capacity 3: the first falls out
    assert len(history) == 3 and history.at(1 * S) is None
    history.add(2 * S, transform(x=7.0))  # 2 s back: a bag loop
    assert len(history) == 1 and history.latest_stamp_ns() == 2 * S and history.at(2 * S)[0, 3] == 7.0
    history.clear()
    assert len(history) == 0


def test_two_unknown_frames_are_both_named() -> None:
    with pytest.raises(FrameNotFoundError, match="unknown frame\\(s\\) sonar, radar; known: base_link, camera"):
        tree().lookup("radar", "sonar")


def test_interpolated_pose_is_a_rotation_about_z() -> None:
    history = PoseHistory()
    history.add(1 * S, transform(yaw=np.deg2rad(170)))
    history.add(2 * S, transform(yaw=np.deg2rad(-170)))
    assert history.at(1 * S + S // 4) == pytest.approx(transform(yaw=np.deg2rad(175)))


def test_beyond_the_newest_pose_is_the_newest_of_many() -> None:
    history = PoseHistory()
    for second in (1, 2, 3):
        history.add(second * S, transform(x=float(second)))
    assert history.at(3 * S + 50_000_000)[0, 3] == 3.0
    assert history.at(1 * S - 50_000_000)[0, 3] == 1.0


def test_integer_poses_interpolate_to_fractions() -> None:
    history = PoseHistory()
    history.add(1 * S, np.eye(4, dtype=np.int64))
    moved = np.eye(4, dtype=np.int64)
    moved[0, 3] = 1
    history.add(2 * S, moved)
    assert history.at(1 * S + S // 2)[0, 3] == 0.5


def test_epoch_stamps_a_nanosecond_apart_interpolate_exactly() -> None:
    """ROS stamps count nanoseconds since 1970 (about 1.7e18): more than a float64 holds exactly."""
    epoch = 1_700_000_000 * S
    history = PoseHistory()
    history.add(epoch, transform(x=0.0))
    history.add(epoch + 100, transform(x=1.0))
    history.add(epoch + 101, transform(x=2.0))
    assert history.at(epoch + 50)[0, 3] == 0.5
    assert history.at(epoch + 101)[0, 3] == 2.0


def test_exactly_one_second_back_is_late_and_more_starts_over() -> None:
    history = PoseHistory()
    history.add(3 * S, transform(x=3.0))
    history.add(2 * S, transform(x=2.0))  # exactly 1 s back: late, dropped
    assert len(history) == 1 and history.latest_stamp_ns() == 3 * S
    history.add(2 * S - 1, transform(x=2.0))  # a nanosecond more: time went back
    assert len(history) == 1 and history.latest_stamp_ns() == 2 * S - 1


def test_the_history_holds_400_poses_by_default() -> None:
    history = PoseHistory()
    for index in range(401):
        history.add(index * S, transform(x=float(index)))
    assert len(history) == 400 and history.at(0) is None and history.at(1 * S)[0, 3] == 1.0
