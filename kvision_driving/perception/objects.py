"""3-D objects from painted points: ground plane, per-class clustering, class by majority, box fitting.

Points are in ``base_link`` (x forward, y left, z up). Only points painted with a road-user class
are clustered (PointPainting's idea: the camera says *what*, the lidar says *where*); minimum
cluster sizes and box priors are per class.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import open3d as o3d
from numpy.typing import NDArray

from kvision_driving.core.labels import TRAIN_ID
from kvision_driving.perception.painting import UNKNOWN

# Road users we detect: train id -> (kind, minimum points after voxelisation, prior length, width, height)
OBJECT_CLASSES: dict[int, tuple[str, int, tuple[float, float, float]]] = {
    TRAIN_ID["car"]: ("car", 8, (4.5, 1.85, 1.5)),
    TRAIN_ID["truck"]: ("truck", 8, (8.0, 2.5, 3.2)),
    TRAIN_ID["bus"]: ("bus", 8, (11.0, 2.6, 3.2)),
    TRAIN_ID["person"]: ("pedestrian", 3, (0.5, 0.6, 1.75)),
    TRAIN_ID["rider"]: ("bicycle", 3, (1.8, 0.6, 1.75)),
    TRAIN_ID["bicycle"]: ("bicycle", 3, (1.8, 0.6, 1.75)),
    TRAIN_ID["motorcycle"]: ("motorcycle", 3, (2.0, 0.8, 1.5)),
}
VEHICLE_KINDS = ("car", "truck", "bus")
# Clustered together, with this DBSCAN radius (m): a car's rear and roof are a metre apart, a person
# beside a car is not one object with it.
CLUSTER_GROUPS = (
    ([TRAIN_ID["car"], TRAIN_ID["truck"], TRAIN_ID["bus"]], 1.1),
    ([TRAIN_ID["person"], TRAIN_ID["rider"], TRAIN_ID["bicycle"], TRAIN_ID["motorcycle"]], 0.6),
)
# How far (m, on the ground plane) unseen points may lie from a group's painted points to complete a cluster:
# the part of a car or most of a truck beyond the camera's view, of a cyclist.
UNSEEN_REACH = (5.0, 2.0)
MAX_VEHICLE_HEIGHT = 4.0  # m above the ground: unseen points higher up are no road user's
# m on the ground (to the 0.5 m raster of _near_on_ground): a vehicle cluster about this close to a larger
# person or cyclist cluster is theirs.
TOUCH = 0.3
# m: a vehicle cluster whose footprint is no longer than this either way is a sliver, one column of lidar
# points (the side of a vehicle seen through a gap past an occluder), and has no shape of its own.
SLIVER = 0.4
FITS_PRIOR = 0.5  # m a sliver and the vehicle it joins may exceed that vehicle's prior footprint
CLOSENESS_POINTS = 256  # points a rectangle's direction is searched on (every one shapes its extent)
# What a road user of each kind can measure, from the points painted with its class: (longest and shortest
# side of the footprint, lowest and highest top above the ground), m. A camera that has not seen a street
# like this one paints walls as trucks and the road as riders; the lidar says what shape they are.
PLAUSIBLE_SHAPE: dict[str, tuple[float, float, float, float]] = {
    "car": (6.5, 4.2, 0.5, 3.2),  # vans and pick-ups; both front doors open (a real Argoverse car: 3.8 m wide)
    "truck": (18.0, 4.2, 0.8, 4.6),  # an articulated lorry is 16.5 m
    "bus": (19.0, 4.2, 0.8, 4.6),  # an articulated bus 18.75 m
    "pedestrian": (1.6, 1.6, 0.5, 2.4),  # a child to a tall adult, arms out
    "bicycle": (2.8, 1.6, 0.5, 2.5),
    "motorcycle": (3.0, 1.6, 0.5, 2.3),
}
# A cluster is that road user only if at least this share of the painted points standing in its footprint
# say so: a wall painted half truck, half building is a wall.
MIN_OWN_SHARE = 0.5
FOOTPRINT_MARGIN = 0.2  # m around a cluster's footprint where other painted points are counted
CLUSTER_VOXEL = 0.2  # m: DBSCAN clusters one point per voxel this size (cluster_ids)


@dataclass(frozen=True)
class Rejection:
    """A cluster painted as a road user that cannot be one (``PLAUSIBLE_SHAPE``, ``MIN_OWN_SHARE``)."""

    kind: str
    reason: str  # "too long", "too wide", "too low", "too tall", "mostly structure"
    centre: NDArray[np.float64]
    footprint: tuple[float, float]  # long, short side of the painted points (m)
    top: float  # highest painted point above the ground (m)


@dataclass(frozen=True)
class Detection:
    kind: str
    confidence: float  # share of the cluster's points painted with the winning class x their mean confidence
    centre: NDArray[np.float64]  # x, y, z of the box centre (base_link)
    yaw: float
    size: tuple[float, float, float]  # length, width, height
    point_count: int


def fit_ground(points: NDArray[np.floating], max_height: float = 0.6, sample: int = 4000) -> NDArray[np.float64]:
    """Ground plane (a, b, c, d) with c > 0, by RANSAC (open3d) on the low points; z = 0 if too few."""
    low = np.flatnonzero(points[:, 2] < max_height)
    if len(low) < 50:
        return np.array([0.0, 0.0, 1.0, 0.0])
    low = low[:: max(1, len(low) // sample)]
    o3d.utility.random.seed(0)  # reproducible RANSAC
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points[low], dtype=np.float64)))
    plane, _ = cloud.segment_plane(distance_threshold=0.1, ransac_n=3, num_iterations=80)
    plane = np.asarray(plane, dtype=np.float64)
    if abs(plane[2]) < 0.9:  # a wall, not the ground: assume the flat ground of base_link
        return np.array([0.0, 0.0, 1.0, 0.0])
    return plane * np.sign(plane[2])


def height_above(points: NDArray[np.floating], plane: NDArray[np.float64]) -> NDArray[np.float64]:
    return points @ plane[:3] + plane[3]


def fit_rectangle(xy: NDArray[np.floating], step_deg: float = 1.0) -> tuple[NDArray, tuple[float, float], float]:
    """The rectangle whose edges the points hug (L-shape fitting by the closeness criterion, Zhang et al.,
    "Efficient L-Shape Fitting for Vehicle Detection Using Laser Scanners", 2017): (centre, (side a, side b),
    direction of side a in radians). A lidar sees one or two faces of a vehicle; the minimum-area rectangle
    of an L of points (a truck's front and a few columns of its side) is as small along the L's diagonal as
    along its legs, and cv2.minAreaRect took the diagonal: the box turned across the lane.

    The angle is searched coarse to fine (5 degrees, then ``step_deg`` around the best) on at most
    ``CLOSENESS_POINTS`` of the points; the extents are then taken over all of them (a dense cluster
    searched at every degree on every point cost 3.5 ms, on a fusion's hot path)."""
    points = np.asarray(xy, dtype=np.float64)
    centre = points.mean(axis=0)
    points = points - centre
    sample = points[:: max(1, -(-len(points) // CLOSENESS_POINTS))]
    coarse = _best_closeness(sample, np.deg2rad(np.arange(0.0, 90.0, 5.0)))
    offsets = np.arange(step_deg, 4.0 + 1e-9, step_deg)
    around = np.concatenate([[0.0], np.stack([offsets, -offsets], axis=1).ravel()])
    # The coarse best first: points that hug its edges tie with a degree or two either side (closeness
    # saturates within 5 cm), and a tie keeps the first.
    angle = _best_closeness(sample, coarse + np.deg2rad(around)) % (np.pi / 2)  # side a's direction in [0, 90)
    axis_a, axis_b = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
    along, across = points @ axis_a, points @ axis_b
    low_a, high_a, low_b, high_b = along.min(), along.max(), across.min(), across.max()
    centre = centre + axis_a * (low_a + high_a) / 2 + axis_b * (low_b + high_b) / 2
    return centre, (float(high_a - low_a), float(high_b - low_b)), float(angle)


def _best_closeness(points: NDArray[np.float64], angles: NDArray[np.float64]) -> float:
    """Of ``angles`` (directions of a rectangle's side), the one whose edges the points lie closest to."""
    axes = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (A, 2): side a; side b is square to it
    along = axes @ points.T  # (A, N)
    across = np.stack([-axes[:, 1], axes[:, 0]], axis=1) @ points.T
    to_edge_a = np.minimum(along.max(axis=1, keepdims=True) - along, along - along.min(axis=1, keepdims=True))
    to_edge_b = np.minimum(across.max(axis=1, keepdims=True) - across, across - across.min(axis=1, keepdims=True))
    closeness = (1.0 / np.maximum(np.minimum(to_edge_a, to_edge_b), 0.05)).sum(axis=1)
    return float(angles[int(np.argmax(closeness))])


def fit_box(xyz: NDArray[np.floating], kind: str, prior: tuple[float, float, float]) -> tuple[NDArray, float, tuple]:
    """Rectangle on the ground plane (:func:`fit_rectangle`), height from the points.

    A lidar sees only the near faces of a vehicle. When the visible extent is no more than a vehicle's
    width, the shape cannot tell which way the vehicle points (the back alone, or the back and the
    near edge of the roof, are about square); seen so little, a vehicle is seen end on, so it points
    along the line of sight. The box is then completed to the prior size, growing away from the sensor.
    """
    rect_centre, (side_a, side_b), axis_a = fit_rectangle(xyz[:, :2])
    long_side, short_side = max(side_a, side_b), min(side_a, side_b)
    heading = axis_a if side_a >= side_b else axis_a + np.pi / 2
    if kind in VEHICLE_KINDS and long_side < 0.7 * prior[0] and long_side <= prior[1] + 0.6:
        sight = np.arctan2(rect_centre[1], rect_centre[0])
        along_a = abs(np.cos(sight - axis_a)) >= abs(np.sin(sight - axis_a))
        heading = axis_a if along_a else axis_a + np.pi / 2
        long_side, short_side = (side_a, side_b) if along_a else (side_b, side_a)
    forward = np.array([np.cos(heading), np.sin(heading)])
    if forward[0] < 0:  # a box has no front: report the heading that points away from ego's back
        heading += np.pi
        forward = -forward
    centre = np.array(rect_centre, dtype=np.float64)
    length, width = long_side, short_side
    z_low, z_high = float(xyz[:, 2].min()), float(xyz[:, 2].max())
    height = max(z_high - z_low, 0.2)
    if kind in VEHICLE_KINDS:
        left = np.array([-forward[1], forward[0]])
        away = centre / max(np.linalg.norm(centre), 1e-6)
        grow_length, grow_width = max(prior[0] - length, 0.0), max(prior[1] - width, 0.0)
        centre += (1.0 if away @ forward >= 0 else -1.0) * forward * grow_length / 2
        centre += (1.0 if away @ left >= 0 else -1.0) * left * grow_width / 2
        length, width = length + grow_length, width + grow_width
        height = max(height, prior[2] * 0.8)
        z_low = min(z_low, z_high - height)
    heading = float(np.arctan2(np.sin(heading), np.cos(heading)))
    return np.array([centre[0], centre[1], z_low + height / 2]), heading, (float(length), float(width), float(height))


def _voxel_keys(xyz: NDArray[np.float64], voxel: float) -> NDArray[np.int64]:
    """One integer per voxel of each point: a 1-D unique instead of a row-wise one."""
    cells = np.floor(xyz / voxel).astype(np.int64)
    cells -= cells.min(axis=0)
    span = cells.max(axis=0) + 1
    return (cells[:, 0] * span[1] + cells[:, 1]) * span[2] + cells[:, 2]


def voxel_representatives(xyz: NDArray[np.float64], voxel: float) -> NDArray[np.intp]:
    """Index of one point per occupied voxel (the first), to cluster far fewer points."""
    if len(xyz) == 0:
        return np.zeros(0, dtype=np.intp)
    _, first = np.unique(_voxel_keys(xyz, voxel), return_index=True)
    return np.sort(first)


def cluster_ids(xyz: NDArray[np.float64], radius: float, min_points: int = 3) -> NDArray[np.intp]:
    """DBSCAN (open3d) cluster id per point, -1 for noise, run on one point per CLUSTER_VOXEL voxel: every
    point takes its voxel's cluster. A truck beside ego is a thousand points with hundreds of neighbours
    each within a vehicle's radius, and DBSCAN's cost grows with them; a voxel's points lie within 0.35 m
    of each other, so the clusters barely change (docs/perception.md has the measurements)."""
    if len(xyz) == 0:
        return np.zeros(0, dtype=np.intp)
    _, first, voxel_of = np.unique(_voxel_keys(xyz, CLUSTER_VOXEL), return_index=True, return_inverse=True)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(xyz[first]))
    return np.asarray(cloud.cluster_dbscan(eps=radius, min_points=min_points), dtype=np.intp)[voxel_of.ravel()]


def detect_objects(
    points: NDArray[np.floating],
    labels: NDArray[np.uint8],
    confidence: NDArray[np.float32],
    max_range: float = 80.0,
    min_confidence: float = 0.3,
    ground_threshold: float = 0.25,
    voxel: float = 0.12,
    rejected: list[Rejection] | None = None,
) -> list[Detection]:
    """Detections from painted points in base_link.

    Vehicles (car, truck, bus) and vulnerable road users (people, cyclists) are clustered separately
    (DBSCAN, open3d), each group with its own radius; a cluster takes the class most of its points
    were painted with. Camera/lidar parallax paints a few points of an object with the class of
    whatever hides it from the camera; the vote within a group absorbs that.

    Points no camera sees (``UNKNOWN``) join the clusters they touch: a car that ego is passing is half
    out of the front camera's view, and fitting its box to the painted half alone slid the box forward
    (a metre) and turned it across the lane (closed loop, ``lead_vehicle_braking``). They shape the box
    but never vote for the class, and a cluster needs painted points to be anything.
    """
    xyz = np.asarray(points, dtype=np.float64)
    in_range = np.hypot(xyz[:, 0], xyz[:, 1]) < max_range
    painted = np.isin(labels, list(OBJECT_CLASSES)) & (confidence >= min_confidence) & in_range
    if not painted.any():
        return []
    ground = fit_ground(xyz)
    painted_index = np.flatnonzero(painted)
    painted_index = painted_index[height_above(xyz[painted_index], ground) > ground_threshold]
    unseen_index = np.flatnonzero((labels == UNKNOWN) & in_range)  # most of a sweep: keep those near objects
    unseen_index = unseen_index[_near_on_ground(xyz[painted_index, :2], xyz[unseen_index, :2], max(UNSEEN_REACH))]
    height = height_above(xyz[unseen_index], ground)
    unseen_index = unseen_index[(height > ground_threshold) & (height < MAX_VEHICLE_HEIGHT)]  # not walls, trees
    index = np.concatenate([painted_index, unseen_index])
    index = index[voxel_representatives(xyz[index], voxel)]
    unseen_index = index[labels[index] == UNKNOWN]
    clusters: list[list[NDArray[np.intp]]] = []  # per group: member indices of each cluster
    for (group, radius), reach in zip(CLUSTER_GROUPS, UNSEEN_REACH, strict=True):
        in_group = index[np.isin(labels[index], group)]
        clusters.append([])
        if len(in_group) == 0:
            continue
        # DBSCAN links the unseen points to the painted ones they touch; clusters of unseen points alone are
        # dropped below (nothing voted for a class).
        nearby = unseen_index[_near_on_ground(xyz[in_group, :2], xyz[unseen_index, :2], reach)]
        members = np.concatenate([in_group, nearby])
        ids = cluster_ids(xyz[members], radius)
        clusters[-1] = [members[ids == cluster] for cluster in range(int(ids.max(initial=-1)) + 1)]
    vehicles, people = _absorb_mispainted(xyz, labels, *clusters)
    vehicles = _join_slivers(xyz, labels, confidence, vehicles)
    detections = [_cluster_detection(xyz, labels, confidence, members) for members in vehicles + people]
    standing = np.flatnonzero(
        (labels != UNKNOWN) & (confidence >= min_confidence) & in_range & (height_above(xyz, ground) > ground_threshold)
    )
    plausible = []
    for detection, members in zip(detections, vehicles + people, strict=True):
        if detection is None:
            continue
        refusal = implausible(detection.kind, xyz, labels, members, standing, ground)
        if refusal is None:
            plausible.append(detection)
        elif rejected is not None:
            rejected.append(refusal)
    return plausible


def implausible(
    kind: str, xyz: NDArray, labels: NDArray, members: NDArray[np.intp], standing: NDArray[np.intp], ground: NDArray
) -> Rejection | None:
    """Why a cluster cannot be a ``kind`` (None: it can): the shape of its points painted as a road user, and
    what the other painted points standing in its footprint say."""
    own = members[np.isin(labels[members], list(OBJECT_CLASSES))]
    centre, sides, angle = fit_rectangle(xyz[own, :2])
    long_side, short_side = max(sides), min(sides)
    top = float(height_above(xyz[own], ground).max())
    max_long, max_short, min_top, max_top = PLAUSIBLE_SHAPE[kind]
    reason = None
    if long_side > max_long:
        reason = "too long"
    elif short_side > max_short:
        reason = "too wide"
    elif top < min_top:
        reason = "too low"
    elif top > max_top:
        reason = "too tall"
    else:
        axis_a = np.array([np.cos(angle), np.sin(angle)])
        offset = xyz[standing, :2] - centre
        half_a, half_b = (sides[0] / 2 + FOOTPRINT_MARGIN), (sides[1] / 2 + FOOTPRINT_MARGIN)
        inside = (np.abs(offset @ axis_a) <= half_a) & (np.abs(offset @ [-axis_a[1], axis_a[0]]) <= half_b)
        inside &= height_above(xyz[standing], ground) <= top + FOOTPRINT_MARGIN
        in_footprint = standing[inside]
        if len(in_footprint) and np.isin(labels[in_footprint], list(OBJECT_CLASSES)).mean() < MIN_OWN_SHARE:
            reason = "mostly structure"
    if reason is None:
        return None
    return Rejection(kind, reason, np.array([centre[0], centre[1], 0.0]), (long_side, short_side), top)


def _absorb_mispainted(
    xyz: NDArray, labels: NDArray, vehicles: list[NDArray[np.intp]], people: list[NDArray[np.intp]]
) -> tuple[list[NDArray[np.intp]], list[NDArray[np.intp]]]:
    """A few points of a cyclist or pedestrian painted as a vehicle cluster on their own, and grown to a
    vehicle's prior size that became an 8 m ghost truck riding along with the cyclist (closed loop,
    ``cyclist_and_signals``). A vehicle cluster with fewer painted points than a person or cyclist cluster
    it touches (within ``TOUCH`` m) is that person's: its painted points join their vote. A person beside
    a car keeps their own detection: the car's cluster is the larger."""
    kept = []
    people = list(people)
    people_painted = [person[labels[person] != UNKNOWN] for person in people]  # once, not per vehicle
    for members in vehicles:
        painted = members[labels[members] != UNKNOWN]
        host = None
        for index, person_painted in enumerate(people_painted):
            if (
                len(person_painted) > len(painted)
                and _near_on_ground(xyz[person_painted, :2], xyz[painted, :2], TOUCH).any()
            ):
                host = index
                break
        if host is None:
            kept.append(members)
        else:
            people[host] = np.concatenate([people[host], painted])
            people_painted[host] = np.concatenate([people_painted[host], painted])
    return kept, people


def _footprint(xy: NDArray) -> tuple[float, float]:
    """(long, short) sides of the rectangle the points on the ground hug."""
    _, sides, _ = fit_rectangle(xy)
    return max(sides), min(sides)


def _join_slivers(
    xyz: NDArray, labels: NDArray, confidence: NDArray, vehicles: list[NDArray[np.intp]]
) -> list[NDArray[np.intp]]:
    """A vehicle passing behind another is seen in pieces: its front, and columns of its side through the gaps
    past the occluder. Each column, grown to a truck's prior size along the line of sight, became an 8 m
    ghost truck in ego's lane beside the stopped car it was seen past (closed loop, ``lead_vehicle_braking``).
    A sliver joins the nearest larger vehicle cluster that, with it, still fits that vehicle's prior
    footprint; a sliver no vehicle can take (a car far away, seen end on) stays a detection of its own."""
    if len(vehicles) < 2:
        return vehicles
    # Extent along map axes: enough to tell a column from a vehicle, without fitting every cluster twice.
    slivers = [index for index, members in enumerate(vehicles) if np.ptp(xyz[members, :2], axis=0).max() <= SLIVER]
    hosts = [index for index in range(len(vehicles)) if index not in slivers]
    if not slivers or not hosts:
        return vehicles
    classes = [_vote(labels, confidence, members) for members in vehicles]
    joined = {index: vehicles[index] for index in hosts}
    kept = []
    for sliver in slivers:
        members = vehicles[sliver]
        centre = xyz[members, :2].mean(axis=0)
        host_distance = [
            (float(np.min(np.linalg.norm(xyz[joined[host], :2] - centre, axis=1))), host)
            for host in hosts
            if classes[host] == classes[sliver] != -1 and len(vehicles[host]) > len(members)
        ]
        for _, host in sorted(host_distance):
            union = np.concatenate([joined[host], members])
            _, _, prior = OBJECT_CLASSES[classes[host]]
            long_side, short_side = _footprint(xyz[union, :2])
            if long_side <= prior[0] + FITS_PRIOR and short_side <= prior[1] + FITS_PRIOR:
                joined[host] = union
                break
        else:
            kept.append(members)
    return [joined[index] for index in hosts] + kept


def _vote(labels: NDArray, confidence: NDArray, members: NDArray) -> int:
    """The class a cluster's painted points vote for (-1: none is painted)."""
    votes = _votes(labels, confidence, members[labels[members] != UNKNOWN])
    return int(votes.argmax()) if votes.any() else -1


def _votes(labels: NDArray, confidence: NDArray, painted: NDArray) -> NDArray[np.float64]:
    """Per train id, the confidence of the painted points that were painted with it."""
    return np.bincount(labels[painted], weights=confidence[painted], minlength=256)


def _near_on_ground(seeds: NDArray, candidates: NDArray, reach: float, cell: float = 0.5) -> NDArray[np.bool_]:
    """Which candidate points (N, 2) lie within about ``reach`` of a seed point (M, 2): a raster of the seeds'
    cells, dilated (linear in the points; most unseen points, all around ego, are nowhere near a seed)."""
    if len(candidates) == 0 or len(seeds) == 0:
        return np.zeros(len(candidates), dtype=bool)
    low = seeds.min(axis=0) - reach
    shape = np.ceil((seeds.max(axis=0) + reach - low) / cell).astype(int) + 1
    marked = np.zeros((shape[1], shape[0]), dtype=np.uint8)
    seed_cells = ((seeds - low) / cell).astype(int)
    marked[seed_cells[:, 1], seed_cells[:, 0]] = 1
    size = 2 * int(np.ceil(reach / cell)) + 1
    marked = cv2.dilate(marked, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    cells = np.floor((candidates - low) / cell).astype(int)
    inside = (cells[:, 0] >= 0) & (cells[:, 0] < shape[0]) & (cells[:, 1] >= 0) & (cells[:, 1] < shape[1])
    near = np.zeros(len(candidates), dtype=bool)
    near[inside] = marked[cells[inside, 1], cells[inside, 0]] > 0
    return near


def _cluster_detection(xyz: NDArray, labels: NDArray, confidence: NDArray, members: NDArray) -> Detection | None:
    """One cluster as a detection: class by confidence-weighted vote of its painted points, box by fit_box over
    all of them; None if too few are painted."""
    painted = members[labels[members] != UNKNOWN]
    if len(painted) == 0:
        return None
    votes = _votes(labels, confidence, painted)
    winner = int(votes.argmax())
    kind, min_points, prior = OBJECT_CLASSES[winner]
    if len(painted) < min_points:
        return None
    share = votes[winner] / max(votes.sum(), 1e-9)
    score = float(share * confidence[painted][labels[painted] == winner].mean())
    centre, yaw, size = fit_box(xyz[members], kind, prior)
    max_long, max_short, _, _ = PLAUSIBLE_SHAPE[kind]
    if size[0] > max_long or size[1] > max_short:
        # The unseen points that joined the painted ones are something else as well (a wall or a hedge the
        # camera does not see): no road user of this kind is that large, so the box is the painted points'.
        # (KITTI 000000: a 10 x 7 m "car" beside ego, its painted points a car's size.)
        centre, yaw, size = fit_box(xyz[painted], kind, prior)
    return Detection(kind, score, centre, yaw, size, len(members))
