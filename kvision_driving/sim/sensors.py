"""Camera and lidar by ray casting (open3d RaycastingScene), with exact per-pixel and per-point labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from kvision_driving.core.camera import PinholeCamera
from kvision_driving.core.geometry import Matrix4, make_transform
from kvision_driving.core.labels import TRAIN_ID
from kvision_driving.sim.appearance import PLAIN, Lighting, surface_texture
from kvision_driving.sim.materials import MATERIAL_EMISSIVE, MATERIAL_REFLECTIVITY
from kvision_driving.sim.mesh import Mesh

SKY = TRAIN_ID["sky"]
# Optical frame (z forward, x right, y down) expressed in a body frame (x forward, y left, z up).
OPTICAL_IN_BODY = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
SHADOW_OFFSET = 0.03  # m off the surface, along its normal, where a shadow ray starts

LIDAR_DTYPE = np.dtype(
    [
        ("x", "<f4"),
        ("y", "<f4"),
        ("z", "<f4"),
        ("intensity", "<f4"),
        ("ring", "<u2"),
        ("label", "u1"),
        ("instance", "<u2"),
    ]
)


def mount_transform(mount: tuple[float, float, float, float, float, float]) -> Matrix4:
    """base_link <- sensor body frame from (x, y, z, roll, pitch, yaw)."""
    x, y, z, roll, pitch, yaw = mount
    return make_transform(Rotation.from_euler("xyz", [roll, pitch, yaw]).as_matrix(), [x, y, z])


@dataclass(frozen=True)
class CameraSpec:
    name: str = "front"
    width: int = 640
    height: int = 384
    hfov_deg: float = 90.0
    mount: tuple[float, float, float, float, float, float] = (1.5, 0.0, 1.5, 0.0, 0.0, 0.0)

    @property
    def frame_id(self) -> str:
        return f"camera_{self.name}_optical"

    def intrinsics(self) -> PinholeCamera:
        return PinholeCamera.from_fov(self.width, self.height, np.deg2rad(self.hfov_deg))

    def optical_in_base(self) -> Matrix4:
        """base_link <- optical frame."""
        body = mount_transform(self.mount)
        return body @ make_transform(OPTICAL_IN_BODY)


@dataclass(frozen=True)
class LidarSpec:
    name: str = "top"
    beams: int = 64
    columns: int = 1024
    elevation_deg: tuple[float, float] = (-24.9, 2.0)
    max_range: float = 100.0
    range_noise: float = 0.02
    dropout: float = 0.01
    mount: tuple[float, float, float, float, float, float] = (1.0, 0.0, 1.9, 0.0, 0.0, 0.0)

    @property
    def frame_id(self) -> str:
        return f"lidar_{self.name}"

    def in_base(self) -> Matrix4:
        return mount_transform(self.mount)

    def directions(self) -> NDArray[np.float32]:
        """(beams, columns, 3) unit ray directions in the lidar frame; beam 0 is the lowest."""
        elevation = np.deg2rad(np.linspace(self.elevation_deg[0], self.elevation_deg[1], self.beams))
        azimuth = np.linspace(np.pi, -np.pi, self.columns, endpoint=False)  # counter-clockwise scan from behind
        el, az = np.meshgrid(elevation, azimuth, indexing="ij")
        return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1).astype(np.float32)


#: Named camera rigs: the default single front camera, and a second camera for multi-camera tests
#: (60 degrees to the left, overlapping the front camera's field of view).
CAMERA_RIGS: dict[str, tuple[CameraSpec, ...]] = {
    "front": (CameraSpec(),),
    "front_left": (CameraSpec(), CameraSpec(name="left", mount=(1.2, 0.5, 1.5, 0.0, 0.0, np.deg2rad(60.0)))),
}


@dataclass
class CameraImage:
    rgb: NDArray[np.uint8]  # (H, W, 3)
    labels: NDArray[np.uint8]  # (H, W) Cityscapes train ids
    instances: NDArray[np.uint16]  # (H, W) actor ids, 0 for stuff
    depth: NDArray[np.float32]  # (H, W) metres along the ray, inf for sky


class SensorScene:
    """A ray-casting scene of the static world plus this instant's actors."""

    def __init__(self, static: Mesh, dynamic: Mesh) -> None:
        self.scene = o3d.t.geometry.RaycastingScene()
        self.meshes = []
        for mesh in (static, dynamic):
            if len(mesh.triangles):
                self.scene.add_triangles(o3d.core.Tensor(mesh.vertices), o3d.core.Tensor(mesh.triangles))
                self.meshes.append(mesh)
        # One attribute table over both meshes: index = geometry offset + primitive id.
        self._offsets = np.cumsum([0] + [len(mesh.triangles) for mesh in self.meshes[:-1]]).astype(np.int64)
        self.material = np.concatenate([mesh.material for mesh in self.meshes])
        # One extra entry at the end: a miss (triangle -1) reads as sky with no instance.
        self.label = np.concatenate([*(mesh.label for mesh in self.meshes), np.array([SKY], np.uint8)])
        self.instance = np.concatenate([*(mesh.instance for mesh in self.meshes), np.zeros(1, np.uint16)])
        # Per-triangle unit normals and one vertex: shading is computed per triangle, not per pixel.
        corners = [mesh.vertices[mesh.triangles] for mesh in self.meshes]
        self.anchor = np.concatenate([c[:, 0] for c in corners])
        normals = np.concatenate([np.cross(c[:, 1] - c[:, 0], c[:, 2] - c[:, 0]) for c in corners])
        self.normal = (normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def cast(self, rays: NDArray[np.float32]) -> dict[str, NDArray]:
        """Hit distance and triangle index (-1 for a miss) for rays (..., 6) = origin, direction."""
        result = self.scene.cast_rays(o3d.core.Tensor(rays))
        t_hit = result["t_hit"].numpy()
        geometry = result["geometry_ids"].numpy()
        hit = geometry != o3d.t.geometry.RaycastingScene.INVALID_ID
        # Global triangle index = the geometry's offset + primitive id; misses become -1.
        offsets = self._offsets[np.minimum(geometry, len(self._offsets) - 1)]
        triangle = result["primitive_ids"].numpy().astype(np.int64) + offsets
        triangle[~hit] = -1
        return {"t": t_hit, "triangle": triangle, "hit": hit}

    def triangle_shading(self, eye: NDArray[np.float32], lighting: Lighting) -> tuple[NDArray, NDArray, NDArray]:
        """Per triangle, for its side facing ``eye``: albedo, the sun's cosine on it (0 for emissive lights), and
        the unit normal of that side; one more entry at the end for a miss."""
        side = np.sign(np.einsum("ij,ij->i", eye[None] - self.anchor, self.normal)).astype(np.float32)
        facing = self.normal * side[:, None]
        emissive = MATERIAL_EMISSIVE[self.material]
        sun = np.where(emissive, np.float32(0.0), np.maximum(facing @ lighting.sun, 0.0)).astype(np.float32)
        albedo = lighting.palette[self.material]
        return (
            np.concatenate([albedo, np.zeros((1, 3), np.float32)]),
            np.concatenate([sun, np.zeros(1, np.float32)]),
            np.concatenate([facing, np.zeros((1, 3), np.float32)]),
        )


class CameraRenderer:
    """Shades ray hits: albedo x (ambient + sun) per triangle, emissive lights at full strength, fog, a sky
    gradient, gamma and a little sensor noise, vectorised with lookup tables; with a ``Lighting`` that asks
    for them, surface texture and cast shadows per pixel (sim/appearance.py)."""

    GAMMA_LEVELS = 1024
    NOISE_ROWS = 64

    def __init__(self, spec: CameraSpec, lighting: Lighting = PLAIN) -> None:
        self.spec = spec
        self.lighting = lighting
        camera = spec.intrinsics()
        u, v = np.meshgrid(np.arange(spec.width) + 0.5, np.arange(spec.height) + 0.5)
        rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)], axis=-1)
        self._rays_optical = (rays / np.linalg.norm(rays, axis=-1, keepdims=True)).astype(np.float32)
        self._rays = np.empty((spec.height, spec.width, 6), dtype=np.float32)  # reused every frame
        # Ego stays level, so each pixel's elevation, hence the sky, depends only on the mount.
        elevation = (self._rays_optical @ spec.optical_in_base()[:3, :3].T.astype(np.float32))[..., 2:3]
        blend = np.clip(elevation * 2.5, 0.0, 1.0)
        self._sky = (lighting.horizon * (1.0 - blend) + lighting.zenith * blend).astype(np.float32)
        levels = np.linspace(0.0, 2.0, 2 * self.GAMMA_LEVELS, dtype=np.float32)  # emissive colours exceed 1
        self._gamma = np.round(np.minimum(np.power(levels, 1.0 / 2.2), 1.0) * 255.0).astype(np.int16)
        noise_rng = np.random.default_rng(12345)
        self._noise = noise_rng.normal(0.0, 1.5, size=(spec.height + self.NOISE_ROWS, spec.width, 3)).round()
        self._noise = self._noise.astype(np.int16)

    def render(self, scene: SensorScene, optical_in_map: Matrix4, rng: np.random.Generator) -> CameraImage:
        lighting = self.lighting
        rays = self._rays
        eye = optical_in_map[:3, 3].astype(np.float32)
        rays[..., :3] = eye
        np.matmul(self._rays_optical, optical_in_map[:3, :3].T.astype(np.float32), out=rays[..., 3:])
        result = scene.cast(rays)
        triangle = result["triangle"]  # -1 for sky: the tables' last entry
        labels = scene.label[triangle]
        instances = scene.instance[triangle]
        albedo, sun, facing = scene.triangle_shading(eye, lighting)
        colour, lit = albedo[triangle], sun[triangle]
        if lighting.shadows or lighting.texture.any():
            hit = result["hit"]
            points = rays[hit][:, :3] + rays[hit][:, 3:] * result["t"][hit][:, None]
            if lighting.shadows:
                lit[hit] *= self._unshadowed(scene, points, facing[triangle[hit]], lit[hit], lighting)
            if lighting.texture.any():
                amount = lighting.texture[scene.material[triangle[hit]]]
                colour[hit] *= (1.0 + amount * surface_texture(points, lighting.seed))[:, None]
        emissive = np.concatenate([MATERIAL_EMISSIVE[scene.material], [False]])[triangle]
        shade = np.where(emissive, np.float32(1.15), lighting.ambient + lighting.direct * lit).astype(np.float32)
        colour *= shade[..., None]
        # Fog fades distant surfaces into the sky behind them; a miss (t = inf) is all sky.
        fog = (1.0 - np.exp(result["t"] * np.float32(-1.0 / 250.0)))[..., None]
        colour += (self._sky - colour) * fog
        index = (np.clip(colour, 0.0, 1.99) * np.float32(self.GAMMA_LEVELS - 1)).astype(np.int16)
        offset = int(rng.integers(self.NOISE_ROWS))
        srgb = self._gamma[index] + self._noise[offset : offset + self.spec.height]
        rgb = np.clip(srgb, 0, 255).astype(np.uint8)
        return CameraImage(rgb=rgb, labels=labels, instances=instances, depth=result["t"])

    @staticmethod
    def _unshadowed(
        scene: SensorScene, points: NDArray, normals: NDArray, lit: NDArray, lighting: Lighting
    ) -> NDArray[np.float32]:
        """1 where the sun reaches a lit surface point, 0 where something stands between them."""
        sunny = np.flatnonzero(lit > 0)
        free = np.ones(len(points), np.float32)
        if len(sunny):
            origins = points[sunny] + normals[sunny] * np.float32(SHADOW_OFFSET)
            rays = np.concatenate([origins, np.broadcast_to(lighting.sun, origins.shape)], axis=1).astype(np.float32)
            free[sunny[scene.cast(rays)["hit"]]] = 0.0
        return free


