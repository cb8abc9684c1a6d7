"""VAE losses that need no downloaded weights.

Seedance trains its VAE with L1 + KL + LPIPS + adversarial. LPIPS needs pretrained VGG/AlexNet
weights, which cannot be downloaded here, so our perceptual term is computed, not learned:
an L1 on spatial and temporal finite differences at several scales (edges, texture and motion
must match, not only mean colour), plus feature matching against the discriminator's
intermediate features once the adversarial term is on.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def gradient_l1(x: Tensor, y: Tensor, scales: int = 3) -> Tensor:
    """Mean L1 between finite differences (h, w, and t when T > 1) of x and y over `scales` scales."""
    total = x.new_zeros(())
    for s in range(scales):
        if s:
            x = F.avg_pool3d(x, (1, 2, 2))
            y = F.avg_pool3d(y, (1, 2, 2))
            if x.shape[-1] < 2 or x.shape[-2] < 2:
                break
        for dim in (3, 4) + ((2,) if x.shape[2] > 1 else ()):
            total = total + (x.diff(dim=dim) - y.diff(dim=dim)).abs().mean()
    return total


def hinge_d_loss(real_logits: list[Tensor], fake_logits: list[Tensor]) -> Tensor:
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real_logits, fake_logits, strict=True))


def hinge_g_loss(fake_logits: list[Tensor]) -> Tensor:
    return sum(-f.mean() for f in fake_logits)


def feature_matching(real_feats: list[Tensor], fake_feats: list[Tensor]) -> Tensor:
    return sum((r.detach() - f).abs().mean() for r, f in zip(real_feats, fake_feats, strict=True))


def subject_weighted_l1(x: Tensor, y: Tensor, subject_weight: float) -> Tensor:
    """L1 with each pixel weighted by 1 + subject_weight * chroma(y), normalised by the weights.

    chroma = max - min over RGB (0 for greys, up to 2 in [-1, 1] video). ShapesWorld's subjects
    are its only saturated pixels and a few percent of a frame, so a plain mean lets the decoder
    shift their hue and blur their outline at little cost; this makes them count. 0 = plain L1.
    """
    if subject_weight == 0:
        return (x - y).abs().mean()
    w = 1 + subject_weight * (y.amax(1, keepdim=True) - y.amin(1, keepdim=True))
    return ((x - y).abs() * w).sum() / (w.sum() * x.shape[1])
