"""Multi-object tracking in the map frame: Kalman filters, gating, Hungarian assignment, track life cycle.

Each track is a constant-velocity Kalman filter on (x, y, vx, vy) with process noise per object kind
(people turn and stop abruptly, trucks do not). Detections are matched to predicted tracks of the
same kind by the Hungarian algorithm (scipy) on Mahalanobis distance, within a gate. A track is
*tentative* until it has been seen ``confirm_hits`` times, and is dropped after ``max_misses``
frames without a match. A timestamp that goes backwards (a bag loop, a simulator reset) clears
every track.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from kvision_driving.perception.objects import Detection

# Per kind: process noise (acceleration spectral density, m2/s3) and measurement noise (m).
NOISE = {
    "pedestrian": (2.0, 0.15),
    "bicycle": (3.0, 0.2),
    "car": (4.0, 0.25),
    "truck": (2.0, 0.35),
    "bus": (2.0, 0.35),
    "motorcycle": (4.0, 0.25),
}
GATE_CHI2 = 13.8  # 99.9 % for 2 degrees of freedom
MAX_GATE_M = 4.0  # never associate farther than this, whatever the covariance says


@dataclass
class Track:
    track_id: bytes  # 16-byte UUID, stable for the track's life
    kind: str
    state: NDArray[np.float64]  # x, y, vx, vy
    covariance: NDArray[np.float64]  # 4x4
    yaw: float
    size: tuple[float, float, float]
    z: float
    confidence: float
    hits: int = 1
    misses: int = 0
    age: int = 1
    history: list[tuple[int, float, float]] = field(default_factory=list)  # (stamp_ns, x, y), bounded

    @property
    def speed(self) -> float:
        return float(np.hypot(self.state[2], self.state[3]))


class MultiObjectTracker:
    def __init__(
        self, confirm_hits: int = 3, max_misses: int = 5, history_length: int = 50, seed: int | None = None
    ) -> None:
        self.confirm_hits = confirm_hits
        self.max_misses = max_misses
        self.history_length = history_length
        self.tracks: list[Track] = []
        self.last_stamp_ns: int | None = None
        self.resets = 0
        self._rng = np.random.default_rng(seed)

    def reset(self) -> None:
        self.tracks.clear()
        self.last_stamp_ns = None
        self.resets += 1

    def confirmed(self) -> list[Track]:
        return [track for track in self.tracks if track.hits >= self.confirm_hits]

    def update(self, detections: list[Detection], stamp_ns: int) -> list[Track]:
        """Advance to ``stamp_ns`` and fuse ``detections`` (centres in the tracking frame); returns confirmed tracks."""
        if self.last_stamp_ns is not None and stamp_ns < self.last_stamp_ns:
            self.reset()
        dt = 0.0 if self.last_stamp_ns is None else (stamp_ns - self.last_stamp_ns) / 1e9
        self.last_stamp_ns = stamp_ns
        for track in self.tracks:
            self._predict(track, dt)
        matches, unmatched_detections = self._associate(detections)
        for track_index, detection_index in matches:
            self._correct(self.tracks[track_index], detections[detection_index], stamp_ns)
        matched_tracks = {track_index for track_index, _ in matches}
        for index, track in enumerate(self.tracks):
            if index not in matched_tracks:
                track.misses += 1
        self.tracks = [t for t in self.tracks if t.misses <= (self.max_misses if t.hits >= self.confirm_hits else 1)]
        for index in unmatched_detections:
            self.tracks.append(self._birth(detections[index], stamp_ns))
        return self.confirmed()

    # --- Kalman filter -----------------------------------------------------------------------------

    @staticmethod
    def _predict(track: Track, dt: float) -> None:
        if dt <= 0:
            return
        transition = np.eye(4)
        transition[0, 2] = transition[1, 3] = dt
        q = NOISE.get(track.kind, (3.0, 0.3))[0]
        # Discrete white-noise acceleration model.
        block = np.array([[dt**4 / 4, dt**3 / 2], [dt**3 / 2, dt**2]]) * q
        process = np.zeros((4, 4))
        process[np.ix_([0, 2], [0, 2])] = block
        process[np.ix_([1, 3], [1, 3])] = block
        track.state = transition @ track.state
        track.covariance = transition @ track.covariance @ transition.T + process
        track.age += 1

    @staticmethod
    def _innovation(track: Track, detection: Detection) -> tuple[NDArray, NDArray]:
        r = NOISE.get(detection.kind, (3.0, 0.3))[1]
        residual = detection.centre[:2] - track.state[:2]
        covariance = track.covariance[:2, :2] + np.eye(2) * r**2
        return residual, covariance

    def _associate(self, detections: list[Detection]) -> tuple[list[tuple[int, int]], list[int]]:
        if not self.tracks or not detections:
            return [], list(range(len(detections)))
        cost = np.full((len(self.tracks), len(detections)), 1e6)
        for i, track in enumerate(self.tracks):
            for j, detection in enumerate(detections):
                if detection.kind != track.kind:
                    continue
                residual, covariance = self._innovation(track, detection)
                distance2 = float(residual @ np.linalg.solve(covariance, residual))
                if distance2 <= GATE_CHI2 and np.linalg.norm(residual) <= MAX_GATE_M:
                    cost[i, j] = distance2
        rows, cols = linear_sum_assignment(cost)
        matches = [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if cost[i, j] < 1e6]
        matched = {j for _, j in matches}
        return matches, [j for j in range(len(detections)) if j not in matched]

    def _correct(self, track: Track, detection: Detection, stamp_ns: int) -> None:
        residual, covariance = self._innovation(track, detection)
        observation = np.zeros((2, 4))
        observation[0, 0] = observation[1, 1] = 1.0
        gain = track.covariance @ observation.T @ np.linalg.inv(covariance)
        track.state = track.state + gain @ residual
        track.covariance = (np.eye(4) - gain @ observation) @ track.covariance
        # Heading: of the motion when moving, else of the box (boxes flip by pi: keep the nearer one).
        box_yaw = detection.yaw
        if abs(np.angle(np.exp(1j * (box_yaw - track.yaw)))) > np.pi / 2:
            box_yaw += np.pi
        track.yaw = float(np.arctan2(track.state[3], track.state[2])) if track.speed > 1.0 else float(box_yaw)
        track.size = tuple(0.7 * np.array(track.size) + 0.3 * np.array(detection.size))
        track.z = 0.7 * track.z + 0.3 * float(detection.centre[2])
        track.confidence = 0.7 * track.confidence + 0.3 * detection.confidence
        track.hits += 1
        track.misses = 0
        track.history.append((stamp_ns, float(track.state[0]), float(track.state[1])))
        del track.history[: -self.history_length]

    def _birth(self, detection: Detection, stamp_ns: int) -> Track:
        r = NOISE.get(detection.kind, (3.0, 0.3))[1]
        covariance = np.diag([r**2, r**2, 25.0, 25.0])  # velocity unknown at birth: +-5 m/s
        track_id = uuid.UUID(bytes=self._rng.bytes(16), version=4).bytes
        state = np.array([detection.centre[0], detection.centre[1], 0.0, 0.0])
        return Track(
            track_id,
            detection.kind,
            state,
            covariance,
            detection.yaw,
            detection.size,
            float(detection.centre[2]),
            detection.confidence,
            history=[(stamp_ns, *detection.centre[:2])],
        )
