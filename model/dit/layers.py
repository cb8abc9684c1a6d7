"""Building blocks shared by the DiT's spatial and temporal layers.

`Stream` holds one modality's weights inside a layer (adaLN, QKV with QK-norm, output
projection, MLP). MMDiT keeps separate weights per modality, so a spatial layer has a video
stream and a text stream; a temporal layer has only a video stream.

The memory-bound steps of a Stream (LayerNorm + adaLN modulate, QK-norm + RoPE, gated residuals)
go through seedance.kernels, which runs fused Triton kernels on CUDA and the original PyTorch maths
elsewhere. The modules that own those steps' weights and eps (norm1, norm2, q_norm, k_norm) stay,
so parameter names and state_dict keys are unchanged; the fused calls read their .weight/.eps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seedance import kernels


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return kernels.reference.rms_norm(x, self.weight, self.eps)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN: x * (1 + scale) + shift, with per-sample [B, 1, D] modulation."""
    return x * (1 + scale) + shift


def attention(q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None = None) -> Tensor:
    """Scaled dot-product attention on [B, S, H, D] tensors; key_mask [B, S_k] True = attend."""
    mask = None if key_mask is None else key_mask[:, None, None, :]
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask
    )
    return out.transpose(1, 2).flatten(2)


class TimestepEmbedding(nn.Module):
    """Sinusoidal features of t in [0, 1] (scaled to [0, 1000]) followed by an MLP."""

    def __init__(self, dim: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        half = self.freq_dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        args = (t.float() * 1000.0)[:, None] * freqs[None]
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))


