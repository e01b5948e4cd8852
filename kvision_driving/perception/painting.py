"""PointPainting: give every lidar point the class and confidence of the pixel it projects to.

Vectorised over points. Points behind a camera, outside its image, hidden from the camera by something
nearer (the lidar sees around objects the camera cannot), or painted from a label image too far
in time get ``UNKNOWN`` with confidence 0. With several cameras, each point keeps the label
of the camera that is most confident about it. Ego motion between the lidar and camera stamps
can be compensated with the odometry poses at both instants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.camera import PinholeCamera
from kvision_driving.core.geometry import Matrix4, invert_transform, transform_points

UNKNOWN = 255


@dataclass(frozen=True)
class CameraView:
    """One camera's segmentation at one instant, and where that camera is relative to the lidar."""

    camera: PinholeCamera
    labels: NDArray[np.uint8]  # (H, W)
    confidence: NDArray[np.float32] | None  # (H, W) in 0..1, or None (then 1.0 where labelled)
    lidar_to_optical: Matrix4  # points in the lidar frame (at the lidar stamp) -> this camera's optical frame


def motion_compensation(base_at_lidar: Matrix4, base_at_camera: Matrix4) -> Matrix4:
    """base_link(camera time) <- base_link(lidar time), from the map poses of ego at both instants."""
    return invert_transform(base_at_camera) @ base_at_lidar


def compensated_lidar_to_optical(optical_in_base: Matrix4, lidar_in_base: Matrix4, compensation: Matrix4) -> Matrix4:
    """optical <- lidar, moving the points by ego's motion between the two stamps."""
    return invert_transform(optical_in_base) @ compensation @ lidar_in_base


def camera_view(
    camera: PinholeCamera,
    labels: NDArray[np.uint8],
    confidence: NDArray[np.float32] | None,
    *,
    optical_in_base: Matrix4,
    lidar_in_base: Matrix4,
    base_at_lidar: Matrix4 | None = None,
    base_at_camera: Matrix4 | None = None,
) -> CameraView:
    """One camera's labels as a sweep sees them: with ego's map poses at the sweep's and at the image's stamp,
    the points are moved by the motion between them (ego covers 0.5 m in 50 ms at 36 km/h); without, as is."""
    compensation = np.eye(4)
    if base_at_lidar is not None and base_at_camera is not None:
        compensation = motion_compensation(base_at_lidar, base_at_camera)
    return CameraView(
        camera, labels, confidence, compensated_lidar_to_optical(optical_in_base, lidar_in_base, compensation)
    )


OCCLUSION_BLOCK = 6  # pixels; a lidar point farther than its block's nearest point is hidden from the camera
OCCLUSION_MARGIN = (0.05, 0.4)  # relative and absolute depth slack (m)


def _nearest_in_block(
    u: NDArray[np.intp], v: NDArray[np.intp], depth: NDArray[np.float64], width: int
) -> NDArray[np.bool_]:
    """Points that are (about) the nearest in their image block: the camera sees them, not what hides them.

    The lidar sits apart from the camera, so it hits surfaces the camera cannot see (a wall behind a
    car); painted with the pixel's label they would become phantom cars. A coarse z-buffer of the
    lidar points themselves tells which ones the camera sees.
    """
    blocks = (v // OCCLUSION_BLOCK) * (width // OCCLUSION_BLOCK + 1) + u // OCCLUSION_BLOCK
    nearest = np.full(int(blocks.max()) + 1 if len(blocks) else 0, np.inf)
    np.minimum.at(nearest, blocks, depth)
    limit = nearest[blocks]
    return depth <= limit * (1.0 + OCCLUSION_MARGIN[0]) + OCCLUSION_MARGIN[1]


def paint(points: NDArray[np.floating], views: list[CameraView]) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """(labels, confidence) per point (N,) from every camera view; UNKNOWN/0 where no camera sees it."""
    count = len(points)
    labels = np.full(count, UNKNOWN, dtype=np.uint8)
    confidence = np.zeros(count, dtype=np.float32)
    for view in views:
        if view.labels.shape != (view.camera.height, view.camera.width):
            raise ValueError(
                f"label image {view.labels.shape[1]}x{view.labels.shape[0]} does not match camera info "
                f"{view.camera.width}x{view.camera.height}"
            )
        optical = transform_points(view.lidar_to_optical, np.asarray(points, dtype=np.float64))
        uv, inside = view.camera.project(optical)
        index = np.flatnonzero(inside)
        u = uv[index, 0].astype(np.intp)
        v = uv[index, 1].astype(np.intp)
        visible = _nearest_in_block(u, v, optical[index, 2], view.camera.width)
        index, u, v = index[visible], u[visible], v[visible]
        view_labels = view.labels[v, u]
        view_confidence = view.confidence[v, u] if view.confidence is not None else np.ones(len(index), np.float32)
        better = view_confidence > confidence[index]
        labels[index[better]] = view_labels[better]
        confidence[index[better]] = view_confidence[better]
    return labels, confidence