class LidarRenderer:
    def __init__(self, spec: LidarSpec) -> None:
        self.spec = spec
        self._directions = spec.directions()
        self._rings = np.broadcast_to(np.arange(spec.beams, dtype=np.uint16)[:, None], (spec.beams, spec.columns))
        self._rays = np.empty((spec.beams, spec.columns, 6), dtype=np.float32)

    def render(self, scene: SensorScene, lidar_in_map: Matrix4, rng: np.random.Generator) -> NDArray[np.void]:
        """A structured array (LIDAR_DTYPE) of returns in the lidar frame, ordered by beam then column."""
        spec = self.spec
        rays = self._rays
        rays[..., :3] = lidar_in_map[:3, 3].astype(np.float32)
        np.matmul(self._directions, lidar_in_map[:3, :3].T.astype(np.float32), out=rays[..., 3:])
        directions_map = rays[..., 3:]
        result = scene.cast(rays)
        distance = result["t"]
        keep = result["hit"] & (distance < spec.max_range) & (distance > 0.5)
        keep &= rng.random(keep.shape) >= spec.dropout
        triangle = result["triangle"][keep]
        noisy = distance[keep] + rng.normal(0.0, spec.range_noise, size=triangle.shape).astype(np.float32)
        points_local = self._directions[keep] * noisy[:, None]
        cos_incidence = np.abs(np.einsum("ij,ij->i", scene.normal[triangle], directions_map[keep]))
        intensity = 255.0 * MATERIAL_REFLECTIVITY[scene.material[triangle]] * (0.3 + 0.7 * cos_incidence)
        cloud = np.empty(len(triangle), dtype=LIDAR_DTYPE)
        cloud["x"], cloud["y"], cloud["z"] = points_local[:, 0], points_local[:, 1], points_local[:, 2]
        cloud["intensity"] = intensity
        cloud["ring"] = self._rings[keep]
        cloud["label"] = scene.label[triangle]
        cloud["instance"] = scene.instance[triangle]
        return cloud
