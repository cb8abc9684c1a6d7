"""PyTorch reference implementations of the fused DiT ops.

Each function is the model's original maths, op for op (RMSNorm in model/dit/layers.py,
apply_rope in model/dit/rope.py, nn.LayerNorm without affine + modulate, the adaLN-Zero gated
residual), so the reference backend reproduces the unfused model bit for bit, including its
intermediate roundings in low precision. Autograd differentiates them; the Triton backward
passes are tested against these gradients.

Kept free of seedance.model imports: model/dit/layers.py imports this package.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """RMSNorm over the last dim in float32, times weight, back in x's dtype."""
    x_f = x.float()
    x_f = x_f * torch.rsqrt(x_f.pow(2).mean(-1, keepdim=True) + eps)
    return (x_f * weight.float()).type_as(x)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate consecutive pairs (x[2i], x[2i+1]) of x [B, S, H, Dh] by angles [B, S, Dh/2]."""
    x_pairs = x.float().unflatten(-1, (-1, 2))
    x0, x1 = x_pairs.unbind(-1)
    c, s = cos.unsqueeze(-2), sin.unsqueeze(-2)
    out = torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1)
    return out.flatten(-2).type_as(x)


def qk_norm_rope(x: Tensor, weight: Tensor | None, cos: Tensor, sin: Tensor, eps: float) -> Tensor:
    """Per-head RMSNorm (skipped when weight is None: QK-norm disabled), then RoPE."""
    if weight is not None:
        x = rms_norm(x, weight, eps)
    return apply_rope(x, cos, sin)


def layernorm_modulate(x: Tensor, shift: Tensor, scale: Tensor, eps: float) -> Tensor:
    """LayerNorm without affine over the last dim, then adaLN: norm(x) * (1 + scale) + shift."""
    return F.layer_norm(x, (x.shape[-1],), eps=eps) * (1 + scale) + shift


def gated_residual(x: Tensor, y: Tensor, gate: Tensor) -> Tensor:
    """adaLN-Zero residual: x + gate * y."""
    return x + gate * y


def residual_layernorm_modulate(
    x: Tensor, y: Tensor, gate: Tensor, shift: Tensor, scale: Tensor, eps: float
) -> tuple[Tensor, Tensor]:
    """Gated residual, then the next sub-layer's modulated norm of the new residual stream."""
    r = gated_residual(x, y, gate)
    return r, layernorm_modulate(r, shift, scale, eps)
