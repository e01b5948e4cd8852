"""Data-parallel training (``nets.distributed``): two processes on a global batch take the step one process
takes on it, for both networks, on real data; ``kvision train ... --nproc 2`` trains, writes its outputs
once, resumes, and reports a rank's bad input as a clear error.

The step comparison runs in float64: in float32 the same batch in another order already moves these
networks' gradients by about 1 % (batch normalisation over a few values amplifies rounding), which would
hide a real difference. In float64 the two agree to rounding; a wrong share, a per-process batch statistic,
a per-process loss normaliser or a dropout mask drawn per process each move them far more (see below).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA
from test_train_actions import clip_folder

from kvision_driving.core.actions import ACTIONS
from kvision_driving.nets import distributed
from kvision_driving.nets.actions import ActionNet
from kvision_driving.nets.segmentation import FastSCNN
from kvision_driving.nets.train_actions import ActionTrainConfig, load_clips, to_inputs
from kvision_driving.nets.train_actions import augment as augment_clip
from kvision_driving.nets.train_actions import training_step as action_step
from kvision_driving.nets.train_segmentation import TrainConfig, draw_batch, prepare_domains
from kvision_driving.nets.train_segmentation import training_step as segmentation_step

CAMVID = SHARED_DATA / "camvid"
CITYSCAPES = SHARED_DATA / "cityscapes"


@dataclass(frozen=True)
class StepCase:
    """What one step trains on; plain data, so it travels to the spawned processes."""

    network: str  # "segmentation" or "actions"
    data: tuple[Path, ...]
    batch_size: int = 4


def one_step(case: StepCase) -> dict[str, np.ndarray]:
    """The network's parameters after one AdamW step on the case's first global batch (float64), and the
    batch's loss; run alone or as one of ``distributed.spawn``'s processes."""
    ranks = distributed.join()
    try:
        torch.manual_seed(0)
        share = ranks.share(case.batch_size)
        if case.network == "segmentation":
            config = TrainConfig(data=list(case.data), out=Path("."), mix=[3.0, 1.0], input_height=128,
                                 input_width=192, crop=96, batch_size=case.batch_size)  # fmt: skip
            domains = prepare_domains(config)
            model: torch.nn.Module = FastSCNN().double()
            images, targets, owners = draw_batch(domains, config, np.random.default_rng(3), 0, share)
            inputs: tuple[torch.Tensor, ...] = (images.double(),)
        else:
            settings = ActionTrainConfig(data=case.data[0], out=Path("."), batch_size=case.batch_size)
            clips = load_clips(settings.data / "train", settings.crop, settings.frames)
            model = ActionNet(len(ACTIONS)).double()
            chosen = list(enumerate(np.random.default_rng(3).choice(len(clips.labels), size=case.batch_size)))
            batch = [augment_clip(clips.clips[i], clips.velocity[i], int(clips.labels[i]), settings,
                                  random.Random(place)) for place, i in chosen[share]]  # fmt: skip
            clip, motion = to_inputs(np.stack([b[0] for b in batch]), np.stack([b[1] for b in batch]))
            inputs = (torch.from_numpy(clip).double(), torch.from_numpy(motion).double())
            labels = torch.tensor([b[2] for b in batch])
        if ranks.world > 1:
            distributed.with_global_batch_layers(model)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        network = distributed.data_parallel(model, ranks)
        network.train()
        torch.manual_seed(1)  # dropout's masks
        if case.network == "segmentation":
            loss = segmentation_step(network, optimizer, *inputs, targets, owners, domains, ranks)
        else:
            loss = action_step(network, optimizer, *inputs, labels, ranks)
        after = {name: tensor.detach().numpy().copy() for name, tensor in model.state_dict().items()}
        return {**after, "loss": np.array(loss)}
    finally:
        distributed.leave(ranks)


def assert_same_step(case: StepCase) -> None:
    alone = one_step(case)
    shared = distributed.spawn(one_step, case, 2)
    assert set(shared) == set(alone)
    assert abs(float(shared["loss"]) - float(alone["loss"])) < 1e-9 * float(alone["loss"])
    worst = max(alone, key=lambda name: float(np.abs(alone[name] - shared[name]).max()))
    difference = float(np.abs(alone[worst] - shared[worst]).max())
    assert difference < 1e-9, (worst, difference)  # the floor is 1e-6; measured about 1e-15


@pytest.fixture
def two_datasets(tmp_path: Path) -> tuple[Path, ...]:
    """Four real CamVid training frames (coarse classes, class-weighted) and the Cityscapes sample, each as
    both splits, linked in place."""
    if not (CAMVID.is_dir() and CITYSCAPES.is_dir()):
        pytest.skip("CamVid or Cityscapes is missing from ../shared/data")
    camvid = tmp_path / "camvid"
    names = sorted(path.name for path in (CAMVID / "train").iterdir())[::60][:4]
    for split in ("train", "val"):
        for folder, source in ((split, "train"), (f"{split}annot", "trainannot")):
            (camvid / folder).mkdir(parents=True)
            for name in names:
                (camvid / folder / name).symlink_to(CAMVID / source / name)
    cityscapes = tmp_path / "cityscapes"
    for kind in ("leftImg8bit", "gtFine"):
        for split in ("train", "val"):
            (cityscapes / kind / split).mkdir(parents=True)
            (cityscapes / kind / split / "frankfurt").symlink_to(CITYSCAPES / kind / "val" / "frankfurt")
    return camvid, cityscapes


def test_two_processes_take_the_segmentation_step_one_process_takes(two_datasets: tuple[Path, ...]) -> None:
    assert_same_step(StepCase("segmentation", two_datasets))


def test_two_processes_take_the_action_step_one_process_takes(tmp_path: Path) -> None:
    clip_folder(tmp_path / "clips" / "train", 8, 0)
    assert_same_step(StepCase("actions", (tmp_path / "clips",)))


def kvision(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvision_driving.cli", *args], capture_output=True, text=True, timeout=600
    )


def first_losses(run: Path) -> list[float]:
    return json.loads(torch.load(run / "checkpoint.pt", weights_only=True)["history"])["loss"]


# Long (25 s): the default suite keeps the same CLI path for actions (--nproc 2 and torchrun) and the
# segmentation step's equality in two processes.
@pytest.mark.slow
def test_train_segmentation_in_two_processes_writes_once_and_resumes(two_datasets: tuple[Path, ...],
                                                                     tmp_path: Path) -> None:  # fmt: skip
    camvid, cityscapes = two_datasets
    common = ["train", "segmentation", "--data", str(camvid), "--data", str(cityscapes), "--height", "128"]
    common += ["--width", "192", "--crop", "96", "--batch-size", "4", "--eval-every", "2"]
    alone = kvision(*common, "--out", str(tmp_path / "alone"), "--iterations", "2")
    assert alone.returncode == 0, alone.stderr[-2000:]
    shared = kvision(*common, "--out", str(tmp_path / "shared"), "--iterations", "2", "--nproc", "2")
    assert shared.returncode == 0, shared.stderr[-2000:]
    said = shared.stdout + shared.stderr
    assert said.count("iteration 2: val mIoU") == 1 and said.count("outputs in") == 1  # rank 0 alone
    # The same batches: the losses agree to float32 rounding (the second after a step apart by rounding).
    assert np.allclose(first_losses(tmp_path / "shared"), first_losses(tmp_path / "alone"), rtol=1e-4)
    run = tmp_path / "shared"
    for output in ("segmentation.safetensors", "metrics.json", "confusion_camvid.png", "curves.png"):
        assert (run / output).stat().st_size > 0
    resumed = kvision(*common, "--out", str(run), "--iterations", "3", "--nproc", "2")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (resumed.stdout + resumed.stderr).count("resumed from") == 1  # said by rank 0 alone
    assert len(first_losses(run)) == 3
    assert json.loads((run / "metrics.json").read_text())["train_images"] == 4 + 1


def test_train_actions_in_two_processes_and_its_refusals(tmp_path: Path) -> None:
    clip_folder(tmp_path / "data" / "train", 8, 0)
    clip_folder(tmp_path / "data" / "val", 4, 1)
    common = ["train", "actions", "--data", str(tmp_path / "data"), "--iterations", "2", "--eval-every", "2"]
    shared = kvision(*common, "--out", str(tmp_path / "run"), "--batch-size", "4", "--nproc", "2")
    assert shared.returncode == 0, shared.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["train_clips"] == 8
    # The same command started by torchrun (each process finds its rank in the environment).
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    launched = subprocess.run(
        [*torchrun, "-m", "kvision_driving.cli", *common, "--out", str(tmp_path / "torchrun"), "--batch-size", "4"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "GLOO_SOCKET_IFNAME": "lo"},
    )  # fmt: skip
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert (launched.stdout + launched.stderr).count("outputs in") == 1
    assert first_losses(tmp_path / "torchrun") == pytest.approx(first_losses(tmp_path / "run"), rel=1e-4)
    odd = kvision(*common, "--out", str(tmp_path / "odd"), "--batch-size", "3", "--nproc", "2")
    assert odd.returncode == 2 and "--batch-size (3) must be a multiple of --nproc (2)" in odd.stderr
    # A rank that cannot read its data: the command says why, once, without a traceback.
    missing = kvision("train", "actions", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "m"),
                      "--batch-size", "4", "--nproc", "2")  # fmt: skip
    assert missing.returncode == 2 and "cannot read the clips" in missing.stderr, missing.stderr[-2000:]
    assert "Traceback" not in missing.stderr
