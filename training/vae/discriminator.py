"""A hybrid PatchGAN discriminator that sees appearance (each frame, 2D) and motion (the clip, 3D).

Seedance's VAE discriminator is a PatchGAN-like hybrid for appearance and motion; ours has a
2D branch over frames and a 3D branch over the clip, each a few strided convs ending in a
per-patch logit map. Both branches return their intermediate features for feature matching.
"""

from __future__ import annotations

from torch import Tensor, nn


def _branch(conv: type[nn.Module], channels: tuple[int, ...], stride) -> nn.ModuleList:
    layers, c_in = [], 3
    for c in channels:
        layers.append(nn.Sequential(conv(c_in, c, 3, stride, 1), nn.GroupNorm(min(8, c), c), nn.LeakyReLU(0.2)))
        c_in = c
    layers.append(conv(c_in, 1, 3, 1, 1))
    return nn.ModuleList(layers)


class HybridDiscriminator(nn.Module):
    def __init__(self, channels: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        self.appearance = _branch(nn.Conv2d, channels, 2)
        self.motion = _branch(nn.Conv3d, channels, (1, 2, 2))

    @staticmethod
    def _run(layers: nn.ModuleList, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        feats = []
        for layer in layers[:-1]:
            x = layer(x)
            feats.append(x)
        return layers[-1](x), feats

    def forward(self, video: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """video [B, 3, T, H, W] -> (logit maps, features) of both branches."""
        b, c, t, h, w = video.shape
        frames = video.transpose(1, 2).reshape(b * t, c, h, w)
        logit_a, feats_a = self._run(self.appearance, frames)
        logits, feats = [logit_a], feats_a
        if t > 1:
            logit_m, feats_m = self._run(self.motion, video)
            logits.append(logit_m)
            feats = feats + feats_m
        return logits, feats
