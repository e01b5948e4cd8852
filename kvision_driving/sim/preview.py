"""Contact sheets a person can read at a glance: camera, labels, annotated boxes, bird's-eye view."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.boxes import box_corners, box_corners_3d
from kvision_driving.core.camera import project_box_to_image
from kvision_driving.core.geometry import invert_transform, transform_points
from kvision_driving.core.labels import PALETTE, TRAIN_ID, colorize
from kvision_driving.core.vehicle import EGO_LENGTH, EGO_WIDTH, REAR_AXLE_TO_CENTRE
from kvision_driving.sim.simulator import SimFrame, Simulator

BEV_SIZE = (640, 384)  # width, height in pixels
BEV_RESOLUTION = 0.125  # metres per pixel
BEV_BEHIND = 20.0  # metres of view behind base_link
KIND_COLOURS = {"car": (255, 80, 40), "truck": (220, 60, 160), "bicycle": (40, 200, 255), "pedestrian": (40, 40, 255)}


def _to_bev(points_base: NDArray) -> NDArray[np.int32]:
    """base_link x (forward, to the right of the image) and y (left, up) to pixels."""
    u = (points_base[:, 0] + BEV_BEHIND) / BEV_RESOLUTION
    v = BEV_SIZE[1] / 2 - points_base[:, 1] / BEV_RESOLUTION
    return np.stack([u, v], axis=1).round().astype(np.int32)


def bev_image(simulator: Simulator, frame: SimFrame) -> NDArray[np.uint8]:
    """Bird's-eye view around ego: lidar points coloured by label, ground-truth boxes, route, ego. (BGR)"""
    image = np.full((BEV_SIZE[1], BEV_SIZE[0], 3), 24, dtype=np.uint8)
    base_from_map = invert_transform(simulator.ego_pose())
    route_xy, _ = simulator.route.pose(np.arange(0.0, simulator.route.length, 1.0))
    route = _to_bev(transform_points(base_from_map, np.column_stack([route_xy, np.zeros(len(route_xy))])))
    cv2.polylines(image, [route], False, (90, 90, 90), 2, cv2.LINE_AA)
    if frame.lidar is not None and simulator.lidar_spec is not None:
        lidar = frame.lidar
        xyz = np.stack([lidar["x"], lidar["y"], lidar["z"]], axis=1).astype(np.float64)
        in_base = transform_points(simulator.lidar_spec.in_base(), xyz)
        pixels = _to_bev(in_base)
        inside = (pixels[:, 0] >= 0) & (pixels[:, 0] < BEV_SIZE[0]) & (pixels[:, 1] >= 0) & (pixels[:, 1] < BEV_SIZE[1])
        labels = np.minimum(lidar["label"][inside], len(PALETTE) - 1)
        # Stuff (road, buildings...) dimmed so that things (people, vehicles) stand out.
        colours = PALETTE[labels][:, ::-1] * np.where(labels <= TRAIN_ID["sky"], 0.45, 1.0)[:, None]
        image[pixels[inside, 1], pixels[inside, 0]] = colours.astype(np.uint8)
    for obj in frame.objects:
        corners = box_corners(obj.centre[0], obj.centre[1], obj.yaw, obj.size[0], obj.size[1])
        pixels = _to_bev(transform_points(base_from_map, np.column_stack([corners, np.zeros(4)])))
        colour = KIND_COLOURS.get(obj.kind, (200, 200, 200))
        cv2.polylines(image, [pixels], True, colour, 2, cv2.LINE_AA)
        if not obj.parked:
            future = transform_points(base_from_map, np.column_stack([obj.future[:, :2], np.zeros(len(obj.future))]))
            cv2.polylines(image, [_to_bev(future)], False, colour, 1, cv2.LINE_AA)
            anchor = pixels.min(axis=0)
            cv2.putText(
                image,
                obj.action,
                (int(anchor[0]), int(anchor[1]) - 3),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.35,
                (230, 230, 230),
                1,
                cv2.LINE_AA,
            )
    ego = box_corners(REAR_AXLE_TO_CENTRE, 0.0, 0.0, EGO_LENGTH, EGO_WIDTH)
    cv2.fillPoly(image, [_to_bev(np.column_stack([ego, np.zeros(4)]))], (80, 220, 80))
    return image


def annotated_camera(simulator: Simulator, frame: SimFrame) -> NDArray[np.uint8]:
    """The first camera with ground-truth image boxes and actions. (BGR)"""
    spec = simulator.camera_specs[0]
    image = np.ascontiguousarray(frame.cameras[spec.name].rgb[:, :, ::-1])
    map_to_optical = invert_transform(simulator.ego_pose() @ spec.optical_in_base())
    camera = spec.intrinsics()
    instances = frame.cameras[spec.name].instances
    for obj in frame.objects:
        corners = transform_points(map_to_optical, box_corners_3d(obj.centre, obj.yaw, obj.size))
        box = project_box_to_image(corners, camera)
        if box is None:
            continue
        u0, v0, u1, v1 = (round(value) for value in box)
        if np.count_nonzero(instances[v0:v1, u0:u1] == obj.actor_id) < 30:
            continue
        colour = KIND_COLOURS.get(obj.kind, (200, 200, 200))
        cv2.rectangle(image, (u0, v0), (u1, v1), colour, 1, cv2.LINE_AA)
        cv2.putText(image, obj.action, (u0, max(v0 - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
    return image


def contact_sheet(simulator: Simulator, frame: SimFrame) -> NDArray[np.uint8]:
    """2x2: camera | ground-truth labels, annotated camera | bird's-eye view. (BGR)"""
    spec = simulator.camera_specs[0]
    camera = frame.cameras[spec.name]
    size = (spec.width, spec.height)
    top = np.hstack([camera.rgb[:, :, ::-1], colorize(camera.labels)[:, :, ::-1]])
    bev = cv2.resize(bev_image(simulator, frame), size, interpolation=cv2.INTER_NEAREST)
    bottom = np.hstack([annotated_camera(simulator, frame), bev])
    sheet = np.vstack([top, bottom])
    title = (
        f"{simulator.scenario.name}  seed {simulator.scenario.seed}  t={frame.time_s:.1f}s  ego {frame.ego.v:.1f} m/s"
    )
    cv2.putText(sheet, title, (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return sheet


def write_preview(simulator: Simulator, times_s: list[float], out: Path) -> list[Path]:
    """Drive the scenario with the autopilot and write a contact sheet at each time in ``times_s``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    wanted = sorted(round(t / 0.05) for t in times_s)
    while wanted and not simulator.done:
        if simulator.step_index >= wanted[0]:
            frame = simulator.render()
            if frame.lidar is None and simulator.lidar_spec is not None:  # lidar runs at 10 Hz: use its step
                simulator.advance(*simulator.autopilot_command())
                continue
            path = out / f"{simulator.scenario.name}_{frame.time_s:05.1f}s.png"
            cv2.imwrite(str(path), contact_sheet(simulator, frame))
            written.append(path)
            wanted.pop(0)
        simulator.advance(*simulator.autopilot_command())
    return written
