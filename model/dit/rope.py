"""Multi-shot MM-RoPE: 3D rotary positions for video tokens plus a 1D axis shared with text.

Every token carries a position on four axes (seq, t, h, w); each axis rotates its own slice of
the head dimensions (DiTConfig.rope_split).

The seq axis lays the conditioning out as if it were one interleaved sequence
    [caption_0, shot_0, caption_1, shot_1, ...]
caption s's j-th token sits at o_s + j, and every video token of shot s sits at P_s = o_s + L_s
(just after its caption). Before each later caption we leave a gap as long as that caption:
o_{s+1} = P_s + 1 + L_{s+1}, so every token of caption s is strictly nearer to P_s than to any
other shot's position. Video tokens of different shots are apart on this axis too, so temporal
layers see the cut. Video tokens also carry their (t, h, w) grid coordinates; a caption's tokens carry
t = the first latent frame of their shot and h = w = 0 (text has no spatial extent).
"""

from __future__ import annotations

import torch
from torch import Tensor

from seedance.kernels.reference import apply_rope  # noqa: F401  (the one definition; re-exported)


def axis_frequencies(dims: tuple[int, ...], theta: float, device=None) -> list[Tensor]:
    """Inverse frequencies for each axis: dims[i] // 2 values each."""
    return [
        1.0 / theta ** (torch.arange(0, d, 2, device=device, dtype=torch.float64) / d) for d in dims
    ]


def rope_angles(positions: Tensor, dims: tuple[int, ...], theta: float) -> tuple[Tensor, Tensor]:
    """cos and sin of the rotation angles for `positions` [..., n_axes] -> [..., head_dim // 2]."""
    freqs = axis_frequencies(dims, theta, positions.device)
    angles = torch.cat(
        [positions[..., i : i + 1].double() * f for i, f in enumerate(freqs)], dim=-1
    )
    return angles.cos().float(), angles.sin().float()




def mm_rope_positions(
    text_shot: Tensor,
    text_index: Tensor,
    text_mask: Tensor,
    frame_shot: Tensor,
    grid: tuple[int, int, int],
) -> tuple[Tensor, Tensor]:
    """Positions (seq, t, h, w) for text tokens [B, L, 4] and video tokens [B, T*H*W, 4].

    text_shot / text_index / text_mask: [B, L] shot id, index within its caption, real-token
    flag. frame_shot: [B, T] shot id of each latent frame (token grid). grid = (T, H, W).
    """
    t_len, h_len, w_len = grid
    batch, _ = text_shot.shape
    device = text_shot.device
    num_shots = int(max(frame_shot.max().item(), text_shot[text_mask].max().item() if text_mask.any() else 0)) + 1

    # Caption length per (sample, shot) and each shot's start offset on the seq axis.
    one_hot = torch.nn.functional.one_hot(text_shot.clamp(min=0), num_shots) * text_mask[..., None]
    cap_len = one_hot.sum(1)  # [B, S]
    # o_s = sum_{s'<s} (L_s' + 1) + sum_{0<s'<=s} L_s'  (the second sum is the gaps).
    offsets = torch.cumsum(cap_len + 1, dim=1) - (cap_len + 1) + torch.cumsum(cap_len, dim=1) - cap_len[:, :1]
    # First latent frame of each shot (frames are ordered, so the min index).
    frame_idx = torch.arange(t_len, device=device).expand(batch, t_len)
    big = torch.full((batch, num_shots), t_len, device=device, dtype=torch.long)
    first_frame = big.scatter_reduce(1, frame_shot, frame_idx, reduce="amin")
    first_frame = torch.where(first_frame == t_len, torch.zeros_like(first_frame), first_frame)

    shot_c = text_shot.clamp(min=0)
    text_pos = torch.stack(
        [
            offsets.gather(1, shot_c) + text_index,
            first_frame.gather(1, shot_c),
            torch.zeros_like(text_index),
            torch.zeros_like(text_index),
        ],
        dim=-1,
    )

    seq_v = (offsets + cap_len).gather(1, frame_shot)  # [B, T]
    tt, hh, ww = torch.meshgrid(
        torch.arange(t_len, device=device),
        torch.arange(h_len, device=device),
        torch.arange(w_len, device=device),
        indexing="ij",
    )
    grid_pos = torch.stack([tt, hh, ww], dim=-1).reshape(1, t_len * h_len * w_len, 3).expand(batch, -1, -1)
    seq_tokens = seq_v[:, :, None].expand(batch, t_len, h_len * w_len).reshape(batch, -1, 1)
    video_pos = torch.cat([seq_tokens, grid_pos], dim=-1)
    return text_pos, video_pos
