"""Turning a plan's captions, shots and frame images into DiT conditioning tensors."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from seedance.model.dit import TextTokens


def pack_captions(hidden: Tensor, mask: Tensor) -> TextTokens:
    """Per-shot caption embeddings [S, L, D] (+ mask [S, L]) -> one sample's packed tokens [1, sum L_s, D].

    Real tokens of caption s keep their order and are tagged with shot s and their index within
    the caption; MM-RoPE places them next to shot s.
    """
    keep = mask.bool()
    lengths = keep.sum(1)
    shot = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    index = torch.cat([torch.arange(int(n)) for n in lengths])
    packed = hidden[keep]
    return TextTokens(packed[None], torch.ones(1, len(packed), dtype=torch.bool), shot[None], index[None])


def stack_text(items: list[TextTokens]) -> TextTokens:
    """Batch packed captions of different lengths, padding on the right (mask False)."""
    length = max(t.hidden.shape[1] for t in items)

    def pad(x: Tensor, value) -> Tensor:
        return torch.nn.functional.pad(x, (0, 0, 0, length - x.shape[1]) if x.dim() == 3 else (0, length - x.shape[1]),
                                       value=value)

    return TextTokens(
        torch.cat([pad(t.hidden, 0.0) for t in items]),
        torch.cat([pad(t.mask, False) for t in items]),
        torch.cat([pad(t.shot, 0) for t in items]),
        torch.cat([pad(t.index, 0) for t in items]),
    )


def frame_shots(latent_frames: int, num_shots: int) -> Tensor:
    """Split latent frames into `num_shots` contiguous, near-equal shots: [T] shot ids."""
    bounds = np.linspace(0, latent_frames, num_shots + 1).round().astype(int)
    return torch.from_numpy(np.repeat(np.arange(num_shots), np.diff(bounds)))


def shot_pixel_range(shots: Tensor, shot: int, temporal: int) -> list[int]:
    """[first, last] pixel frame of `shot`. Latent frame 0 is pixel frame 0; latent frame i >= 1
    covers pixel frames 1 + (i-1)*temporal .. i*temporal (the causal VAE's layout)."""
    idx = (shots == shot).nonzero().flatten()
    a, b = int(idx[0]), int(idx[-1])
    return [0 if a == 0 else 1 + (a - 1) * temporal, b * temporal]


def frames_to_video_tensor(frames: np.ndarray) -> Tensor:
    """uint8 [T, H, W, 3] -> float [1, 3, T, H, W] in [-1, 1]."""
    x = torch.from_numpy(np.array(frames, dtype=np.uint8)).float().div(127.5).sub(1.0)
    return x.permute(3, 0, 1, 2).unsqueeze(0)


def video_tensor_to_frames(video: Tensor) -> np.ndarray:
    """float [1, 3, T, H, W] in [-1, 1] -> uint8 [T, H, W, 3]."""
    x = video[0].float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return x.permute(1, 2, 3, 0).cpu().numpy()
