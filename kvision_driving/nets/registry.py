"""Architectures by name, so a model card can say which torch module its safetensors weights belong to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from safetensors.torch import load_file
from torch import nn

from kvision_driving.core.actions import ACTIONS
from kvision_driving.nets.actions import ActionNet, StreamingActionHead
from kvision_driving.nets.segmentation import CoarseLogitsHead, SegmentationHead, load_segmentation_network


def _action_head(weights: Path) -> nn.Module:
    network = ActionNet(len(ACTIONS))
    network.load_state_dict(load_file(str(weights)))
    return StreamingActionHead(network)


#: name -> builder of the exported module (same inputs and outputs as the ONNX file)
ARCHITECTURES: dict[str, Callable[[Path], nn.Module]] = {
    "fast_scnn_coarse_logits": lambda weights: CoarseLogitsHead(load_segmentation_network(weights)),
    "fast_scnn_head": lambda weights: SegmentationHead(load_segmentation_network(weights)),  # cards before the above
    "action_head": _action_head,
}


def build_exportable(architecture: str, weights: Path) -> nn.Module:
    if architecture not in ARCHITECTURES:
        raise KeyError(f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](weights)
