"""The action pipeline without ROS: the network's streaming export, clip buffers and their edge cases,
the action-conditioned predictor against constant velocity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from safetensors.torch import load_file

from kvision_driving.core.actions import ACTIONS, PEDESTRIAN_ACTIONS, UNKNOWN_ACTION
from kvision_driving.core.camera import PinholeCamera
from kvision_driving.inference.backends import create_backend
from kvision_driving.inference.model_card import verified_card
from kvision_driving.nets.actions import CLIP_FRAMES, CROP_SIZE, ActionNet
from kvision_driving.perception.clips import ActionRecogniser, TrackView, crop_square
from kvision_driving.perception.prediction import MotionState, constant_velocity, displacement_errors, predict

CAMERA = PinholeCamera.from_fov(640, 384, np.deg2rad(90))
# Camera at the origin looking along +x of the map: optical z = map x, optical x = -map y, optical y = -map z.
MAP_TO_OPTICAL = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 1.5], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


def car(track_id: str, x: float, y: float = 0.0, kind: str = "car") -> TrackView:
    size = (0.6, 0.6, 1.7) if kind == "pedestrian" else (4.5, 1.8, 1.5)
    return TrackView(track_id, kind, np.array([x, y, 0.75]), 0.0, size, np.array([5.0, 0.0]))


def recogniser(model: Path, **kwargs: float) -> ActionRecogniser:
    choice = create_backend(model, "onnxruntime")
    return ActionRecogniser(choice.backend, choice.card, **kwargs)


def frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (384, 640, 3), dtype=np.uint8)


def test_streaming_export_matches_the_full_clip_network(tiny_action_model: Path) -> None:
    card = verified_card(tiny_action_model)
    network = ActionNet(len(ACTIONS))
    network.load_state_dict(load_file(str(tiny_action_model.with_name("actions.safetensors"))))
    network.eval()
    clip = torch.randn(2, 3, CLIP_FRAMES, CROP_SIZE, CROP_SIZE)
    motion = torch.randn(2, CLIP_FRAMES, 2)
    session = ort.InferenceSession(str(tiny_action_model), providers=["CPUExecutionProvider"])
    history = np.zeros((2, CLIP_FRAMES - 1, *card.extra_inputs["history"][1:]), np.float32)
    for t in range(CLIP_FRAMES):  # feed frame by frame as a node does, keeping the features it returns
        scores, features = session.run(
            None, {"frame": clip[:, :, t].numpy(), "history": history, "motion": motion.numpy()}
        )
        history = np.concatenate([history[:, 1:], features[:, None]], axis=1)
    with torch.inference_mode():
        reference = torch.softmax(network(clip, motion), dim=1).numpy()
    assert np.allclose(scores, reference, atol=1e-5)
    assert card.classes == list(ACTIONS) and card.task == "actions"


def test_unknown_until_the_clip_is_full_then_one_batch_per_frame(tiny_action_model: Path) -> None:
    rec = recogniser(tiny_action_model)
    tracks = [car("a", 15.0), car("b", 25.0, 3.0), car("c", 12.0, -3.0, kind="pedestrian")]
    for step in range(CLIP_FRAMES + 4):  # and on: the buffers stay full and bounded
        estimates = rec.update(step * 100_000_000, frame(step), CAMERA, MAP_TO_OPTICAL, np.eye(2), tracks)
        expected_unknown = step < CLIP_FRAMES - 1
        assert set(estimates) == {"a", "b", "c"}
        assert all((e.action == UNKNOWN_ACTION) == expected_unknown for e in estimates.values())
    assert rec.stats.batches == CLIP_FRAMES + 4 and rec.stats.crops == 3 * (CLIP_FRAMES + 4)
    assert estimates["c"].action in PEDESTRIAN_ACTIONS  # a pedestrian only gets pedestrian actions
    assert sum(estimates["a"].scores.values()) == pytest.approx(1.0)
    # Frames between two 10 Hz samples reuse the estimate and run nothing.
    rec.update((CLIP_FRAMES + 4) * 100_000_000 - 50_000_000, frame(99), CAMERA, MAP_TO_OPTICAL, np.eye(2), tracks)
    assert rec.stats.batches == CLIP_FRAMES + 4


def test_out_of_view_tiny_and_one_frame_tracks_never_get_a_guess(tiny_action_model: Path) -> None:
    rec = recogniser(tiny_action_model)
    behind, far = car("behind", -10.0), car("far", 400.0)  # behind the camera; a few pixels at 400 m
    for step in range(CLIP_FRAMES + 2):
        tracks = [behind, far] + ([car("flash", 12.0)] if step == 3 else [])
        estimates = rec.update(step * 100_000_000, frame(step), CAMERA, MAP_TO_OPTICAL, np.eye(2), tracks)
        assert "behind" not in estimates and "far" not in estimates
        assert all(e.action == UNKNOWN_ACTION for e in estimates.values())
    assert "flash" not in rec.clips  # gone after evict_after_s


def test_a_gap_restarts_the_clip_and_memory_is_bounded(tiny_action_model: Path) -> None:
    rec = recogniser(tiny_action_model, max_tracks=4)
    for step in range(CLIP_FRAMES):
        rec.update(step * 100_000_000, frame(step), CAMERA, MAP_TO_OPTICAL, np.eye(2), [car("a", 15.0)])
    resumed = rec.update(2_500_000_000, frame(1), CAMERA, MAP_TO_OPTICAL, np.eye(2), [car("a", 15.0)])
    assert resumed["a"].action == UNKNOWN_ACTION and rec.stats.restarts == 1  # 0.9 s without samples
    many = [car(str(i), 10.0 + 2 * i, (-1) ** i * 2.0) for i in range(10)]
    rec.update(2_600_000_000, frame(2), CAMERA, MAP_TO_OPTICAL, np.eye(2), many)
    assert len(rec.clips) <= 4
    assert all(len(clip.features) <= CLIP_FRAMES - 1 for clip in rec.clips.values())


def test_crop_square_pads_at_the_border() -> None:
    image = np.full((100, 200, 3), 200, np.uint8)
    crop = crop_square(image, (-20.0, 10.0, 20.0, 50.0), 32)
    assert crop.shape == (32, 32, 3)
    assert crop[:, 0].max() == 0 and crop[:, -1].min() == 200  # black beyond the left edge


def straight_history(x: float, vx: float, decel: float = 0.0) -> np.ndarray:
    t = np.arange(-1.0, 0.01, 0.1)
    along = vx * t - 0.5 * decel * t**2  # speed vx at t = 0, faster before while braking
    return np.stack([t, x + along, np.zeros_like(t)], axis=1)


def test_braking_prediction_stops_and_beats_constant_velocity() -> None:
    state = MotionState(np.array([20.0, 0.0]), np.array([10.0, 0.0]), 0.0, "car", straight_history(20.0, 10.0, 4.0))
    hypotheses = predict(state, "braking", 0.9, np.zeros(2), 0.0)
    assert hypotheses[0].label == "braking" and sum(h.confidence for h in hypotheses) == pytest.approx(1.0)
    t = np.arange(1, 31) * 0.1
    truth = np.stack([20.0 + np.minimum(10 * t - 2 * t**2, 12.5), np.zeros(30)], axis=1)  # 4 m/s2 to a stop
    model = displacement_errors(hypotheses[0].xy, truth)["fde_3s"]
    baseline = displacement_errors(constant_velocity(state).xy, truth)["fde_3s"]
    assert model < 0.5 * baseline


def test_signal_predicts_a_lane_change_that_way_and_keeping_the_lane_as_the_alternative() -> None:
    state = MotionState(np.array([20.0, 0.0]), np.array([8.0, 0.0]), 0.0, "car", straight_history(20.0, 8.0))
    left = predict(state, "signal_left", 0.9, np.zeros(2), 0.0)
    assert left[0].label == "lane_change_left" and left[0].xy[-1, 1] == pytest.approx(3.5, abs=0.05)
    assert left[1].xy[-1, 1] == pytest.approx(0.0, abs=0.05)
    right = predict(state, "signal_right", 0.9, np.zeros(2), 0.0)
    assert right[0].xy[-1, 1] == pytest.approx(-3.5, abs=0.05)


def test_pedestrian_about_to_cross_goes_across_ego_path() -> None:
    still = MotionState(np.array([30.0, -5.0]), np.zeros(2), 0.0, "pedestrian", np.zeros((0, 3)))
    crossing = predict(still, "crossing", 0.9, np.zeros(2), 0.0)[0]
    assert crossing.xy[-1, 1] > -5.0 + 3.0 and abs(crossing.xy[-1, 0] - 30.0) < 0.01
    standing = predict(still, "standing", 0.9, np.zeros(2), 0.0)
    assert len(standing) == 1 and np.allclose(standing[0].xy, [30.0, -5.0])


def test_unknown_action_falls_back_to_the_track_kinematics() -> None:
    state = MotionState(np.array([0.0, 0.0]), np.array([5.0, 1.0]), 0.2, "car", np.zeros((0, 3)))
    (only,) = predict(state, UNKNOWN_ACTION, 0.0, np.zeros(2), 0.0)
    assert np.allclose(only.xy, constant_velocity(state).xy, atol=1e-9)
