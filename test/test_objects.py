"""perception/objects.py: boxes from partial views, and points no camera saw."""

from __future__ import annotations

import numpy as np
import pytest

from kvision_driving.core.labels import TRAIN_ID
from kvision_driving.perception.objects import detect_objects, fit_box, fit_rectangle
from kvision_driving.perception.painting import UNKNOWN

CAR = TRAIN_ID["car"]
ROAD = TRAIN_ID["road"]
PRIOR = (4.5, 1.85, 1.5)


def car_surface(rear_x: float, centre_y: float, step: float = 0.1) -> np.ndarray:
    """Lidar returns on a 4.5 x 1.85 m car seen from behind-right: its back, its right side, its roof."""
    ys = np.arange(centre_y - 0.92, centre_y + 0.92, step)
    xs = np.arange(rear_x, rear_x + 4.5, step)
    zs = np.arange(0.4, 1.45, step)
    back = np.array([(rear_x, y, z) for y in ys for z in zs])
    side = np.array([(x, centre_y - 0.92, z) for x in xs for z in zs])
    roof = np.array([(x, y, 1.5) for x in xs for y in ys])
    return np.vstack([back, side, roof])


def ground(size: float = 40.0, step: float = 0.5) -> np.ndarray:
    grid = np.arange(-size / 2, size / 2, step)
    return np.array([(x + size / 2, y, 0.0) for x in grid for y in grid])


@pytest.mark.parametrize("roof_depth", [0.0, 2.0, 2.2])
def test_a_car_seen_end_on_points_along_the_line_of_sight(roof_depth: float) -> None:
    """The back alone, or the back and a line across the roof where the rays clear the back's top edge (about
    2 m further on, as the simulator's lidar sees a car 10 m ahead), are no longer than a car is wide: the box
    must not turn across the lane (it did with the roof line: the longer side then ran along the car)."""
    ys = np.arange(-0.92, 0.93, 0.1)
    back = np.array([(10.0, y, z) for y in ys for z in (0.5, 1.0)])
    roof = np.array([(10.0 + roof_depth, y, 1.5) for y in ys])
    centre, yaw, size = fit_box(np.vstack([back, roof]), "car", PRIOR)
    assert abs(np.sin(yaw)) < 0.05  # along x, the line of sight, not across it
    assert size[0] == pytest.approx(4.5, abs=0.05) and size[1] == pytest.approx(1.85, abs=0.1)
    assert centre[0] == pytest.approx(10.0 + 2.25, abs=0.1) and abs(centre[1]) < 0.1  # grown away from ego


