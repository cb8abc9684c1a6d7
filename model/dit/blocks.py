"""Seedance's decoupled layers.

SpatialBlock: MMDiT joint self-attention over [text; one frame's tokens], separate weights per
modality. Frames never mix here. The text stream is updated once per frame it attends with and
the per-frame updates are averaged (the paper does not say how a frame-wise joint layer updates
the shared caption; averaging keeps the text stream's cost independent of clip length).

TemporalBlock: visual-only attention across ALL latent frames within a spatial window (full
temporal reach, local spatial reach). Windows tile the frame; a frame that is not a multiple of
the window is padded and the padding is masked out of the keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seedance.model.dit.layers import Stream, attention


@dataclass
class Rope:
    """Precomputed rotary tables for one forward pass."""

    video_cos: Tensor  # [B, T*H*W, Dh/2]
    video_sin: Tensor
    text_cos: Tensor  # [B, L, Dh/2]
    text_sin: Tensor
    _windowed: dict = field(default_factory=dict, repr=False)

    def windowed(self, batch: int, grid: tuple[int, int, int], window: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """video_cos/sin in window order ([B*nWin, T*wh*ww, Dh/2]), made once per forward and
        shared by every temporal block."""
        key = (batch, grid, window)
        if key not in self._windowed:
            self._windowed[key] = tuple(window_partition(t.expand(batch, -1, -1), grid, window)
                                        for t in (self.video_cos, self.video_sin))
        return self._windowed[key]


class SpatialBlock(nn.Module):
    """`text_output=False` for the last spatial layer: the caption only lends keys and values."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qk_norm: bool, text_output: bool = True):
        super().__init__()
        self.text_output = text_output
        self.video = Stream(dim, num_heads, mlp_ratio, qk_norm)
        self.text = Stream(dim, num_heads, mlp_ratio, qk_norm, kv_only=not text_output)

    def forward(
        self, x: Tensor, txt: Tensor, txt_mask: Tensor, c: Tensor, rope: Rope, grid: tuple[int, int, int]
    ) -> tuple[Tensor, Tensor]:
        """x [B, T*H*W, D] video tokens, txt [B, L, D], txt_mask [B, L], c [B, D] timestep."""
        b, _, d = x.shape
        t, n = grid[0], grid[1] * grid[2]
        length = txt.shape[1]
        mv, mt = self.video.modulations(c), self.text.modulations(c)
        qv, kv, vv = self.video.qkv_heads_rope(x, mv, rope.video_cos, rope.video_sin)
        if self.text_output:
            qt, kt, vt = self.text.qkv_heads_rope(txt, mt, rope.text_cos, rope.text_sin)
        else:
            kt, vt = self.text.kv_heads_rope(txt, mt, rope.text_cos, rope.text_sin)

        def per_frame(video_part: Tensor, text_part: Tensor) -> Tensor:
            # [B, T*N, H, Dh] + [B, L, H, Dh] -> [B*T, L+N, H, Dh]: each frame with the caption.
            frames = video_part.reshape(b * t, n, *video_part.shape[2:])
            text_rep = text_part.unsqueeze(1).expand(b, t, *text_part.shape[1:]).reshape(b * t, length, *text_part.shape[2:])
            return torch.cat([text_rep, frames], dim=1)

        key_mask = torch.cat(
            [txt_mask.unsqueeze(1).expand(b, t, length).reshape(b * t, length),
             torch.ones(b * t, n, dtype=torch.bool, device=x.device)],
            dim=1,
        )
        if not self.text_output:  # only the frames query; the caption's output would go unread
            out = attention(qv.reshape(b * t, n, *qv.shape[2:]), per_frame(kv, kt), per_frame(vv, vt), key_mask)
            return self.video.finish(x, out.reshape(b, t * n, d), mv), txt
        out = attention(per_frame(qv, qt), per_frame(kv, kt), per_frame(vv, vt), key_mask)
        out_text = out[:, :length].reshape(b, t, length, d).mean(1)
        out_video = out[:, length:].reshape(b, t * n, d)
        return self.video.finish(x, out_video, mv), self.text.finish(txt, out_text, mt)


