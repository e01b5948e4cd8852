"""Training data from the simulator: Cityscapes-layout segmentation sets and per-actor action clips."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from kvision_driving.core.boxes import box_corners_3d
from kvision_driving.core.camera import project_box_to_image
from kvision_driving.core.geometry import invert_transform, transform_points
from kvision_driving.core.labels import LABEL_ID_TO_TRAIN_ID
from kvision_driving.perception.clips import crop_square
from kvision_driving.sim.appearance import PLAIN_LOOK, AppearanceSettings
from kvision_driving.sim.scenario import Scenario
from kvision_driving.sim.simulator import Simulator

# train id -> a Cityscapes labelId, so the export also works with tools that read labelIds.
_TRAIN_TO_LABEL_ID = np.zeros(256, dtype=np.uint8)
for _label_id, _train_id in LABEL_ID_TO_TRAIN_ID.items():
    _TRAIN_TO_LABEL_ID[_train_id] = _label_id

CLIP_FRAMES = 16
CLIP_STRIDE = 2  # simulator steps between clip frames: 10 Hz
CLIP_SIZE = 112
MIN_CLIP_VISIBLE_PIXELS = 60


def _write_png(path: Path, image: NDArray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


def export_segmentation(
    scenarios: Iterable[Scenario],
    seeds: Iterable[int],
    out: Path,
    split: str,
    every: int = 10,
    progress: bool = True,
    appearance: AppearanceSettings = PLAIN_LOOK,
) -> int:
    """Cityscapes layout: leftImg8bit/<split>/<scenario>/<scenario>_<seed>_<step>_leftImg8bit.png and the
    matching gtFine _labelTrainIds.png and _labelIds.png. Returns the number of frames written."""
    jobs = [(scenario, seed) for scenario in scenarios for seed in seeds]
    start_segmentation_folder(out)
    return sum(
        export_segmentation_run(scenario, seed, out, split, every, appearance)
        for scenario, seed in tqdm(jobs, desc=f"segmentation {split}", unit="run", disable=not progress)
    )


def start_segmentation_folder(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "kvision_dataset.yaml").write_text("spec: simulator  # kvision_driving/data/specs/simulator.yaml\n")


def export_segmentation_run(
    scenario: Scenario, seed: int, out: Path, split: str, every: int, appearance: AppearanceSettings = PLAIN_LOOK
) -> int:
    """One scenario run's frames (export_segmentation's layout; its files depend on nothing else, so runs
    may be exported in any order, by any process). Returns the number of frames written."""
    written = 0
    simulator = Simulator(replace(scenario, seed=seed), lidar=None, appearance=appearance)
    while not simulator.done:
        if simulator.step_index % every == 0:
            frame = simulator.render()
            for name, image in frame.cameras.items():
                city = f"{scenario.name}{'' if name == 'front' else '-' + name}"
                stem = f"{city}_{seed:06d}_{frame.step:06d}"
                _write_png(out / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", image.rgb[:, :, ::-1])
                labels = out / "gtFine" / split / city
                _write_png(labels / f"{stem}_gtFine_labelTrainIds.png", image.labels)
                _write_png(labels / f"{stem}_gtFine_labelIds.png", _TRAIN_TO_LABEL_ID[image.labels])
                written += 1
        simulator.advance(*simulator.autopilot_command())
    return written


@dataclass(frozen=True)
class ClipRecord:
    path: str
    action: str
    kind: str
    scenario: str
    seed: int
    actor_id: int
    step: int


@dataclass(frozen=True)
class _ClipFrame:
    """One 10 Hz camera frame of the clip history and the visible actors in it."""

    rgb: NDArray[np.uint8]
    boxes: dict[int, tuple[float, float, float, float]]
    actions: dict[int, str]
    kinds: dict[int, str]
    velocities: dict[int, NDArray[np.float64]]  # ground velocity vx, vy in the ego (base_link) frame


def export_action_clips(
    scenarios: Iterable[Scenario], seeds: Iterable[int], out: Path, every: int = 10, progress: bool = True
) -> list[ClipRecord]:
    """Clips of CLIP_FRAMES camera crops at 10 Hz around each visible actor, labelled with its action at the
    last frame; saved as uint8 arrays ``clip`` (T, H, W, 3) with the actor's ground velocity in the ego frame
    ``velocity`` (T, 2) (what a tracker estimates) in .npz files, and listed in clips.csv."""
    jobs = [(scenario, seed) for scenario in scenarios for seed in seeds]
    records = [
        record
        for scenario, seed in tqdm(jobs, desc="action clips", unit="run", disable=not progress)
        for record in export_action_run(scenario, seed, out, every)
    ]
    write_clip_index(out, records)
    return records


def export_action_run(scenario: Scenario, seed: int, out: Path, every: int = 10) -> list[ClipRecord]:
    """One scenario run's clips (export_action_clips' files, without the index): runs may be exported in any
    order, by any process; the index lists them in the runs' order."""
    out.mkdir(parents=True, exist_ok=True)
    records: list[ClipRecord] = []
    span = CLIP_FRAMES * CLIP_STRIDE
    simulator = Simulator(replace(scenario, seed=seed), lidar=None)
    spec = simulator.camera_specs[0]
    camera = spec.intrinsics()
    history: list[_ClipFrame] = []
    while not simulator.done:
        if simulator.step_index % CLIP_STRIDE == 0:
            frame = simulator.render()
            image = frame.cameras[spec.name]
            map_to_optical = invert_transform(simulator.ego_pose() @ spec.optical_in_base())
            boxes, actions, kinds, velocities = {}, {}, {}, {}
            base_from_map = simulator.ego_pose()[:2, :2].T
            for obj in frame.objects:
                if obj.parked:
                    continue  # parked cars are scenery: thousands of identical "stopped" clips teach nothing
                corners = transform_points(map_to_optical, box_corners_3d(obj.centre, obj.yaw, obj.size))
                box = project_box_to_image(corners, camera, min_size_px=12)
                if box is None:
                    continue
                u0, v0, u1, v1 = (round(value) for value in box)
                if np.count_nonzero(image.instances[v0:v1, u0:u1] == obj.actor_id) >= MIN_CLIP_VISIBLE_PIXELS:
                    boxes[obj.actor_id], actions[obj.actor_id], kinds[obj.actor_id] = box, obj.action, obj.kind
                    velocities[obj.actor_id] = base_from_map @ obj.velocity[:2]
            history.append(_ClipFrame(image.rgb, boxes, actions, kinds, velocities))
            history = history[-CLIP_FRAMES:]
            if len(history) == CLIP_FRAMES and frame.step % every == 0 and frame.step >= span:
                last = history[-1]
                for actor_id, action in last.actions.items():
                    if not all(actor_id in past.boxes for past in history):
                        continue  # seen in every frame only: the network must not learn from gaps
                    clip = np.stack([crop_square(past.rgb, past.boxes[actor_id], CLIP_SIZE) for past in history])
                    velocity = np.stack([past.velocities[actor_id] for past in history]).astype(np.float32)
                    name = f"{scenario.name}_{seed:05d}_{actor_id:03d}_{frame.step:05d}.npz"
                    np.savez_compressed(out / name, clip=clip, velocity=velocity)
                    records.append(
                        ClipRecord(name, action, last.kinds[actor_id], scenario.name, seed, actor_id, frame.step)
                    )
        simulator.advance(*simulator.autopilot_command())
    return records


def write_clip_index(out: Path, records: list[ClipRecord]) -> None:
    """clips.csv: every clip with its action, kind, scenario, seed, actor and step."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "clips.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "action", "kind", "scenario", "seed", "actor_id", "step"])
        for record in records:
            writer.writerow(
                [record.path, record.action, record.kind, record.scenario, record.seed, record.actor_id, record.step]
            )
