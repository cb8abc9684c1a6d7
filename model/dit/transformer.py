"""SeedanceDiT: the denoiser. Reads top to bottom: inputs -> tokens -> layer pairs -> velocity.

Input (the unified task format): noisy latent ++ condition latents ++ binary mask along
channels [B, 2C+1(+extra), T, H, W]. T2V has zero condition and mask; I2V puts the first
frame's clean latent in the condition channels with mask 1 on that frame; first+last frame and
T2I (a 1-frame video) are the same format. The refiner adds its upsampled low-res latent as
`extra_in_channels`. Output: the flow-matching velocity [B, C, T, H, W].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from seedance.model.config import DiTConfig
from seedance.model.dit.blocks import Rope, SpatialBlock, TemporalBlock
from seedance.model.dit.layers import RMSNorm, TextPool, TimestepEmbedding, TokenSumPool, modulate
from seedance.model.dit.rope import mm_rope_positions, rope_angles


@dataclass
class TextTokens:
    """Caption tokens for the DiT: one or more per-shot captions packed along L.

    hidden [B, L, Dtext]; mask [B, L] (True = real token); shot [B, L] which shot's caption the
    token belongs to; index [B, L] its position within that caption.
    """

    hidden: Tensor
    mask: Tensor
    shot: Tensor
    index: Tensor

    def to(self, device=None, dtype=None) -> TextTokens:
        return TextTokens(self.hidden.to(device=device, dtype=dtype), self.mask.to(device),
                          self.shot.to(device), self.index.to(device))


class SeedanceDiT(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden_size
        pt, ph, pw = cfg.patch_size
        self.in_proj = nn.Linear(cfg.in_channels * pt * ph * pw, d)
        self.text_norm = RMSNorm(cfg.text_dim)
        self.text_proj = nn.Linear(cfg.text_dim, d)
        self.time_embed = TimestepEmbedding(d, cfg.timestep_freq_dim)
        self.text_pool = None
        if cfg.pooled_text:
            self.text_pool = TextPool(d, cfg.num_heads) if cfg.text_pool == "attention" else TokenSumPool(d)
        # The last spatial layer's caption output would be read by nothing: it only lends K/V.
        self.spatial = nn.ModuleList(
            SpatialBlock(d, cfg.num_heads, cfg.mlp_ratio, cfg.qk_norm, text_output=i < cfg.depth - 1)
            for i in range(cfg.depth)
        )
        self.temporal = nn.ModuleList(
            TemporalBlock(d, cfg.num_heads, cfg.mlp_ratio, cfg.qk_norm, cfg.temporal_window)
            for _ in range(cfg.depth)
        )
        self.out_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.out_modulation = nn.Linear(d, 2 * d)
        self.out_proj = nn.Linear(d, cfg.latent_channels * pt * ph * pw)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier linears; adaLN modulations and the output projection start at zero (adaLN-Zero),
        so an untrained model predicts zero velocity and every layer starts as the identity."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for block in [*self.spatial, *self.temporal]:
            for stream in block.children():
                nn.init.zeros_(stream.modulation.weight)
                nn.init.zeros_(stream.modulation.bias)
        for m in (self.out_modulation, self.out_proj):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
        nn.init.normal_(self.time_embed.mlp[0].weight, std=0.02)
        nn.init.normal_(self.time_embed.mlp[2].weight, std=0.02)
        if self.text_pool is not None:
            self.text_pool.reset_output()

    def compile_blocks(self, **kwargs) -> SeedanceDiT:
        """Regional torch.compile of every spatial and temporal block, in place (see dit/compile.py)."""
        from seedance.model.dit.compile import compile_blocks

        return compile_blocks(self, **kwargs)

    # -- tokens <-> latent grid -------------------------------------------------------------
    def token_grid(self, t: int, h: int, w: int) -> tuple[int, int, int]:
        pt, ph, pw = self.cfg.patch_size
        if t % pt or h % ph or w % pw:
            raise ValueError(f"latent (t={t}, h={h}, w={w}) must be divisible by patch_size {self.cfg.patch_size}")
        return (t // pt, h // ph, w // pw)

    def patchify(self, x: Tensor) -> Tensor:
        b, c, t, h, w = x.shape
        pt, ph, pw = self.cfg.patch_size
        x = x.reshape(b, c, t // pt, pt, h // ph, ph, w // pw, pw)
        return x.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, (t // pt) * (h // ph) * (w // pw), -1)

    def unpatchify(self, x: Tensor, grid: tuple[int, int, int]) -> Tensor:
        b = x.shape[0]
        gt, gh, gw = grid
        pt, ph, pw = self.cfg.patch_size
        x = x.reshape(b, gt, gh, gw, -1, pt, ph, pw).permute(0, 4, 1, 5, 2, 6, 3, 7)
        return x.reshape(b, -1, gt * pt, gh * ph, gw * pw)

    def rope_tables(self, text: TextTokens, frame_shot: Tensor, grid: tuple[int, int, int]) -> Rope:
        text_pos, video_pos = mm_rope_positions(text.shot, text.index, text.mask, frame_shot, grid)
        dims, theta = self.cfg.rope_split, self.cfg.rope_theta
        video_cos, video_sin = rope_angles(video_pos, dims, theta)
        text_cos, text_sin = rope_angles(text_pos, dims, theta)
        return Rope(video_cos, video_sin, text_cos, text_sin)

    # -- forward ------------------------------------------------------------------------------
    def forward(self, x: Tensor, timestep: Tensor, text: TextTokens, frame_shot: Tensor | None = None) -> Tensor:
        """x [B, in_channels, T, H, W]; timestep [B] in [0, 1] (1 = pure noise); frame_shot [B, T']
        shot id per token-grid frame (default: one shot). Returns velocity [B, C, T, H, W]."""
        b, c, t, h, w = x.shape
        if c != self.cfg.in_channels:
            raise ValueError(f"DiT input has {c} channels, expected {self.cfg.in_channels} "
                             f"(noisy {self.cfg.latent_channels} + condition {self.cfg.latent_channels} + mask 1"
                             f" + extra {self.cfg.extra_in_channels})")
        grid = self.token_grid(t, h, w)
        if frame_shot is None:
            frame_shot = torch.zeros(b, grid[0], dtype=torch.long, device=x.device)
        rope = self.rope_tables(text, frame_shot.to(x.device), grid)

        tokens = self.in_proj(self.patchify(x))
        txt = self.text_proj(self.text_norm(text.hidden.to(tokens.dtype)))
        cond = self.time_embed(timestep)
        if self.text_pool is not None:
            cond = cond + self.text_pool(txt, text.mask)
        for spatial, temporal in zip(self.spatial, self.temporal, strict=True):
            tokens, txt = spatial(tokens, txt, text.mask, cond, rope, grid)
            tokens = temporal(tokens, cond, rope, grid)

        shift, scale = self.out_modulation(torch.nn.functional.silu(cond)).unsqueeze(1).chunk(2, dim=-1)
        out = self.out_proj(modulate(self.out_norm(tokens), shift, scale))
        return self.unpatchify(out, grid)


def load_dit_weights(dit: SeedanceDiT, state: dict[str, Tensor]) -> list[str]:
    """Load `state` into `dit` strictly, except that a DiT built with `pooled_text` accepts weights
    saved without the pool: it keeps a fresh pool whose output is zeroed, so the loaded DiT
    predicts exactly what it did before. Returns the parameter names left fresh."""
    fresh = [k for k in dit.state_dict() if k.startswith("text_pool.") and k not in state]
    missing, unexpected = dit.load_state_dict(state, strict=False)
    wrong = sorted(set(missing) - set(fresh)) + sorted(unexpected)
    if wrong:
        raise RuntimeError(f"DiT weights do not match the config: {', '.join(wrong[:8])}")
    if fresh:
        dit.text_pool.start_silent()
    return fresh


def build_task_input(noisy: Tensor, condition: Tensor | None = None, mask: Tensor | None = None,
                     extra: Tensor | None = None) -> Tensor:
    """Concatenate the unified task input along channels.

    noisy [B, C, T, H, W]; condition [B, C, T, H, W] clean latents at the given frames (zeros
    elsewhere); mask [B, 1, T, H, W] or [B, T] 1 where a frame is given. None = T2V (zeros).
    """
    b, _, t, h, w = noisy.shape
    if condition is None:
        condition = torch.zeros_like(noisy)
    if mask is None:
        mask = torch.zeros(b, 1, t, h, w, dtype=noisy.dtype, device=noisy.device)
    elif mask.dim() == 2:
        mask = mask[:, None, :, None, None].expand(b, 1, t, h, w).to(noisy.dtype)
    parts = [noisy, condition * mask, mask]
    if extra is not None:
        parts.append(extra)
    return torch.cat(parts, dim=1)