def window_partition(x: Tensor, grid: tuple[int, int, int], window: tuple[int, int]) -> Tensor:
    """[B, T*H*W, ...] -> [B*nWin, T*wh*ww, ...], zero-padding H and W up to the window."""
    t, h, w = grid
    wh, ww = window
    b, rest = x.shape[0], x.shape[2:]
    x = x.reshape(b, t, h, w, -1)
    ph, pw = (-h) % wh, (-w) % ww
    if ph or pw:
        x = F.pad(x, (0, 0, 0, pw, 0, ph))
    nh, nw = (h + ph) // wh, (w + pw) // ww
    x = x.reshape(b, t, nh, wh, nw, ww, -1).permute(0, 2, 4, 1, 3, 5, 6)
    return x.reshape(b * nh * nw, t * wh * ww, *rest)


def window_merge(x: Tensor, batch: int, grid: tuple[int, int, int], window: tuple[int, int]) -> Tensor:
    """Inverse of window_partition: [B*nWin, T*wh*ww, C] -> [B, T*H*W, C], dropping padding."""
    t, h, w = grid
    wh, ww = window
    nh, nw = -(-h // wh), -(-w // ww)
    x = x.reshape(batch, nh, nw, t, wh, ww, -1).permute(0, 3, 1, 4, 2, 5, 6)
    x = x.reshape(batch, t, nh * wh, nw * ww, -1)[:, :, :h, :w]
    return x.reshape(batch, t * h * w, -1)


class TemporalBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qk_norm: bool, window: tuple[int, int]):
        super().__init__()
        self.window = window
        self.video = Stream(dim, num_heads, mlp_ratio, qk_norm)

    def effective_window(self, grid: tuple[int, int, int]) -> tuple[int, int]:
        return (min(self.window[0], grid[1]), min(self.window[1], grid[2]))

    def forward(self, x: Tensor, c: Tensor, rope: Rope, grid: tuple[int, int, int]) -> Tensor:
        """x [B, T*H*W, D]. Text is not an input: temporal layers are visual-only."""
        window = self.effective_window(grid)
        mv = self.video.modulations(c)
        if not (grid[1] % window[0] or grid[2] % window[1]):
            return self._forward_in_window_order(x, mv, rope, grid, window)
        return self._forward_padded(x, mv, rope, grid, window)

    def _forward_padded(self, x: Tensor, mv: tuple[Tensor, ...], rope: Rope,
                        grid: tuple[int, int, int], window: tuple[int, int]) -> Tensor:
        """Windows that overhang the frame: q, k, v are partitioned (zero-padded) and the padding
        is masked out of the keys; everything else runs in frame order."""
        b = x.shape[0]
        q, k, v = self.video.qkv_heads_rope(x, mv, rope.video_cos, rope.video_sin)
        q, k, v = (window_partition(z, grid, window) for z in (q, k, v))
        key_mask = None  # decided from shapes, not data: no graph break under compile, no GPU sync
        if grid[1] % window[0] or grid[2] % window[1]:
            ones = torch.ones(b, x.shape[1], 1, dtype=torch.bool, device=x.device)
            key_mask = window_partition(ones, grid, window)[..., 0]
        out = attention(q, k, v, key_mask)
        return self.video.finish(x, window_merge(out, b, grid, window), mv)

    def _forward_in_window_order(self, x: Tensor, mv: tuple[Tensor, ...], rope: Rope,
                                 grid: tuple[int, int, int], window: tuple[int, int]) -> Tensor:
        """The same block with its tokens in window order from start to finish: every op but the
        attention is per token, so the block permutes x once on the way in and once on the way
        out, instead of permuting q, k and v in and the attention output back (two D-wide copies
        instead of four: layout copies were ~9% of a seedance-1.0 480p forward's GPU time in the
        profile; the gain on a GPU is not measured yet, on 2 CPU cores the tiny DiT at 8k tokens
        ran ~10% faster). Used when the windows tile the frame exactly (no padding to mask)."""
        b = x.shape[0]
        wins = (grid[1] // window[0]) * (grid[2] // window[1])
        xw = window_partition(x, grid, window)  # [B*nWin, T*wh*ww, D]
        mods = tuple(m.repeat_interleave(wins, dim=0) for m in mv)  # per-sample -> per window
        cos, sin = rope.windowed(b, grid, window)
        q, k, v = self.video.qkv_heads_rope(xw, mods, cos, sin)
        return window_merge(self.video.finish(xw, attention(q, k, v, None), mods), b, grid, window)
