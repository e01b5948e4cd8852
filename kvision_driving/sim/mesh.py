"""Triangle meshes with a material, a class label and an instance id on every triangle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kvision_driving.sim.materials import MATERIAL_ID

# Unit cube corners and its 12 triangles, outward winding.
_CUBE = (
    np.array(
        [[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1], [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]],
        dtype=np.float32,
    )
    * 0.5
)
_CUBE_TRIANGLES = np.array(
    [
        [0, 2, 1],
        [0, 3, 2],
        [4, 5, 6],
        [4, 6, 7],
        [0, 1, 5],
        [0, 5, 4],
        [1, 2, 6],
        [1, 6, 5],
        [2, 3, 7],
        [2, 7, 6],
        [3, 0, 4],
        [3, 4, 7],
    ],
    dtype=np.uint32,
)


@dataclass(frozen=True)
class Mesh:
    vertices: NDArray[np.float32]  # (V, 3)
    triangles: NDArray[np.uint32]  # (T, 3)
    material: NDArray[np.uint16]  # (T,)
    label: NDArray[np.uint8]  # (T,) Cityscapes train id
    instance: NDArray[np.uint16]  # (T,) 0 for stuff

    @staticmethod
    def concatenate(meshes: list[Mesh]) -> Mesh:
        meshes = [mesh for mesh in meshes if len(mesh.triangles)]
        if not meshes:
            return Mesh(
                np.zeros((0, 3), np.float32),
                np.zeros((0, 3), np.uint32),
                np.zeros(0, np.uint16),
                np.zeros(0, np.uint8),
                np.zeros(0, np.uint16),
            )
        offsets = np.cumsum([0] + [len(mesh.vertices) for mesh in meshes[:-1]])
        return Mesh(
            np.concatenate([mesh.vertices for mesh in meshes]),
            np.concatenate([mesh.triangles + np.uint32(offset) for mesh, offset in zip(meshes, offsets, strict=True)]),
            np.concatenate([mesh.material for mesh in meshes]),
            np.concatenate([mesh.label for mesh in meshes]),
            np.concatenate([mesh.instance for mesh in meshes]),
        )


class MeshBuilder:
    """Accumulates boxes, quads and ribbons; ``build()`` returns one Mesh."""

    def __init__(self) -> None:
        self._vertices: list[NDArray[np.float32]] = []
        self._triangles: list[NDArray[np.uint32]] = []
        self._attributes: list[tuple[int, int, int, int]] = []  # (count, material, label, instance)
        self._vertex_count = 0

    def _add(self, vertices: NDArray, triangles: NDArray, material: str, label: int, instance: int) -> None:
        self._vertices.append(np.asarray(vertices, dtype=np.float32))
        self._triangles.append(np.asarray(triangles, dtype=np.uint32) + np.uint32(self._vertex_count))
        self._attributes.append((len(triangles), MATERIAL_ID[material], label, instance))
        self._vertex_count += len(vertices)

    def box(
        self, transform: NDArray, size: tuple[float, float, float], material: str, label: int, instance: int = 0
    ) -> None:
        """A box of ``size`` (x, y, z) centred on ``transform``'s origin, oriented by its rotation."""
        corners = _CUBE * np.asarray(size, dtype=np.float32)
        vertices = corners @ transform[:3, :3].T.astype(np.float32) + transform[:3, 3].astype(np.float32)
        self._add(vertices, _CUBE_TRIANGLES, material, label, instance)

    def quad(self, corners: NDArray, material: str, label: int, instance: int = 0) -> None:
        """Two triangles over 4 corners given in order around the quad."""
        self._add(np.asarray(corners), np.array([[0, 1, 2], [0, 2, 3]]), material, label, instance)

    def ribbon(self, left: NDArray, right: NDArray, material: str, label: int, instance: int = 0) -> None:
        """A strip between two (N, 3) polylines (e.g. a road surface between its edges)."""
        n = len(left)
        if n < 2:
            return
        vertices = np.concatenate([left, right])
        i = np.arange(n - 1)
        triangles = np.concatenate([np.stack([i, i + n, i + 1], 1), np.stack([i + 1, i + n, i + n + 1], 1)])
        self._add(vertices, triangles, material, label, instance)

    def wall(self, bottom: NDArray, height: float, material: str, label: int, instance: int = 0) -> None:
        """A vertical strip of ``height`` above an (N, 3) polyline (e.g. a curb face)."""
        top = bottom.copy()
        top[:, 2] += height
        self.ribbon(top, bottom, material, label, instance)

    def build(self) -> Mesh:
        if not self._triangles:
            return Mesh.concatenate([])
        counts = np.array([a[0] for a in self._attributes])
        return Mesh(
            np.concatenate(self._vertices),
            np.concatenate(self._triangles),
            np.repeat(np.array([a[1] for a in self._attributes], dtype=np.uint16), counts),
            np.repeat(np.array([a[2] for a in self._attributes], dtype=np.uint8), counts),
            np.repeat(np.array([a[3] for a in self._attributes], dtype=np.uint16), counts),
        )
