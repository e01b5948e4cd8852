"""Per-track clip buffers and the action recogniser that runs the video network on them.

For every tracked road user the camera sees, a square crop around its projected 3-D box is taken at a
fixed rate (10 Hz, what the network was trained on), encoded once by the network's frame encoder, and
kept with the track's ground velocity: the last T-1 encodings are the history the network's temporal
head reads next time. Memory is bounded (T-1 small feature maps per track, at most ``max_tracks``
tracks), tracks that leave are evicted, a track that cannot be cropped (out of view, tiny, behind)
starts its clip again, and a track's action stays ``unknown`` until it has a full clip: no guess is
ever made from a few frames. All crops of a frame go through the network in one batch.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.actions import CYCLIST_ACTIONS, PEDESTRIAN_ACTIONS, UNKNOWN_ACTION, VEHICLE_ACTIONS
from kvision_driving.core.boxes import box_corners_3d
from kvision_driving.core.camera import PinholeCamera, project_box_to_image
from kvision_driving.core.geometry import transform_points
from kvision_driving.inference.backends import Backend
from kvision_driving.inference.model_card import ModelCard

CROP_MARGIN = 0.2  # relative margin around the box, as in the training clips


def crop_square(
    image: NDArray[np.uint8], box: tuple[float, float, float, float], size: int, margin: float = CROP_MARGIN
) -> NDArray:
    """A square crop around ``box`` with a relative margin, padded with black at the borders, resized."""
    u0, v0, u1, v1 = box
    side = max(u1 - u0, v1 - v0) * (1.0 + 2 * margin)
    cu, cv = (u0 + u1) / 2, (v0 + v1) / 2
    x0, y0 = round(cu - side / 2), round(cv - side / 2)
    x1, y1 = x0 + max(round(side), 2), y0 + max(round(side), 2)
    height, width = image.shape[:2]
    crop = np.zeros((y1 - y0, x1 - x0, 3), dtype=np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if sx1 > sx0 and sy1 > sy0:
        crop[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


ALLOWED_BY_KIND = {
    "pedestrian": PEDESTRIAN_ACTIONS,
    "bicycle": CYCLIST_ACTIONS,
    "motorcycle": CYCLIST_ACTIONS,
}


def allowed_actions(kind: str) -> tuple[str, ...]:
    return ALLOWED_BY_KIND.get(kind, VEHICLE_ACTIONS)


@dataclass(frozen=True)
class TrackView:
    """A tracked object as the recogniser needs it (map frame)."""

    track_id: str
    kind: str
    centre: NDArray[np.float64]  # (3,)
    yaw: float
    size: tuple[float, float, float]
    velocity: NDArray[np.float64]  # (2,) ground velocity in map


@dataclass
class ActionEstimate:
    action: str
    confidence: float
    scores: dict[str, float]
    box: tuple[float, float, float, float] | None  # image box of the last crop
    stamp_ns: int


@dataclass
class _Clip:
    features: deque  # of (C, h, w) float32, oldest first
    velocity: deque  # of (2,) float32 in base_link
    last_sample_ns: int = -(10**18)
    last_seen_ns: int = 0
    estimate: ActionEstimate | None = None


@dataclass
class RecogniserStats:
    crops: int = 0
    restarts: int = 0  # clips started again after a frame without a usable crop
    evicted: int = 0
    skipped: int = 0  # tracks beyond max_tracks in one frame
    batches: int = 0
    model_ms: list[float] = field(default_factory=list)


class ActionRecogniser:
    def __init__(
        self,
        backend: Backend,
        card: ModelCard,
        min_box_px: float = 12.0,
        max_tracks: int = 64,
        evict_after_s: float = 1.0,
    ) -> None:
        self.backend = backend
        self.card = card
        self.frames = int(card.training.get("clip_frames", 16))
        self.period_ns = round(1e9 / float(card.training.get("clip_rate_hz", 10)))
        self.size = card.width
        history_shape = card.extra_inputs.get("history")
        if not history_shape or history_shape[0] != self.frames - 1:
            raise ValueError(f"model card {card.name!r} does not describe a streaming action model (history input)")
        self.feature_shape = tuple(int(x) for x in history_shape[1:])
        self.classes = list(card.classes)
        self.mean = np.array(card.input.mean, np.float32).reshape(3, 1, 1)
        self.std = np.array(card.input.std, np.float32).reshape(3, 1, 1)
        self.scale = np.float32(card.input.scale)
        self.min_box_px = min_box_px
        self.max_tracks = max_tracks
        self.evict_after_ns = round(evict_after_s * 1e9)
        self.clips: dict[str, _Clip] = {}
        self.stats = RecogniserStats()

    def reset(self) -> None:
        self.clips.clear()

    def _new_clip(self) -> _Clip:
        return _Clip(deque(maxlen=self.frames - 1), deque(maxlen=self.frames))

    def update(
        self,
        stamp_ns: int,
        image: NDArray[np.uint8],
        camera: PinholeCamera,
        map_to_optical: NDArray[np.float64],
        map_to_base_rotation: NDArray[np.float64],
        tracks: list[TrackView],
    ) -> dict[str, ActionEstimate]:
        """One camera frame (RGB): crop the tracks that are due, run the network on all of them at once,
        return the current estimate of every visible track (``unknown`` until its clip is full)."""
        due: list[tuple[str, NDArray, tuple[float, float, float, float], NDArray]] = []
        visible: set[str] = set()
        if len(tracks) > self.max_tracks:  # the nearest ones matter; the rest wait for a quieter frame
            depth = [float((map_to_optical[2, :3] @ track.centre) + map_to_optical[2, 3]) for track in tracks]
            order = np.argsort(np.where(np.array(depth) > 0, depth, np.inf))
            self.stats.skipped += len(tracks) - self.max_tracks
            tracks = [tracks[i] for i in order[: self.max_tracks]]
        for track in tracks:
            clip = self.clips.get(track.track_id)
            if clip is None:
                if len(self.clips) >= self.max_tracks:
                    self._evict_oldest()
                clip = self.clips[track.track_id] = self._new_clip()
            clip.last_seen_ns = stamp_ns
            if stamp_ns - clip.last_sample_ns < self.period_ns * 0.75:
                if clip.estimate is not None:
                    visible.add(track.track_id)
                continue  # between two 10 Hz samples
            corners = transform_points(map_to_optical, box_corners_3d(track.centre, track.yaw, track.size))
            box = project_box_to_image(corners, camera, self.min_box_px)
            if box is None:
                if clip.features:
                    self.stats.restarts += 1
                self.clips[track.track_id] = self._new_clip()
                self.clips[track.track_id].last_seen_ns = stamp_ns
                continue
            if stamp_ns - clip.last_sample_ns > self.period_ns * 2.5 and clip.features:
                self.stats.restarts += 1  # a gap in the clip: the temporal pattern would be wrong
                clip.features.clear()
                clip.velocity.clear()
            clip.last_sample_ns = stamp_ns
            velocity = (map_to_base_rotation @ np.asarray(track.velocity[:2], dtype=np.float64)).astype(np.float32)
            due.append((track.track_id, crop_square(image, box, self.size), box, velocity))
            visible.add(track.track_id)
        if due:
            self._run(stamp_ns, due, {track.track_id: track.kind for track in tracks})
        self._evict_stale(stamp_ns)
        return {track_id: self.clips[track_id].estimate for track_id in visible if self.clips[track_id].estimate}

    def _run(self, stamp_ns: int, due: list, kinds: dict[str, str]) -> None:
        count = len(due)
        frames = np.stack([crop for _, crop, _, _ in due]).astype(np.float32).transpose(0, 3, 1, 2)
        frames = (frames * self.scale - self.mean) / self.std
        history = np.zeros((count, self.frames - 1, *self.feature_shape), np.float32)
        motion = np.zeros((count, self.frames, 2), np.float32)
        for row, (track_id, _, _, velocity) in enumerate(due):
            clip = self.clips[track_id]
            if clip.features:
                history[row, -len(clip.features) :] = np.stack(clip.features)
            past = list(clip.velocity)[-(self.frames - 1) :]
            if past:
                motion[row, self.frames - 1 - len(past) : self.frames - 1] = np.stack(past)
            motion[row, -1] = velocity
        started = time.perf_counter()
        outputs = self.backend.run({"frame": np.ascontiguousarray(frames), "history": history, "motion": motion})
        self.stats.model_ms.append((time.perf_counter() - started) * 1e3)
        del self.stats.model_ms[:-200]
        self.stats.batches += 1
        self.stats.crops += count
        for row, (track_id, _, box, velocity) in enumerate(due):
            clip = self.clips[track_id]
            full = len(clip.features) == self.frames - 1
            clip.features.append(outputs["features"][row])
            clip.velocity.append(velocity)
            if not full:
                clip.estimate = ActionEstimate(UNKNOWN_ACTION, 0.0, {}, box, stamp_ns)
                continue
            clip.estimate = self._estimate(outputs["scores"][row], kinds.get(track_id, "car"), box, stamp_ns)

    def classify_clip(self, crops: NDArray[np.uint8], velocity: NDArray[np.floating], kind: str) -> ActionEstimate:
        """A whole clip at once (T x S x S x 3 RGB crops, oldest first, T = the card's clip length; T x 2 ground
        velocity in base_link), through the same streaming graph the node runs, frame by frame."""
        if len(crops) != self.frames or len(velocity) != self.frames:
            raise ValueError(f"a clip has {self.frames} frames and velocities, got {len(crops)} and {len(velocity)}")
        history = np.zeros((1, self.frames - 1, *self.feature_shape), np.float32)
        motion = np.asarray(velocity, np.float32)[None]
        for crop in crops:
            resized = cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_AREA)
            frame = (resized.astype(np.float32).transpose(2, 0, 1) * self.scale - self.mean) / self.std
            outputs = self.backend.run({"frame": frame[None], "history": history, "motion": motion})
            history = np.concatenate([history[:, 1:], outputs["features"][:, None]], axis=1)
        return self._estimate(outputs["scores"][0], kind, None, 0)

    def _estimate(self, scores: NDArray, kind: str, box: tuple | None, stamp_ns: int) -> ActionEstimate:
        """Scores restricted to the actions this kind of road user can show (the tracker knows the kind)."""
        allowed = allowed_actions(kind)
        picked = np.array([scores[self.classes.index(name)] for name in allowed], dtype=np.float64)
        total = picked.sum()
        picked = picked / total if total > 0 else np.full(len(allowed), 1.0 / len(allowed))
        best = int(np.argmax(picked))
        return ActionEstimate(
            allowed[best], float(picked[best]), dict(zip(allowed, picked.tolist(), strict=True)), box, stamp_ns
        )

    def _evict_stale(self, stamp_ns: int) -> None:
        for track_id in [tid for tid, clip in self.clips.items() if stamp_ns - clip.last_seen_ns > self.evict_after_ns]:
            del self.clips[track_id]
            self.stats.evicted += 1

    def _evict_oldest(self) -> None:
        """Make room: the track seen longest ago goes (never one of this frame: at most max_tracks per frame)."""
        oldest = min(self.clips, key=lambda track_id: self.clips[track_id].last_seen_ns)
        del self.clips[oldest]
        self.stats.evicted += 1
