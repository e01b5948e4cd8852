"""Segmentation loss for labels coarser than the network's classes.

A dataset class that covers several network classes (CamVid ``car`` = car + truck + bus + train) has the
probability of their sum; the loss is its negative log:

    -log sum_{c in cover(target)} softmax(logits)_c

Summing each cover's exponentiated scores gives one score per dataset class whose softmax is exactly those
summed probabilities (the covers partition the classes; classes no dataset class covers form one more,
never a target), so the loss is the ordinary weighted cross entropy over them. With one class per cover
(Cityscapes, the simulator) it is exactly ``F.cross_entropy``, which is used directly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812


def merged_scores(logits: torch.Tensor, covers: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) network scores -> (N, K + 1, H, W) log-summed scores of the K covers and of the rest."""
    rest = ~covers.any(dim=0, keepdim=True)
    groups = torch.cat([covers, rest]).to(logits.dtype)  # (K + 1, C)
    peak = logits.amax(dim=1, keepdim=True).detach()  # stability: exp() of at most 0
    summed = F.conv2d(torch.exp(logits - peak), groups[:, :, None, None])  # a 1x1 convolution sums each group
    # An empty group (no uncovered class) or a cover far below the peak would be log(0).
    return torch.log(summed.clamp_min(torch.finfo(logits.dtype).tiny)) + peak


def covered_nll(
    logits: torch.Tensor,
    target: torch.Tensor,
    covers: torch.Tensor,
    class_weights: torch.Tensor | None = None,
    ignore_index: int = 255,
    reduction: str = "mean",
) -> torch.Tensor:
    """Mean (``reduction="sum"``: sum) weighted negative log probability of each pixel's dataset class.

    logits (N, C, H, W) over the network's C classes; target (N, H, W) dataset class ids or ``ignore_index``;
    covers (K, C) bool, which network classes each of the K dataset classes covers; class_weights (K,).
    Weighted as ``F.cross_entropy(weight=...)``: by the target's class, averaged by the weights' sum.
    """
    classes, network_classes = covers.shape
    if network_classes != logits.shape[1]:
        raise ValueError(f"covers {tuple(covers.shape)} do not match {logits.shape[1]} network classes")
    valid = target[target != ignore_index]
    if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= classes):
        raise ValueError(f"targets outside 0..{classes - 1} (and {ignore_index} = ignore)")
    identity = classes == network_classes and bool(torch.equal(covers, torch.eye(classes, dtype=torch.bool)))
    if identity:
        weight = None if class_weights is None else class_weights.to(logits.dtype)
        return F.cross_entropy(logits, target, weight=weight, ignore_index=ignore_index, reduction=reduction)
    weights = None
    if class_weights is not None:
        weights = torch.cat([class_weights.to(logits.dtype), logits.new_zeros(1)])  # the rest is never a target
    return F.cross_entropy(
        merged_scores(logits, covers), target, weight=weights, ignore_index=ignore_index, reduction=reduction
    )
