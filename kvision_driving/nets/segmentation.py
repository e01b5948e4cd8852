"""A real-time semantic segmentation network for embedded GPUs, in the spirit of Fast-SCNN.

Fast-SCNN (Poudel et al., 2019): a shallow *learning-to-downsample* stem reaches 1/8 resolution in
three strided convolutions; a *global feature extractor* of inverted-residual bottlenecks goes to
1/32 with pyramid pooling for context; a *feature fusion* module adds the upsampled context to
the 1/8 detail; a light classifier predicts the 19 Cityscapes train ids. A last *detail refinement*
at 1/4 resolution (as BiSeNet's and PIDNet's detail branches do) corrects the upsampled logits
with the stem's 1/4 features, where thin poles, riders and bicycle frames are still visible.
About 1.1M parameters.
Everything is convolution, batch norm, ReLU, average pooling and bilinear resizing, so it
exports cleanly to ONNX and runs well under TensorRT.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812 - the universal alias
from safetensors.torch import load_file
from torch import nn

NUM_CLASSES = 19


def conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)
    )


class DepthwiseSeparable(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
            nn.BatchNorm2d(cin),
            nn.ReLU(True),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(True),
        )


class Bottleneck(nn.Module):
    """MobileNetV2 inverted residual: expand, depthwise, project; residual when the shape allows."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int = 6) -> None:
        super().__init__()
        hidden = cin * expansion
        self.residual = stride == 1 and cin == cout
        self.block = nn.Sequential(
            conv_bn_relu(cin, hidden, 1),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(True),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.residual else out


def bottlenecks(cin: int, cout: int, count: int, stride: int) -> nn.Sequential:
    return nn.Sequential(Bottleneck(cin, cout, stride), *(Bottleneck(cout, cout, 1) for _ in range(count - 1)))


class PyramidPooling(nn.Module):
    """Context at several scales: the whole image, and windows of 6 and 3 cells of the 1/32 map (192 and 96
    input pixels), each projected, upsampled and concatenated to the map.

    Windows of a fixed size rather than a fixed number of bins: the network then runs on any input size
    and aspect ratio (a KITTI frame, a 4:3 camera) with the same meaning of context, and the graph
    exports with dynamic height and width (ONNX has no adaptive pooling; exporters freeze its kernel
    to the example's size). Windows overhanging the edge average the cells they cover.
    """

    def __init__(self, channels: int, windows: tuple[int, ...] = (0, 6, 3)) -> None:
        super().__init__()
        self.windows = windows  # 0: the whole map
        self.stages = nn.ModuleList(conv_bn_relu(channels, channels // 4, 1) for _ in windows)
        self.project = conv_bn_relu(channels + len(windows) * (channels // 4), channels, 1)

    @staticmethod
    def pool(x: torch.Tensor, window: int) -> torch.Tensor:
        if window == 0:
            return x.mean(dim=(2, 3), keepdim=True)
        return F.avg_pool2d(x, window, window, ceil_mode=True, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [
            F.interpolate(stage(self.pool(x, w)), size=size, mode="bilinear", align_corners=False)
            for w, stage in zip(self.windows, self.stages, strict=True)
        ]
        return self.project(torch.cat([x, *pooled], dim=1))


class DetailRefinement(nn.Module):
    """Logits at 1/8 upsampled to 1/4 and corrected from 1/4-resolution features.

    The correction's last convolution starts at zero, so a network trained without this module
    keeps its exact output when the module is added, and fine-tuning starts from there.
    """

    def __init__(self, feature_channels: int, num_classes: int, hidden: int = 48) -> None:
        super().__init__()
        self.mix = DepthwiseSeparable(feature_channels + num_classes, hidden)
        self.correction = nn.Conv2d(hidden, num_classes, 1)
        nn.init.zeros_(self.correction.weight)
        nn.init.zeros_(self.correction.bias)

    def forward(self, logits: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        logits = F.interpolate(logits, size=features.shape[-2:], mode="bilinear", align_corners=False)
        return logits + self.correction(self.mix(torch.cat([features, logits], dim=1)))


class FastSCNN(nn.Module):
    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.downsample = nn.Sequential(  # learning to downsample: 1/8
            conv_bn_relu(3, 32, 3, 2),
            DepthwiseSeparable(32, 48, 2),
            DepthwiseSeparable(48, 64, 2),
        )
        self.global_features = nn.Sequential(  # 1/32 context
            bottlenecks(64, 64, 3, 2),
            bottlenecks(64, 96, 3, 2),
            bottlenecks(96, 128, 3, 1),
            PyramidPooling(128),
        )
        self.detail = nn.Sequential(nn.Conv2d(64, 128, 1, bias=False), nn.BatchNorm2d(128))
        self.context = nn.Sequential(
            nn.Conv2d(128, 128, 3, 1, 1, groups=128, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(True),
            nn.Conv2d(128, 128, 1, bias=False),
            nn.BatchNorm2d(128),
        )
        self.classifier = nn.Sequential(
            DepthwiseSeparable(128, 128),
            DepthwiseSeparable(128, 128),
            nn.Dropout(0.1),
            nn.Conv2d(128, num_classes, 1),
        )
        self.refine = DetailRefinement(48, num_classes)
        # Added to the deployed scores: minus the log of the class weights the loss was weighted by (times a
        # strength, train_segmentation.TrainConfig.offset_strength). A loss weighted by w_c is minimised by
        # scores whose softmax is proportional to w_c * p(c | image), which favours rare classes wherever
        # the image is ambiguous; the full offset restores p(c | image). Zero: no correction.
        self.register_buffer("score_offset", torch.zeros(num_classes))

    def coarse_logits(self, image: torch.Tensor) -> torch.Tensor:
        """Normalised image (N, 3, H, W), H and W multiples of 32 -> deployed class scores at 1/4
        (N, classes, H/4, W/4): the trained scores corrected by ``score_offset``."""
        return self.trained_logits(image) + self.score_offset[:, None, None]

    def trained_logits(self, image: torch.Tensor) -> torch.Tensor:
        """The scores the loss is computed on, at 1/4 resolution, without the deployed offset."""
        quarter = self.downsample[:2](image)
        detail = self.downsample[2](quarter)
        context = self.global_features(detail)
        context = F.interpolate(context, size=detail.shape[-2:], mode="bilinear", align_corners=False)
        fused = F.relu(self.detail(detail) + self.context(context))
        return self.refine(self.classifier(fused), quarter)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Training: normalised image (N, 3, H, W), H and W multiples of 32 -> trained logits (N, classes, H, W)."""
        logits = self.trained_logits(image)
        return F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False)


class CoarseLogitsHead(nn.Module):
    """What is exported: normalised image -> class scores at a quarter of its resolution.

    Upsampling 19 score maps to full resolution and reducing them over classes cost more than the
    network itself on a CPU (ONNX Runtime, one thread: 39 of 66 ms per 640x384 frame). The node
    computes the very same labels from the coarse scores, blending only where classes meet
    (``perception.segmentation.labels_from_logits``), in a few milliseconds.
    """

    def __init__(self, network: FastSCNN) -> None:
        super().__init__()
        self.network = with_offset_folded(network)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.network.coarse_logits(image)


def with_offset_folded(network: FastSCNN) -> FastSCNN:
    """A copy computing the same deployed scores with ``score_offset`` moved into the bias of the refinement's
    last convolution (both are added to the same sum), so the graph has no extra addition: INT8 quantises one
    output sum, not two in a row (measured on CamVid val: 0.020 mIoU lost with the extra addition, 0.008 without)."""
    folded = copy.deepcopy(network)
    with torch.no_grad():
        folded.refine.correction.bias += folded.score_offset
        folded.score_offset.zero_()
    return folded


class SegmentationHead(nn.Module):
    """What was exported until the coarse logits: normalised image -> per-pixel class id (int32) and its softmax
    confidence at full resolution. Kept so the torch backend still runs models whose card names it.

    Putting argmax and softmax in the graph lets ONNX Runtime / TensorRT do them in native code and
    keeps the node's post-processing to a resize. int32, not uint8: every TensorRT version since 8.6
    supports int32 network outputs.
    """

    def __init__(self, network: FastSCNN) -> None:
        super().__init__()
        self.network = network

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        coarse = self.network.coarse_logits(image)
        logits = F.interpolate(coarse, size=image.shape[-2:], mode="bilinear", align_corners=False)
        top, labels = logits.max(dim=1)
        # The winning class's softmax probability, 1 / sum(exp(l - max)), without a full softmax:
        # ONNX Runtime's Softmax over the channel axis of NCHW took 140 of 160 ms per frame.
        confidence = 1.0 / torch.exp(logits - top.unsqueeze(1)).sum(dim=1)
        return labels.to(torch.int32), confidence


def load_segmentation_network(weights: Path) -> FastSCNN:
    """The network from safetensors; files saved before ``score_offset`` existed load with a zero offset
    (they were never corrected), any other missing or extra tensor is an error."""
    network = FastSCNN()
    tensors = load_file(str(weights))
    tensors.setdefault("score_offset", network.score_offset)
    network.load_state_dict(tensors)
    return network


def parameter_count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())
