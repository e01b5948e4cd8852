"""A tree of static frames (sensor extrinsics) with lookups between any two frames."""

from __future__ import annotations

from collections import deque

import numpy as np

from kvision_driving.core.geometry import Matrix4, invert_transform, yaw_of


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


class PoseHistory:
    """Recent timestamped poses (e.g. map <- base_link from odometry), interpolated at any stamp in range."""

    def __init__(self, capacity: int = 400) -> None:
        self._stamps: deque[int] = deque(maxlen=capacity)
        self._poses: deque[Matrix4] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self._stamps)

    def clear(self) -> None:
        self._stamps.clear()
        self._poses.clear()

    def latest_stamp_ns(self) -> int | None:
        return self._stamps[-1] if self._stamps else None

    def add(self, stamp_ns: int, pose: Matrix4) -> None:
        if self._stamps and stamp_ns <= self._stamps[-1]:
            if stamp_ns < self._stamps[-1] - 1_000_000_000:  # time went back (bag loop): start over
                self.clear()
            else:
                return  # duplicate or slightly out of order: keep the stream monotonic
        self._stamps.append(stamp_ns)
        self._poses.append(np.asarray(pose, dtype=np.float64))

    def at(self, stamp_ns: int, tolerance_ns: int = 100_000_000) -> Matrix4 | None:
        """The pose at ``stamp_ns`` (linear in position, shortest way in yaw); None when out of range."""
        if not self._stamps:
            return None
        stamps = np.fromiter(self._stamps, dtype=np.int64)
        if stamp_ns < stamps[0] - tolerance_ns or stamp_ns > stamps[-1] + tolerance_ns:
            return None
        after = int(np.searchsorted(stamps, stamp_ns))
        if after == 0 or after == len(stamps):
            return self._poses[0 if after == 0 else -1].copy()
        before_pose, after_pose = self._poses[after - 1], self._poses[after]
        fraction = (stamp_ns - stamps[after - 1]) / max(stamps[after] - stamps[after - 1], 1)
        yaw0 = yaw_of(before_pose)
        yaw1 = yaw_of(after_pose)
        yaw = yaw0 + np.angle(np.exp(1j * (yaw1 - yaw0))) * fraction
        pose = before_pose.copy()
        pose[:3, 3] = before_pose[:3, 3] + (after_pose[:3, 3] - before_pose[:3, 3]) * fraction
        c, s = np.cos(yaw), np.sin(yaw)
        pose[:2, :2] = [[c, -s], [s, c]]
        return pose