def half_seen_car_beside(unseen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A car from x 2 to 6.5 at y 3.5 whose front half the camera painted car, ``unseen`` points no camera
    saw, and the road: points, labels, confidence."""
    car = car_surface(rear_x=2.0, centre_y=3.5)
    road = ground()
    labels = np.concatenate(
        [np.where(car[:, 0] >= 4.25, CAR, UNKNOWN), np.full(len(unseen), UNKNOWN), np.full(len(road), ROAD)]
    ).astype(np.uint8)
    confidence = np.where(labels == UNKNOWN, 0.0, 0.9).astype(np.float32)
    return np.vstack([car, unseen, road]), labels, confidence


def test_points_no_camera_saw_complete_a_car_half_out_of_view() -> None:
    """Ego passing a parked car: the camera sees its front half only. The box covers the whole car; a wall
    that no camera sees is no object at all."""
    wall = np.array([(x, -6.0, z) for x in np.arange(0.0, 10.0, 0.1) for z in np.arange(0.4, 2.0, 0.2)])
    points, labels, confidence = half_seen_car_beside(wall)
    detections = detect_objects(points, labels, confidence)
    assert len(detections) == 1
    (car_box,) = detections
    assert car_box.kind == "car" and car_box.confidence == pytest.approx(0.9, abs=0.01)
    assert car_box.centre[0] == pytest.approx(2.0 + 2.25, abs=0.15) and car_box.centre[1] == pytest.approx(
        3.5, abs=0.15
    )
    assert car_box.size[0] == pytest.approx(4.5, abs=0.15) and abs(np.sin(car_box.yaw)) < 0.05
    # Without the unseen half the box is fitted to the front half and grows forward, as before.
    painted_only = detect_objects(points, np.where(labels == UNKNOWN, 0, labels).astype(np.uint8), confidence)
    assert painted_only[0].centre[0] > 2.0 + 2.25 + 1.0


def test_unseen_points_that_would_make_a_car_too_large_are_left_out_of_its_box() -> None:
    """The camera sees a car's front half; a 12 m hedge no camera sees runs alongside, 0.5 m from it, and
    joins its cluster. Fitted to all of them the box was 12 m long (KITTI 000000 had a 10 x 7 m "car"); no
    car is that long, so the box is fitted to what was painted car."""
    hedge = np.array([(x, 3.5 + 0.92 + 0.5, z) for x in np.arange(-2.0, 10.0, 0.1) for z in np.arange(0.4, 1.6, 0.2)])
    points, labels, confidence = half_seen_car_beside(hedge)
    (detection,) = detect_objects(points, labels, confidence)
    assert detection.kind == "car"
    assert detection.size[0] == pytest.approx(4.5, abs=0.15) and detection.size[1] < 2.2
    assert abs(np.sin(detection.yaw)) < 0.05 and detection.centre[1] == pytest.approx(3.5, abs=0.2)
    painted = points[labels == CAR]
    assert painted[:, 0].min() > detection.centre[0] - 2.4 and painted[:, 0].max() < detection.centre[0] + 2.4


def box_of(xs: tuple[float, float], ys: tuple[float, float], zs: tuple[float, float], step: float = 0.1) -> np.ndarray:
    """Returns filling a box's surface-ish volume on a grid (enough for clustering)."""
    grid = np.mgrid[xs[0] : xs[1] : step, ys[0] : ys[1] : step, zs[0] : zs[1] : step]
    return grid.reshape(3, -1).T


def test_a_few_vehicle_painted_points_on_a_cyclist_are_the_cyclist_not_a_ghost_truck() -> None:
    """Segmentation paints part of a cyclist as truck: alone, those points made an 8 m truck riding along with
    the cyclist. They join the cyclist's vote instead; a pedestrian beside a parked car stays a pedestrian."""
    cyclist = box_of((20.0, 21.8), (-2.9, -2.6), (0.4, 1.8))
    mispainted = cyclist[:, 2] > 1.5  # the rider's shoulders
    car = car_surface(rear_x=30.0, centre_y=3.5)
    walker = box_of((29.0, 29.5), (2.0, 2.4), (0.4, 1.8))  # just behind the car's right rear corner
    road = ground(size=60.0)
    points = np.vstack([cyclist, car, walker, road])
    labels = np.concatenate(
        [
            np.where(mispainted, TRAIN_ID["truck"], TRAIN_ID["rider"]),
            np.full(len(car), CAR),
            np.full(len(walker), TRAIN_ID["person"]),
            np.full(len(road), ROAD),
        ]
    ).astype(np.uint8)
    confidence = np.full(len(points), 0.9, dtype=np.float32)
    detections = detect_objects(points, labels, confidence)
    kinds = sorted(detection.kind for detection in detections)
    assert kinds == ["bicycle", "car", "pedestrian"], kinds
    (bike,) = [detection for detection in detections if detection.kind == "bicycle"]
    assert bike.size[0] < 2.5 and abs(bike.centre[1] + 2.75) < 0.3


@pytest.mark.parametrize("turn_deg", [0.0, 30.0, 75.0])
def test_an_l_of_points_gets_the_rectangle_of_its_legs_not_of_its_diagonal(turn_deg: float) -> None:
    """A truck's front (2.4 m) and a few columns of its side (to 6.5 m): the minimum-area rectangle of that
    right triangle is as small along the diagonal as along the legs, and cv2.minAreaRect took the diagonal."""
    front = np.array([(0.0, y) for y in np.arange(0.0, 2.41, 0.1)])
    side = np.array([(x, 0.0) for x in (1.3, 3.7, 6.5)])
    turn = np.deg2rad(turn_deg)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    points = np.vstack([front, side]) @ rotation.T + (20.0, 5.0)
    centre, sides, axis = fit_rectangle(points)
    along_legs = np.abs(np.cos(2 * (axis - turn)))  # 1 when the sides run along the legs (mod 90 degrees)
    assert along_legs > np.cos(np.deg2rad(4.0))
    assert sorted(sides) == pytest.approx([2.4, 6.5], abs=0.1)
    assert centre == pytest.approx(rotation @ (3.25, 1.2) + (20.0, 5.0), abs=0.1)


def test_columns_of_a_truck_seen_past_a_car_are_that_truck_not_ghost_trucks_in_our_lane() -> None:
    """An oncoming truck passing a car stopped ahead of ego: the lidar sees the truck's front, and its side
    only in single columns through gaps past the car. Each column, completed to a truck's size along the
    line of sight, was an 8 m ghost truck between the car and the truck, across ego's lane (closed loop,
    ``lead_vehicle_braking``). The columns join the truck, whose box then sits where it is."""
    truck_front = box_of((27.8, 27.95), (2.3, 4.75), (0.4, 3.0))  # truck: x 27.8..35.8, y 2.25..4.75
    columns = np.vstack([box_of((x, x + 0.05), (2.25, 2.3), (0.4, 3.0)) for x in (29.1, 31.5)])
    car = car_surface(rear_x=28.2, centre_y=0.0)  # in our lane, its left side 1.3 m from the truck's right
    road = ground(size=60.0)
    points = np.vstack([truck_front, columns, car, road])
    labels = np.concatenate(
        [np.full(len(truck_front) + len(columns), TRAIN_ID["truck"]), np.full(len(car), CAR), np.full(len(road), ROAD)]
    ).astype(np.uint8)
    confidence = np.full(len(points), 0.9, dtype=np.float32)
    detections = detect_objects(points, labels, confidence)
    assert sorted(detection.kind for detection in detections) == ["car", "truck"]
    (truck,) = [detection for detection in detections if detection.kind == "truck"]
    assert truck.centre[1] == pytest.approx(3.5, abs=0.15) and abs(np.sin(truck.yaw)) < 0.05
    assert truck.centre[1] - truck.size[1] / 2 > 2.0  # clear of our lane
    (car_box,) = [detection for detection in detections if detection.kind == "car"]
    assert abs(car_box.centre[1]) < 0.15


@pytest.mark.parametrize("turn_deg", [-1.0, 0.0, 1.0, 44.0, 89.5])
def test_a_fitted_rectangle_s_first_side_runs_along_the_direction_it_reports(turn_deg: float) -> None:
    """Side a is the extent along the reported direction, also where the search's best lies just below 0
    degrees (wrapped to just below 90: a side swapped with the other turned cars across their lane)."""
    outline = np.vstack(
        [[(x, y) for x in np.arange(0.0, 4.51, 0.1) for y in (0.0, 1.8)],
         [(x, y) for x in (0.0, 4.5) for y in np.arange(0.0, 1.81, 0.1)]]
    )  # fmt: skip
    turn = np.deg2rad(turn_deg)
    points = outline @ np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]]).T
    _, (side_a, side_b), axis = fit_rectangle(points)
    along = points @ np.array([np.cos(axis), np.sin(axis)])
    assert 0.0 <= axis < np.pi / 2
    assert side_a == pytest.approx(np.ptp(along), abs=0.05)
    assert sorted([side_a, side_b]) == pytest.approx([1.8, 4.5], abs=0.1)


