"""The fused DiT ops: one entry point each, dispatched per call to Triton or the reference.

Which backend runs is seedance.kernels.dispatch.select_backend's decision (device, dtypes,
SEEDANCE_KERNELS). Both backends take and return the same shapes and dtypes; the reference is
the model's original maths, the Triton path computes in float32 and rounds once per output.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seedance.kernels import reference
from seedance.kernels.dispatch import select_backend


def qk_norm_rope(x: Tensor, weight: Tensor | None, cos: Tensor, sin: Tensor, eps: float = 1e-6) -> Tensor:
    """QK-norm then RoPE on x [B, S, H, Dh]: RMSNorm over Dh (float32) * weight [Dh], then rotate
    consecutive pairs by cos/sin [B, S, Dh/2] (broadcast over heads); returns x's dtype.

    weight=None skips the norm (a model built with qk_norm=False). The Triton path gives no
    gradient to cos/sin (position tables), so a call needing one uses the reference.
    """
    rope_grad = torch.is_grad_enabled() and (cos.requires_grad or sin.requires_grad)
    if select_backend("qk_norm_rope", x, weight, cos, sin, triton_ok=not rope_grad) == "triton":
        from seedance.kernels.triton_ops.qk_norm_rope import qk_norm_rope as fused

        return fused(x, weight, cos, sin, eps)
    return reference.qk_norm_rope(x, weight, cos, sin, eps)


def layernorm_modulate(x: Tensor, shift: Tensor, scale: Tensor, eps: float = 1e-6) -> Tensor:
    """LayerNorm without affine over D (float32 stats), then * (1 + scale) + shift.

    x [B, S, D]; shift, scale [B, 1, D] per-sample adaLN modulation (strided views are fine).
    """
    if select_backend("layernorm_modulate", x, shift, scale) == "triton":
        from seedance.kernels.triton_ops.layernorm_modulate import layernorm_modulate as fused

        return fused(x, shift, scale, eps)
    return reference.layernorm_modulate(x, shift, scale, eps)


def gated_residual(x: Tensor, y: Tensor, gate: Tensor) -> Tensor:
    """adaLN-Zero residual x + gate * y; x, y [B, S, D], gate [B, 1, D]."""
    if select_backend("gated_residual", x, y, gate) == "triton":
        from seedance.kernels.triton_ops.gated_residual import gated_residual as fused

        return fused(x, y, gate)
    return reference.gated_residual(x, y, gate)


def residual_layernorm_modulate(
    x: Tensor, y: Tensor, gate: Tensor, shift: Tensor, scale: Tensor, eps: float = 1e-6
) -> tuple[Tensor, Tensor]:
    """r = x + gate * y and layernorm_modulate(r, shift, scale): returns (r, modulated norm of r)."""
    if select_backend("residual_layernorm_modulate", x, y, gate, shift, scale) == "triton":
        from seedance.kernels.triton_ops.residual_layernorm_modulate import (
            residual_layernorm_modulate as fused,
        )

        return fused(x, y, gate, shift, scale, eps)
    return reference.residual_layernorm_modulate(x, y, gate, shift, scale, eps)
