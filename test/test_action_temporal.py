"""The temporal part matters: the shipped action network tells a blinking indicator from a steady light.

A car changes lanes in front of ego, its right indicator blinking; the simulator exports the clip the
network would see. The real clip is recognised as ``signal_right``; the same clip frozen on any one of
its frames (the indicator then steadily on, or steadily off) is not taken for a signal. A single-frame
classifier cannot make that distinction by construction (each frozen clip ends in a real frame).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import yaml

from kvision_driving.inference.backends import create_backend
from kvision_driving.inference.model_card import shipped_model
from kvision_driving.perception.clips import ActionRecogniser
from kvision_driving.sim.datasets import export_action_clips
from kvision_driving.sim.scenario import parse_scenario

SIGNALS = {"signal_left", "signal_right", "hazard"}


def test_blinking_indicator_is_told_from_a_steady_light(tmp_path: Path) -> None:
    scenario = parse_scenario(
        yaml.safe_load(
            """
name: lane_change_ahead
seed: 5
duration: 5.0
road: {layout: straight, lanes: 2, length: 200}
ego: {lane: 1, s: 40, speed: 6, cruise_speed: 6}
vehicles:
  - {kind: car, lane: 0, s: 58, speed: 6, events: [{at: 0.2, lane_change: 1, duration: 6.0}]}
"""
        )
    )
    export_action_clips([scenario], [5], tmp_path, every=10, progress=False)
    with (tmp_path / "clips.csv").open() as handle:
        rows = [row for row in csv.DictReader(handle) if row["action"] == "signal_right"]
    assert rows, "the simulator produced no signalling clip"
    choice = create_backend(shipped_model("actions.onnx"), "onnxruntime")
    recogniser = ActionRecogniser(choice.backend, choice.card)
    for row in rows:
        with np.load(tmp_path / row["path"]) as archive:
            clip, velocity = archive["clip"], archive["velocity"]
        assert recogniser.classify_clip(clip, velocity, "car").action == "signal_right"
        frozen = [
            recogniser.classify_clip(np.repeat(clip[t : t + 1], len(clip), 0), velocity, "car")
            for t in range(len(clip))
        ]
        taken_for_signals = [t for t, estimate in enumerate(frozen) if estimate.action in SIGNALS]
        assert len(taken_for_signals) <= 1, taken_for_signals
