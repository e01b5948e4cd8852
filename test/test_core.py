"""core/: geometry, frames, camera, approximate-time sync, rolling statistics."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from kvision_driving.core.camera import PinholeCamera
from kvision_driving.core.frames import FrameNotFoundError, StaticFrameTree
from kvision_driving.core.geometry import (
    finite_rows,
    invert_transform,
    make_transform,
    matrix_to_quaternion,
    quaternion_to_matrix,
    transform_points,
    yaw_of,
)
from kvision_driving.core.stats import RateMeter, RollingSamples, latency_summary_ms
from kvision_driving.core.sync import ApproximateTimeSync


def random_transform(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_transform(Rotation.random(random_state=seed).as_matrix(), rng.normal(size=3))


def test_quaternion_matrix_round_trip_and_sign() -> None:
    rotation = Rotation.from_euler("xyz", [0.3, -0.2, 2.9]).as_matrix()
    q = matrix_to_quaternion(rotation)
    assert q[3] >= 0
    np.testing.assert_allclose(quaternion_to_matrix(*q), rotation, atol=1e-12)
    with pytest.raises(ValueError, match="not a rotation"):
        quaternion_to_matrix(0, 0, 0, 0)
    with pytest.raises(ValueError, match="not a rotation"):
        quaternion_to_matrix(0, 0, 0, 2.0)


def test_inverse_and_point_transform() -> None:
    transform = random_transform(1)
    np.testing.assert_allclose(invert_transform(transform) @ transform, np.eye(4), atol=1e-12)
    points = np.random.default_rng(2).normal(size=(10, 3))
    back = transform_points(invert_transform(transform), transform_points(transform, points))
    np.testing.assert_allclose(back, points, atol=1e-12)
    assert yaw_of(make_transform(Rotation.from_euler("z", 0.7).as_matrix())) == pytest.approx(0.7)


def test_frame_tree_chains_and_inverts() -> None:
    tree = StaticFrameTree()
    base_to_map = random_transform(3)
    lidar_to_base = random_transform(4)
    camera_to_base = random_transform(5)
    tree.add("map", "base_link", base_to_map)
    tree.add("base_link", "lidar", lidar_to_base)
    tree.add("base_link", "camera", camera_to_base)
    # lidar -> camera goes up to base_link and down again
    expected = invert_transform(camera_to_base) @ lidar_to_base
    np.testing.assert_allclose(tree.lookup("camera", "lidar"), expected, atol=1e-12)
    np.testing.assert_allclose(tree.lookup("map", "lidar"), base_to_map @ lidar_to_base, atol=1e-12)
    np.testing.assert_allclose(tree.lookup("lidar", "lidar"), np.eye(4))
    with pytest.raises(FrameNotFoundError, match="radar"):
        tree.lookup("radar", "lidar")
    tree.add("odom", "wheel", np.eye(4))
    with pytest.raises(FrameNotFoundError, match="no transform chain"):
        tree.lookup("wheel", "lidar")


def test_camera_projection_and_validation() -> None:
    camera = PinholeCamera.from_fov(640, 480, np.deg2rad(90))
    uv, inside = camera.project(np.array([[0, 0, 10.0], [1, 0, 1.0], [0, 0, -5.0], [100, 0, 1.0]]))
    np.testing.assert_allclose(uv[0], [320, 240])
    np.testing.assert_allclose(uv[1], [640, 240])
    assert inside.tolist() == [True, False, False, False]  # u == width is outside
    with pytest.raises(ValueError):
        PinholeCamera(width=0, height=10, k=np.eye(3))


def test_sync_pairs_nearest_within_offset() -> None:
    sync: ApproximateTimeSync[str] = ApproximateTimeSync(2, max_offset_ns=20, queue_size=5)
    assert sync.add(0, 100, "a100") is None
    assert sync.add(0, 200, "a200") is None
    assert sync.add(1, 205, "b205") == ["a200", "b205"]
    assert sync.dropped == 1  # a100 can never match anything newer
    assert sync.add(1, 300, "b300") is None
    assert sync.add(0, 350, "a350") is None  # 50 ns away: too far
    assert sync.add(0, 310, "a310") == ["a310", "b300"]


def test_sync_is_bounded_and_resets_on_time_jump() -> None:
    sync: ApproximateTimeSync[int] = ApproximateTimeSync(2, max_offset_ns=1, queue_size=3, reset_jump_ns=1000)
    for stamp in range(10):
        sync.add(0, stamp * 100, stamp)
    assert sync.dropped == 7
    sync.add(0, 5, 0)  # jumps back by ~900 ns: within reset_jump, kept
    assert sync.resets == 0
    sync.add(1, -5000, 0)  # a bag loop
    assert sync.resets == 1
    assert sync.add(0, -5000, 1) == [1, 0]


def test_rolling_samples_and_rates() -> None:
    samples = RollingSamples(capacity=100)
    for value in range(1000):
        samples.add(value)
    assert len(samples) == 100
    assert samples.percentile(50) == pytest.approx(949.5)
    assert np.isnan(RollingSamples().percentile(50))
    meter = RateMeter(window_s=1.0)
    for tick in range(21):
        meter.tick(tick * 0.05)
    assert meter.rate(1.0) == pytest.approx(20.0)
    assert meter.rate(10.0) == 0.0
    summary = latency_summary_ms([1_000_000, 2_000_000, 3_000_000])
    assert summary["p50_ms"] == pytest.approx(2.0) and summary["count"] == 3


def test_stamp_gate_tells_duplicates_late_messages_and_jumps_back() -> None:
    from kvision_driving.core.stamps import StampGate, StampOrder

    gate = StampGate(jump_back_ns=500)
    seen = [gate.check(stamp) for stamp in (100, 200, 200, 150, 300, 1_000, 400, 450, 450, 420)]
    assert seen == [
        StampOrder.NEW,
        StampOrder.NEW,
        StampOrder.DUPLICATE,
        StampOrder.LATE,
        StampOrder.NEW,
        StampOrder.NEW,
        StampOrder.JUMP_BACK,  # 600 back from 1000: a new timeline starts at 400
        StampOrder.NEW,
        StampOrder.DUPLICATE,
        StampOrder.LATE,
    ]
    assert [order.skip for order in seen].count(True) == 4


def test_frozen_startup_objects_are_left_alone_and_later_ones_collected() -> None:
    """In a fresh interpreter: a reference cycle alive at freeze time is never walked again, so it survives
    full collections even once dropped (the price: start-up objects are kept); one made afterwards is
    collected as before."""
    script = """
import gc, weakref
from kvision_driving.core.collector import freeze_startup_objects

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a

startup = cycle()
before = weakref.ref(startup)
frozen = freeze_startup_objects()
del startup
after = weakref.ref(cycle())
gc.collect()
print(frozen, before() is not None, after() is None)
"""
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert int(output[0]) > 1000  # the interpreter's and our modules' objects
    assert output[1:] == ["True", "True"]


def test_finite_rows_finds_nan_and_inf_in_any_column() -> None:
    values = np.ones((6, 3), np.float32)
    values[1, 0], values[2, 1], values[3, 2], values[4] = np.nan, np.inf, -np.inf, np.nan
    assert finite_rows(values).tolist() == [True, False, False, False, False, True]
    assert finite_rows(values).tolist() == np.isfinite(values).all(axis=1).tolist()
    assert finite_rows(np.zeros((0, 3))).shape == (0,)
