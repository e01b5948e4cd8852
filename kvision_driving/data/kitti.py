"""KITTI object/raw folders: calibration, velodyne scans, images and labels, in our frames.

Frames: ``velodyne`` (x forward, y left, z up) is the lidar; ``base_link`` is the same frame moved
down to the road (the HDL-64E sits 1.73 m above it on the KITTI car); ``camera_2_optical`` is the
rectified left colour camera (x right, y down, z forward). ``Tr_velo_to_cam`` maps velodyne to
the unrectified camera 0, ``R0_rect`` rectifies it, and ``P2`` projects into image 2, whose
rectified frame is camera 0's shifted by K^-1 times P2's fourth column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.camera import PinholeCamera
from kvision_driving.core.geometry import Matrix4, invert_transform, make_transform

VELODYNE_HEIGHT = 1.73  # m above the road, KITTI setup (a folder's own is measured: lidar_height)
# Object types of KITTI's label_2 files, and of Argoverse 1 logs converted to the KITTI layout (upper case).
# Anything else (DontCare, Misc, ON_ROAD_OBSTACLE, STROLLER, ANIMAL...) is no road user we detect.
KITTI_KINDS = {
    "Car": "car",
    "Van": "car",
    "Truck": "truck",
    "Pedestrian": "pedestrian",
    "Person_sitting": "pedestrian",
    "Cyclist": "bicycle",
    "Tram": "bus",
    "VEHICLE": "car",
    "EMERGENCY_VEHICLE": "car",
    "LARGE_VEHICLE": "truck",
    "TRAILER": "truck",
    "BUS": "bus",
    "SCHOOL_BUS": "bus",
    "PEDESTRIAN": "pedestrian",
    "BICYCLIST": "bicycle",
    "MOTORCYCLIST": "motorcycle",
}


class KittiError(ValueError):
    """A KITTI file that is missing or malformed; the message names it."""


@dataclass(frozen=True)
class KittiCalibration:
    p2: NDArray[np.float64]  # 3x4
    r0_rect: NDArray[np.float64]  # 3x3
    velo_to_cam0: NDArray[np.float64]  # 3x4

    def camera(self, width: int, height: int) -> PinholeCamera:
        """Camera 2's intrinsics (the translation of P2 is in the extrinsics instead)."""
        return PinholeCamera(width=width, height=height, k=self.p2[:, :3], d=np.zeros(5))

    def velodyne_to_camera2(self) -> Matrix4:
        """camera_2_optical <- velodyne."""
        rectify = make_transform(self.r0_rect)
        velo_to_cam0 = np.vstack([self.velo_to_cam0, [0.0, 0.0, 0.0, 1.0]])
        # P2 = K [I | t]: its fourth column is K t, the offset of camera 2 from rectified camera 0.
        shift = make_transform(translation=np.linalg.solve(self.p2[:, :3], self.p2[:, 3]))
        return shift @ rectify @ velo_to_cam0

    def rect_cam0_to_velodyne(self) -> Matrix4:
        """velodyne <- rectified camera 0 (the frame KITTI labels are given in)."""
        return invert_transform(make_transform(self.r0_rect) @ np.vstack([self.velo_to_cam0, [0, 0, 0, 1]]))


