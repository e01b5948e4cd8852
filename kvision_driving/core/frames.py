"""A tree of static frames (sensor extrinsics) with lookups between any two frames."""

from __future__ import annotations

from collections import deque

import numpy as np

from kvision_driving.core.geometry import Matrix4, invert_transform


class FrameNotFoundError(LookupError):
    """No chain of known transforms connects the two frames."""


class StaticFrameTree:
    """Transforms ``parent <- child`` (a child point maps into the parent frame) as 4x4 matrices.

    Adding the same child again replaces its transform, as tf2 does for /tf_static.
    """

    def __init__(self) -> None:
        self._parent_of: dict[str, tuple[str, Matrix4]] = {}

    def add(self, parent: str, child: str, child_to_parent: Matrix4) -> None:
        if parent == child:
            raise ValueError(f"frame {child!r} cannot be its own parent")
        self._parent_of[child] = (parent, np.asarray(child_to_parent, dtype=np.float64))

    @property
    def frames(self) -> set[str]:
        return set(self._parent_of) | {parent for parent, _ in self._parent_of.values()}

    def lookup(self, target: str, source: str) -> Matrix4:
        """The 4x4 transform taking points in ``source`` to ``target`` (tf2's lookupTransform(target, source))."""
        if target == source:
            return np.eye(4)
        neighbours: dict[str, list[tuple[str, Matrix4]]] = {}
        for child, (parent, child_to_parent) in self._parent_of.items():
            neighbours.setdefault(child, []).append((parent, child_to_parent))
            neighbours.setdefault(parent, []).append((child, invert_transform(child_to_parent)))
        if source not in neighbours or target not in neighbours:
            missing = [frame for frame in (source, target) if frame not in neighbours]
            raise FrameNotFoundError(
                f"unknown frame(s) {', '.join(missing)}; known: {', '.join(sorted(self.frames)) or 'none'}"
            )
        # Breadth-first search from source, accumulating source -> frame transforms.
        reached: dict[str, Matrix4] = {source: np.eye(4)}
        queue = deque([source])
        while queue:
            frame = queue.popleft()
            for neighbour, frame_to_neighbour in neighbours[frame]:
                if neighbour not in reached:
                    reached[neighbour] = frame_to_neighbour @ reached[frame]
                    if neighbour == target:
                        return reached[neighbour]
                    queue.append(neighbour)
        raise FrameNotFoundError(f"no transform chain from {source!r} to {target!r}")
