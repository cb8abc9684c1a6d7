"""The encoder's output: a diagonal Gaussian over latents."""

from __future__ import annotations

import torch
from torch import Tensor

# Keeps exp(logvar) finite in float16/bfloat16 and the KL from exploding early in training.
LOGVAR_RANGE = (-30.0, 20.0)


class LatentDistribution:
    """Diagonal Gaussian N(mean, exp(logvar)); both tensors are [B, C, t, h, w]."""

    def __init__(self, mean: Tensor, logvar: Tensor) -> None:
        if mean.shape != logvar.shape:
            raise ValueError(
                f"logvar: must have the shape of mean {tuple(mean.shape)}, got {tuple(logvar.shape)}"
            )
        self.mean = mean
        self.logvar = logvar.clamp(*LOGVAR_RANGE)

    @classmethod
    def from_moments(cls, moments: Tensor) -> LatentDistribution:
        """Split the encoder's [B, 2C, ...] output into (mean, logvar) along channels."""
        mean, logvar = moments.chunk(2, dim=1)
        return cls(mean, logvar)

    @property
    def std(self) -> Tensor:
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """mean + std * eps; the same `generator` state gives the same sample."""
        eps = torch.randn(
            self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype
        )
        return self.mean + self.std * eps

    def mode(self) -> Tensor:
        return self.mean

    def kl(self) -> Tensor:
        """KL(N(mean, var) || N(0, 1)) summed over all latent elements: one value per sample, [B]."""
        kl = 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar)
        return kl.flatten(1).sum(dim=1)