def test_clustering_one_point_per_voxel_finds_the_vehicles_full_dbscan_finds() -> None:
    import open3d as o3d

    from kvision_driving.perception.objects import cluster_ids

    rng = np.random.default_rng(3)

    def car_surface(x: float, y: float, count: int = 1500) -> np.ndarray:
        """Points on the sides and roof of a 4.5 x 1.8 x 1.5 m box: dense, as a car beside ego."""
        u = rng.uniform(-0.5, 0.5, (count, 3)) * [4.5, 1.8, 1.5]
        face = rng.integers(0, 3, count)
        u[face == 0, 1] = 0.9 * np.sign(u[face == 0, 1])
        u[face == 1, 2] = 0.75
        u[face == 2, 0] = 2.25 * np.sign(u[face == 2, 0])
        return u + np.array([x, y, 0.75])

    # Two cars 1.5 m apart nose to tail, one in the next lane, and a stray point: three vehicles and noise.
    points = np.concatenate([car_surface(10, 0), car_surface(16, 0), car_surface(13, 3.6), [[40.0, -8.0, 1.0]]])
    ours = cluster_ids(points, 1.1)
    theirs = np.asarray(o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points)).cluster_dbscan(1.1, 3))
    assert ours.max() == theirs.max() == 2 and ours[-1] == theirs[-1] == -1
    pairs = set(zip(ours.tolist(), theirs.tolist(), strict=True))
    assert len(pairs) == 4  # the same groups: each of ours is exactly one of theirs