def read_calibration(path: Path) -> KittiCalibration:
    """Parse a KITTI calib file (object ``calib/000000.txt`` layout: ``KEY: v1 v2 ...`` lines)."""
    if not path.is_file():
        raise KittiError(f"calibration file {path} not found")
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError as error:
        raise KittiError(f"{path}: not a text calibration file ({error.reason} at byte {error.start})") from error
    values: dict[str, NDArray[np.float64]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, _, rest = line.partition(":")
        try:
            values[key.strip()] = np.array([float(v) for v in rest.split()])
        except ValueError as error:
            raise KittiError(f"{path}:{number}: not numbers: {line[:60]!r}") from error
    expected = {"P2": 12, "R0_rect": 9, "Tr_velo_to_cam": 12}
    for key, size in expected.items():
        if key not in values or values[key].size != size:
            raise KittiError(f"{path}: {key} missing or not {size} numbers")
    calibration = KittiCalibration(
        values["P2"].reshape(3, 4), values["R0_rect"].reshape(3, 3), values["Tr_velo_to_cam"].reshape(3, 4)
    )
    if not all(np.all(np.isfinite(values[key])) for key in expected):
        raise KittiError(f"{path}: NaN or inf in {', '.join(expected)}")
    if calibration.p2[0, 0] <= 0:
        raise KittiError(f"{path}: P2 is not a valid projection")
    return calibration


def read_velodyne(path: Path) -> NDArray[np.float32]:
    """(N, 4) x, y, z, reflectance in the velodyne frame."""
    if not path.is_file():
        raise KittiError(f"velodyne scan {path} not found")
    data = np.fromfile(path, dtype="<f4")
    if data.size % 4:
        raise KittiError(f"{path}: {data.size} floats is not a whole number of (x, y, z, reflectance) points")
    return data.reshape(-1, 4)


def read_image(path: Path) -> NDArray[np.uint8]:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise KittiError(f"image {path} not found or unreadable")
    return np.ascontiguousarray(image[:, :, ::-1])


@dataclass(frozen=True)
class KittiObject:
    kind: str
    box_2d: tuple[float, float, float, float]  # left, top, right, bottom in image 2
    centre_velodyne: NDArray[np.float64]  # box centre (not bottom) in the velodyne frame
    yaw_velodyne: float
    size: tuple[float, float, float]  # length, width, height


def read_labels(path: Path, calibration: KittiCalibration) -> list[KittiObject]:
    """Objects of a label_2 file (DontCare and unknown types skipped), converted to the velodyne frame."""
    if not path.is_file():
        return []
    objects = []
    to_velodyne = calibration.rect_cam0_to_velodyne()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields or fields[0] not in KITTI_KINDS:
            continue
        if len(fields) < 15:
            raise KittiError(f"{path}:{number}: a label line has 15 fields, found {len(fields)}")
        left, top, right, bottom = (float(v) for v in fields[4:8])
        height, width, length = (float(v) for v in fields[8:11])
        x, y, z, rotation_y = (float(v) for v in fields[11:15])
        centre_cam = np.array([x, y - height / 2, z, 1.0])  # camera y points down: the centre is above the bottom
        centre = (to_velodyne @ centre_cam)[:3]
        yaw = float(np.arctan2(np.sin(-rotation_y - np.pi / 2), np.cos(-rotation_y - np.pi / 2)))
        objects.append(
            KittiObject(KITTI_KINDS[fields[0]], (left, top, right, bottom), centre, yaw, (length, width, height))
        )
    return objects


def lidar_height(points: NDArray[np.floating], near: float = 3.0, far: float = 30.0) -> float | None:
    """Height of the lidar frame's origin above the road (m), from the scan itself: the dominant level plane
    among the lowest returns 3-30 m around (RANSAC, open3d; a busy street's people and cars outnumber the
    road among the lower half of the returns). KITTI's HDL-64E sits 1.73 m up; logs of other
    vehicles converted to the KITTI layout often put the origin elsewhere (Argoverse: the ego frame, near the
    ground). None when no level plane is found."""
    import open3d as o3d

    xyz = np.asarray(points[:, :3], dtype=np.float64)
    distance = np.hypot(xyz[:, 0], xyz[:, 1])
    ring = xyz[(distance > near) & (distance < far)]
    if len(ring) < 100:
        return None
    low = ring[ring[:, 2] < np.percentile(ring[:, 2], 15)]
    low = low[:: max(1, len(low) // 20_000)]
    o3d.utility.random.seed(0)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(low))
    plane, inliers = cloud.segment_plane(distance_threshold=0.1, ransac_n=3, num_iterations=500)
    _, _, c, d = plane
    if abs(c) < 0.95 or len(inliers) < 0.3 * len(low):
        return None
    return float(d / c)  # the plane z = -d / c below the origin


@dataclass(frozen=True)
class KittiFrame:
    name: str
    image: NDArray[np.uint8]
    points: NDArray[np.float32]
    calibration: KittiCalibration
    objects: list[KittiObject]


def find_frames(root: Path) -> list[KittiFrame]:
    """Frames of a KITTI folder: the object layout (calib/ image_2/ velodyne/ label_2/ with NNNNNN files)
    or one frame per sub-folder holding calib.txt, image_2.png, velodyne.bin and optional label_2.txt."""
    root = Path(root)
    if (root / "velodyne").is_dir():
        names = sorted(path.stem for path in (root / "velodyne").glob("*.bin"))
        paths = [
            (
                n,
                root / "calib" / f"{n}.txt",
                root / "image_2" / f"{n}.png",
                root / "velodyne" / f"{n}.bin",
                root / "label_2" / f"{n}.txt",
            )
            for n in names
        ]
    else:
        folders = (
            [root]
            if (root / "velodyne.bin").exists()
            else sorted(p for p in root.iterdir() if (p / "velodyne.bin").exists())
        )
        paths = [(f.name, f / "calib.txt", f / "image_2.png", f / "velodyne.bin", f / "label_2.txt") for f in folders]
    if not paths:
        raise KittiError(f"no KITTI frames under {root} (expected velodyne/*.bin or */velodyne.bin)")
    frames = []
    for name, calib, image, velodyne, labels in paths:
        calibration = read_calibration(calib)
        frames.append(
            KittiFrame(name, read_image(image), read_velodyne(velodyne), calibration, read_labels(labels, calibration))
        )
    return frames
