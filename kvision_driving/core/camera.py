"""Pinhole camera model (the numpy side of sensor_msgs/CameraInfo)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

DISTORTION_MODELS = ("plumb_bob", "rational_polynomial", "equidistant", "")
#: Coefficients each model takes (sensor_msgs/distortion_models.h); none at all means an ideal lens.
DISTORTION_COEFFICIENTS = {"plumb_bob": (5,), "rational_polynomial": (8, 12, 14), "equidistant": (4,), "": (0,)}
#: Larger than any automotive camera; a bigger size is a corrupted message, not a camera.
MAX_CAMERA_SIDE = 16384


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics of one camera, in the optical frame (z forward, x right, y down).

    ``k`` is the 3x3 intrinsic matrix of the raw image, ``d`` the distortion coefficients,
    ``r`` the rectification rotation and ``p`` the 3x4 projection of the rectified image,
    exactly as in sensor_msgs/CameraInfo.
    """

    width: int
    height: int
    k: NDArray[np.float64]
    d: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    distortion_model: str = "plumb_bob"
    r: NDArray[np.float64] = field(default_factory=lambda: np.eye(3))
    p: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        k = np.asarray(self.k, dtype=np.float64).reshape(3, 3)
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "d", np.asarray(self.d, dtype=np.float64).ravel())
        object.__setattr__(self, "r", np.asarray(self.r, dtype=np.float64).reshape(3, 3))
        if self.p is None:
            object.__setattr__(self, "p", np.hstack([k, np.zeros((3, 1))]))
        else:
            object.__setattr__(self, "p", np.asarray(self.p, dtype=np.float64).reshape(3, 4))
        self.validate()

    @classmethod
    def from_fov(cls, width: int, height: int, horizontal_fov_rad: float) -> PinholeCamera:
        """An ideal camera (square pixels, centred principal point) with the given horizontal FOV."""
        fx = (width / 2.0) / np.tan(horizontal_fov_rad / 2.0)
        k = np.array([[fx, 0.0, width / 2.0], [0.0, fx, height / 2.0], [0.0, 0.0, 1.0]])
        return cls(width=width, height=height, k=k, d=np.zeros(5))

    @property
    def fx(self) -> float:
        return float(self.k[0, 0])

    @property
    def fy(self) -> float:
        return float(self.k[1, 1])

    @property
    def cx(self) -> float:
        return float(self.k[0, 2])

    @property
    def cy(self) -> float:
        return float(self.k[1, 2])

    def validate(self) -> None:
        """Raise ValueError when the intrinsics cannot describe a real camera."""
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera size {self.width}x{self.height} is not positive")
        if self.width > MAX_CAMERA_SIDE or self.height > MAX_CAMERA_SIDE:
            raise ValueError(f"camera size {self.width}x{self.height} exceeds {MAX_CAMERA_SIDE} per side")
        if not (np.all(np.isfinite(self.k)) and np.all(np.isfinite(self.p)) and np.all(np.isfinite(self.d))):
            raise ValueError("camera intrinsics contain NaN or inf")
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"focal lengths must be positive (fx={self.fx}, fy={self.fy})")
        if self.distortion_model not in DISTORTION_MODELS:
            raise ValueError(f"unknown distortion model {self.distortion_model!r}")
        counts = DISTORTION_COEFFICIENTS[self.distortion_model]
        if self.d.size and self.d.size not in counts:
            model = self.distortion_model or "no"
            raise ValueError(f"{model} distortion takes {counts} coefficients, got {self.d.size}")
        if not np.allclose(self.r @ self.r.T, np.eye(3), atol=1e-3) or np.linalg.det(self.r) < 0:
            raise ValueError("rectification matrix R is not a rotation")

    def project(self, points_optical: NDArray[np.floating]) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        """Project (N, 3) points in the optical frame to pixels with K (no distortion).

        Returns (N, 2) float32 pixel coordinates and a mask of points in front of the camera
        and inside the image.
        """
        pts = np.asarray(points_optical, dtype=np.float32)
        z = pts[:, 2]
        in_front = z > 1e-3
        safe_z = np.where(in_front, z, 1.0)
        u = self.fx * pts[:, 0] / safe_z + self.cx
        v = self.fy * pts[:, 1] / safe_z + self.cy
        uv = np.stack([u, v], axis=1).astype(np.float32, copy=False)
        inside = in_front & (u >= 0) & (u < self.width) & (v >= 0) & (v < self.height)
        return uv, inside


def project_box_to_image(
    corners_optical: NDArray[np.floating], camera: PinholeCamera, min_size_px: float = 4.0
) -> tuple[float, float, float, float] | None:
    """Image rectangle (u0, v0, u1, v1) of a 3-D box given by its 8 corners in the optical frame.

    Corners behind the camera are clipped to a near plane first, so a box that straddles the
    camera still gets the right extent. None when nothing of it is in front, or the visible
    rectangle is smaller than ``min_size_px`` either way.
    """
    corners = np.asarray(corners_optical, dtype=np.float64)
    near = 0.5
    if np.all(corners[:, 2] < near):
        return None
    # Clip each edge of the box against the near plane (12 edges via all corner pairs is simpler and enough).
    points = [corner for corner in corners if corner[2] >= near]
    for i in range(8):
        for j in range(i + 1, 8):
            a, b = corners[i], corners[j]
            if (a[2] - near) * (b[2] - near) < 0:
                t = (near - a[2]) / (b[2] - a[2])
                points.append(a + t * (b - a))
    pts = np.array(points)
    u = camera.fx * pts[:, 0] / pts[:, 2] + camera.cx
    v = camera.fy * pts[:, 1] / pts[:, 2] + camera.cy
    u0, u1 = np.clip([u.min(), u.max()], 0, camera.width)
    v0, v1 = np.clip([v.min(), v.max()], 0, camera.height)
    if u1 - u0 < min_size_px or v1 - v0 < min_size_px:
        return None
    return float(u0), float(v0), float(u1), float(v1)
