"""A light video network that tells what a road user is doing from a short clip of camera crops.

Two parts, so that a node pays for each camera crop once and not once per clip position:

- a **frame encoder** (2D, per frame): 64x64 RGB crop -> a 32-channel 8x8 feature map. Small
  cells (8x8 pixels of the crop each) keep a light where it is, so a blinking indicator stays a
  change at its own cells and is not averaged away with the body around it;
- a **temporal head** over the last T encoded frames, (2+1)D as in R(2+1)D (Tran et al., 2018):
  temporal 3x1x1 convolutions around a spatial one, then three temporal summaries of the pooled
  map: the mean (steady appearance, a walking gait), the range max - min (what changes: a
  blinking indicator, hazards) and the last frame (the state now: brake lights on). A second
  small branch reads the track's ground velocity over the same frames (what a tracker estimates),
  which tells a stopped car from a moving one far better than pixels can.

Training runs the encoder on all T frames of a clip; the deployed graph (``StreamingActionHead``)
takes the newest crop plus the T-1 feature maps the node kept from earlier calls, and returns the
scores and the new crop's feature map to keep. Both give the same result (tested).
"""

from __future__ import annotations

import torch
from torch import nn

CLIP_FRAMES = 16
CROP_SIZE = 64
FEATURE_CHANNELS = 32
FEATURE_SIZE = CROP_SIZE // 8


def conv_bn_relu(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))


class FrameEncoder(nn.Sequential):
    """N x 3 x 64 x 64 -> N x 32 x 8 x 8."""

    def __init__(self) -> None:
        super().__init__(
            conv_bn_relu(3, 16, 2),
            conv_bn_relu(16, 32, 2),
            conv_bn_relu(32, 32, 1),
            conv_bn_relu(32, FEATURE_CHANNELS, 2),
        )


class TemporalHead(nn.Module):
    """Encoded frames N x C x T x 8 x 8 and motion N x T x 2 -> logits N x classes."""

    def __init__(self, classes: int, width: int = 64, motion_width: int = 32) -> None:
        super().__init__()
        channels = FEATURE_CHANNELS
        self.video = nn.Sequential(
            nn.Conv3d(channels, channels, (3, 1, 1), 1, (1, 0, 0), bias=False),
            nn.BatchNorm3d(channels),
            nn.ReLU(True),
            nn.Conv3d(channels, width, (1, 3, 3), (1, 2, 2), (0, 1, 1), bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(True),
            nn.Conv3d(width, width, (3, 1, 1), 1, (1, 0, 0), bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(True),
        )
        self.motion = nn.Sequential(
            nn.Conv1d(2, motion_width, 3, padding=1),
            nn.ReLU(True),
            nn.Conv1d(motion_width, motion_width, 3, padding=1),
            nn.ReLU(True),
        )
        self.classifier = nn.Sequential(
            nn.Linear(width * 3 + motion_width * 2, 128), nn.ReLU(True), nn.Dropout(0.2), nn.Linear(128, classes)
        )

    def forward(self, encoded: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        video = self.video(encoded).mean(dim=(3, 4))  # N x C x T
        steady = video.mean(dim=2)
        change = video.amax(dim=2) - video.amin(dim=2)
        now = video[:, :, -1]
        kinematics = self.motion(motion.transpose(1, 2))  # N x C x T
        return self.classifier(torch.cat([steady, change, now, kinematics.mean(dim=2), kinematics[:, :, -1]], dim=1))


class ActionNet(nn.Module):
    """The training graph: clip N x 3 x T x S x S (oldest frame first), motion N x T x 2 -> logits."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.encoder = FrameEncoder()
        self.head = TemporalHead(classes)

    def encode(self, clip: torch.Tensor) -> torch.Tensor:
        """N x 3 x T x S x S -> N x C x T x 8 x 8, every frame through the same encoder."""
        n, c, t, h, w = clip.shape
        frames = clip.transpose(1, 2).reshape(n * t, c, h, w)
        return self.encoder(frames).reshape(n, t, FEATURE_CHANNELS, h // 8, w // 8).transpose(1, 2)

    def forward(self, clip: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(clip), motion)


class StreamingActionHead(nn.Module):
    """The deployed graph: the newest crop ``frame`` N x 3 x S x S, the kept ``history`` N x (T-1) x C x 8 x 8
    (oldest first) and ``motion`` N x T x 2 -> ``scores`` N x classes (softmax) and ``features`` N x C x 8 x 8
    (the newest crop encoded, for the caller to keep)."""

    def __init__(self, network: ActionNet) -> None:
        super().__init__()
        self.network = network

    def forward(
        self, frame: torch.Tensor, history: torch.Tensor, motion: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.network.encoder(frame)
        encoded = torch.cat([history, features.unsqueeze(1)], dim=1).transpose(1, 2)  # N x C x T x 8 x 8
        return torch.softmax(self.network.head(encoded, motion), dim=1), features