def test_a_20_m_truck_painted_on_a_wall_is_no_truck_and_a_real_truck_is() -> None:
    """A camera that never saw such a street paints a building's wall as truck: 20 m long, 6 m tall beside
    the road. No truck is that shape: it is rejected with its reason. A 12 m lorry parked beside it is kept."""
    wall = box_of((10.0, 30.0), (-8.2, -8.0), (0.4, 6.0), step=0.15)
    lorry = box_of((12.0, 24.0), (5.0, 7.5), (0.5, 3.8), step=0.15)
    road = ground(size=60.0)
    points = np.vstack([wall, lorry, road])
    truck = TRAIN_ID["truck"]
    labels = np.concatenate([np.full(len(wall) + len(lorry), truck), np.full(len(road), ROAD)]).astype(np.uint8)
    confidence = np.full(len(points), 0.9, dtype=np.float32)
    rejected = []
    detections = detect_objects(points, labels, confidence, rejected=rejected)
    assert [detection.kind for detection in detections] == ["truck"]
    assert detections[0].centre[1] == pytest.approx(6.25, abs=0.2)
    (wall_refused,) = rejected
    assert wall_refused.kind == "truck" and wall_refused.reason == "too long"
    assert wall_refused.footprint[0] == pytest.approx(20.0, abs=0.3) and wall_refused.top > 5.5


@pytest.mark.parametrize(
    ("kind_label", "xs", "zs", "reason"),
    [
        ("car", (10.0, 14.0), (0.3, 5.5), "too tall"),  # a shop front painted car
        ("person", (10.0, 10.4), (0.26, 0.4), "too low"),  # a kerb painted person
        ("car", (10.0, 14.0), (0.4, 1.5), None),  # a car
    ],
)
def test_road_users_must_have_their_shape(kind_label: str, xs: tuple, zs: tuple, reason: str | None) -> None:
    thing = box_of(xs, (3.0, 3.5), zs, step=0.05)
    points = np.vstack([thing, ground()])
    labels = np.concatenate([np.full(len(thing), TRAIN_ID[kind_label]), np.full(len(points) - len(thing), ROAD)])
    rejected = []
    detections = detect_objects(
        points, labels.astype(np.uint8), np.full(len(points), 0.9, np.float32), rejected=rejected
    )
    assert [r.reason for r in rejected] == ([reason] if reason else [])
    assert len(detections) == (0 if reason else 1)


def test_a_wall_painted_partly_truck_mostly_building_is_a_wall() -> None:
    """Truck-shaped (8 m, 3 m tall) but standing among more points painted building: structure."""
    wall = box_of((10.0, 18.0), (-6.2, -6.0), (0.4, 3.0), step=0.1)
    painted_truck = np.round(wall[:, 0] * 10).astype(int) % 10 < 4  # stripes of truck, as a confused network paints
    points = np.vstack([wall, ground()])
    labels = np.concatenate(
        [np.where(painted_truck, TRAIN_ID["truck"], TRAIN_ID["building"]), np.full(len(points) - len(wall), ROAD)]
    ).astype(np.uint8)
    rejected = []
    assert detect_objects(points, labels, np.full(len(points), 0.9, np.float32), rejected=rejected) == []
    assert [r.reason for r in rejected] == ["mostly structure"]


def test_a_car_with_both_front_doors_open_is_still_a_car() -> None:
    """A real Argoverse frame: the car ahead with its doors open is 3.8 m wide; a 3 m limit dropped it."""
    body = box_of((10.0, 14.5), (-0.92, 0.92), (0.4, 1.5), step=0.1)
    doors = np.vstack([box_of((11.4, 12.4), (side, side + 0.05), (0.4, 1.2), step=0.1) for side in (-1.95, 1.9)])
    points = np.vstack([body, doors, ground()])
    labels = np.concatenate([np.full(len(body) + len(doors), CAR), np.full(len(points) - len(body) - len(doors), ROAD)])
    rejected = []
    detections = detect_objects(
        points, labels.astype(np.uint8), np.full(len(points), 0.9, np.float32), rejected=rejected
    )
    assert [d.kind for d in detections] == ["car"] and not rejected
