"""Model cards: what a model is, how to feed it, how good it is, and the sha256 that proves the file.

Every ONNX file in models/ has ``<name>.card.json`` beside it. Loading a model verifies the file's
sha256 against its card first and refuses a file that does not match.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kvision_driving.core.image_fit import SIZE_POLICIES
from kvision_driving.resources import installed_path


class ModelIntegrityError(RuntimeError):
    """A model file whose sha256 is not the one its card records, or a card that is missing or malformed."""


@dataclass
class InputSpec:
    name: str
    shape: list[int]  # [channels, height, width]; batch is dynamic
    # How an image of another size becomes the input (core.image_fit): "letterbox" into exactly this size,
    # or "pixels": any size of about height x width pixels, multiples of 32 (the graph's sizes are dynamic).
    size_policy: str = "letterbox"
    colour_order: str = "rgb"
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    scale: float = 1.0 / 255.0  # applied before mean/std


@dataclass
class ModelCard:
    name: str
    task: str  # segmentation | actions | gan
    file: str  # the ONNX file name, beside the card
    sha256: str
    input: InputSpec
    outputs: dict[str, str]  # output name -> meaning
    classes: list[str]
    training: dict[str, Any] = field(default_factory=dict)  # data, command, seed, iterations...
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    extra_inputs: dict[str, list[int]] = field(default_factory=dict)  # further inputs by name, shape without batch

    @property
    def height(self) -> int:
        return int(self.input.shape[1])

    @property
    def width(self) -> int:
        return int(self.input.shape[2])

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def card_path_for(model: Path) -> Path:
    return model.with_name(model.name.removesuffix(".onnx") + ".card.json")


def load_card(path: Path) -> ModelCard:
    """A card from JSON; raises ModelIntegrityError naming what is wrong."""
    try:
        data = json.loads(path.read_text())
        data["input"] = InputSpec(**data["input"])
        card = ModelCard(**data)
    except FileNotFoundError as error:
        raise ModelIntegrityError(f"model card {path} not found: every model needs its card") from error
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ModelIntegrityError(f"model card {path} is malformed: {error}") from error
    if len(card.input.shape) != 3 or min(card.input.shape) <= 0:
        raise ModelIntegrityError(f"model card {path}: input shape must be three positive sizes (batch is dynamic)")
    if card.input.size_policy not in SIZE_POLICIES:
        raise ModelIntegrityError(f"model card {path}: size_policy must be one of {', '.join(SIZE_POLICIES)}")
    if len(card.sha256) != 64:
        raise ModelIntegrityError(f"model card {path}: sha256 must be 64 hex digits")
    return card


def verified_card(model: Path) -> ModelCard:
    """The card of ``model`` after checking the file's sha256 against it."""
    if not model.is_file():
        raise ModelIntegrityError(f"model file {model} not found")
    card = load_card(card_path_for(model))
    actual = sha256_of(model)
    if actual != card.sha256:
        raise ModelIntegrityError(
            f"{model} does not match its model card (sha256 {actual[:16]}..., card says {card.sha256[:16]}...): "
            "refusing to load a modified or corrupted model"
        )
    return card


def write_card(card: ModelCard, model: Path) -> Path:
    """Write ``<model>.card.json`` and a Markdown rendering beside the model, sha256 filled in."""
    card.sha256 = sha256_of(model)
    card.file = model.name
    path = card_path_for(model)
    path.write_text(card.to_json() + "\n")
    path.with_name(path.name.removesuffix(".json") + ".md").write_text(card_markdown(card))
    return path


_SIZE_POLICY_TEXT = {
    "letterbox": "scaled to fit this size keeping the aspect ratio, padded (fixed input size)",
    "pixels": "any size: scaled to about this many pixels keeping the aspect ratio, padded to multiples of 32",
}


def card_markdown(card: ModelCard) -> str:
    lines = [
        f"# Model card: {card.name}",
        "",
        f"- task: {card.task}",
        f"- file: `{card.file}`",
        f"- sha256: `{card.sha256}`",
        f"- input `{card.input.name}`: {card.input.colour_order.upper()} float32 N x {card.input.shape[0]} x "
        f"{card.input.shape[1]} x {card.input.shape[2]}, x * {card.input.scale:.6g} then (x - mean) / std with "
        f"mean {card.input.mean}, std {card.input.std}; other image sizes: {_SIZE_POLICY_TEXT[card.input.size_policy]}",
        *(f"- input `{name}`: float32 N x {' x '.join(map(str, shape))}" for name, shape in card.extra_inputs.items()),
        *(f"- output `{name}`: {meaning}" for name, meaning in card.outputs.items()),
        f"- classes ({len(card.classes)}): {', '.join(card.classes)}",
        "",
    ]
    if card.training:
        lines += ["## Training", "", *(f"- {key}: {value}" for key, value in card.training.items()), ""]
    if card.metrics:
        lines += ["## Metrics", ""]
        for key, value in card.metrics.items():
            if not isinstance(value, (dict, list)):
                lines.append(f"- {key}: {value}")
        for key, value in card.metrics.items():
            if key.endswith("per_class_iou") and isinstance(value, dict) and value:
                title = key.removesuffix("per_class_iou").strip("_").replace("_", " ") or "validation"
                lines += ["", f"{title}:", "", "| class | IoU |", "|---|---|"]
                lines += [f"| {name} | {iou:.3f} |" for name, iou in value.items()]
        lines.append("")
    if card.notes:
        lines += ["## Notes", "", card.notes, ""]
    return "\n".join(lines)


def shipped_model(file_name: str) -> Path:
    """``models/<file_name>`` of the source tree, else of the installed package's share folder."""
    return installed_path("models", file_name)