class TextPool(nn.Module):
    """The caption pooled into one vector for the adaLN conditioning (SD3 adds a pooled text
    embedding to its timestep embedding; Seedance's notes say "MMDiT style, as in SD3").

    Why the DiT needs it beside joint attention: a word like "left" or "right" must change HOW
    the video moves (which way temporal attention shifts content), not what a token looks like.
    adaLN scales every layer's features, a multiplicative path that joint attention's additive
    update lacks. Measured on ShapesWorld (docs/TRAINING.md, session 9): a tiny DiT fed the
    direction only through joint attention never followed it (steering 0.002 after 1,500
    steps); given the direction through adaLN it did (0.08 after 1,000 and rising).

    Learned-query attention over the caption tokens, per head; the query starts at zero, so the
    pool starts as the masked mean of the tokens. The MLP's last layer starts at zero, so a new
    pool leaves the timestep embedding unchanged until it learns. A sample with no caption tokens
    pools to zero.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.query = nn.Parameter(torch.zeros(num_heads, dim // num_heads))
        self.kv = nn.Linear(dim, 2 * dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, txt: Tensor, mask: Tensor) -> Tensor:
        """txt [B, L, D] projected caption tokens, mask [B, L] (True = real) -> [B, D]."""
        b, length, d = txt.shape
        k, v = self.kv(txt).view(b, length, 2, self.num_heads, d // self.num_heads).unbind(2)
        scores = torch.einsum("hd,blhd->bhl", self.query.to(k.dtype), k) / math.sqrt(d // self.num_heads)
        weights = scores.masked_fill(~mask[:, None, :], float("-inf")).softmax(-1)
        weights = torch.nan_to_num(weights)  # all-masked rows (no tokens): softmax gives NaN -> 0
        return self.mlp(torch.einsum("bhl,blhd->bhd", weights, v).reshape(b, d))

    def start_silent(self) -> None:
        """Zero the output, so the pool adds nothing until it is trained (a DiT loaded from
        weights saved without a pool then predicts exactly what it did)."""
        nn.init.zeros_(self.query)
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    reset_output = start_silent  # a fresh attention pool starts silent too


class TokenSumPool(nn.Module):
    """The caption as a bag of words: every token through a shared MLP, summed over the real
    tokens (`DiTConfig.text_pool = "sum"`).

    Why beside TextPool: an attention pool starts as the mean of the tokens, so one word moves
    its output by about 1/L, and learning to pick the word out is a second-order effect; the
    direction probe's attention pool barely learned "left" from "right". Here every word adds its
    own vector at full size, the way a class embedding does, and gets that vector's gradient
    directly: the probe's sum pool followed the oracle (the true direction as an embedding) a few
    hundred steps behind. On token-embedding features (text encoder layer 0) a word's vector does
    not depend on its context; on contextual features it does. The output layer starts small but
    not zero (std 0.05, as measured), so words differ from the first step.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, txt: Tensor, mask: Tensor) -> Tensor:
        """txt [B, L, D] projected caption tokens, mask [B, L] (True = real) -> [B, D]."""
        return (self.mlp(txt) * mask[..., None].to(txt.dtype)).sum(1)

    def reset_output(self) -> None:
        nn.init.normal_(self.mlp[2].weight, std=0.05)
        nn.init.zeros_(self.mlp[2].bias)

    def start_silent(self) -> None:
        """Zero the output (see TextPool.start_silent)."""
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class Stream(nn.Module):
    """One modality's weights in one layer, adaLN-Zero conditioned on the timestep embedding.

    `kv_only`: the stream only supplies keys and values (the caption in the last spatial layer,
    whose output nothing reads, as in SD3's final block): no queries, output projection or MLP,
    and only the attention's shift/scale modulation.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qk_norm: bool, kv_only: bool = False):
        super().__init__()
        self.num_heads = num_heads
        self.kv_only = kv_only
        head_dim = dim // num_heads
        self.modulation = nn.Linear(dim, (2 if kv_only else 6) * dim)
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(dim, (2 if kv_only else 3) * dim)
        self.q_norm = nn.Identity() if kv_only or not qk_norm else RMSNorm(head_dim)
        self.k_norm = RMSNorm(head_dim) if qk_norm else nn.Identity()
        if not kv_only:
            self.proj = nn.Linear(dim, dim)
            self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
            self.mlp = MLP(dim, int(dim * mlp_ratio))

    def modulations(self, c: Tensor) -> tuple[Tensor, ...]:
        """[B, 1, D] tensors: shift/scale/gate for attention, then for the MLP (shift/scale only
        when kv_only)."""
        return self.modulation(F.silu(c)).unsqueeze(1).chunk(2 if self.kv_only else 6, dim=-1)

    def kv_heads_rope(self, x: Tensor, mods: tuple[Tensor, ...], cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor]:
        """Keys (QK-normed, rotated) and values [B, S, H, Dh] of a kv_only stream."""
        shift, scale = mods[0], mods[1]
        kv = self.qkv(kernels.layernorm_modulate(x, shift, scale, self.norm1.eps))
        k, v = kv.unflatten(-1, (2, self.num_heads, -1)).unbind(2)
        return self._norm_rope(k, self.k_norm, cos, sin), v

    def qkv_heads(self, x: Tensor, mods: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor]:
        """x [B, S, D] -> q, k, v [B, S, H, Dh], QK-normed (no RoPE)."""
        q, k, v = self._project(x, mods)
        return self.q_norm(q), self.k_norm(k), v

    def qkv_heads_rope(
        self, x: Tensor, mods: tuple[Tensor, ...], cos: Tensor, sin: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """qkv_heads followed by RoPE on q and k (cos/sin [B, S, Dh/2]), norm and rotation fused."""
        q, k, v = self._project(x, mods)
        return self._norm_rope(q, self.q_norm, cos, sin), self._norm_rope(k, self.k_norm, cos, sin), v

    def _project(self, x: Tensor, mods: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor]:
        shift, scale = mods[0], mods[1]
        qkv = self.qkv(kernels.layernorm_modulate(x, shift, scale, self.norm1.eps))
        q, k, v = qkv.unflatten(-1, (3, self.num_heads, -1)).unbind(2)
        return q, k, v

    @staticmethod
    def _norm_rope(t: Tensor, norm: nn.Module, cos: Tensor, sin: Tensor) -> Tensor:
        # nn.Identity when the model was built with qk_norm=False: rotation only.
        if isinstance(norm, RMSNorm):
            return kernels.qk_norm_rope(t, norm.weight, cos, sin, norm.eps)
        return kernels.qk_norm_rope(t, None, cos, sin)

    def finish(self, x: Tensor, attn_out: Tensor, mods: tuple[Tensor, ...]) -> Tensor:
        """Gated residuals: attention output, then the modulated MLP."""
        gate_attn, shift2, scale2, gate_mlp = mods[2], mods[3], mods[4], mods[5]
        # x + gate_attn * proj(attn), and the MLP input norm2(x) * (1 + scale2) + shift2, in one pass.
        x, h = kernels.residual_layernorm_modulate(x, self.proj(attn_out), gate_attn, shift2, scale2, self.norm2.eps)
        return kernels.gated_residual(x, self.mlp(h), gate_mlp)
