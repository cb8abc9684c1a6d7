"""Fused kernels for the DiT's memory-bound ops, with PyTorch references and per-call dispatch.

    qk_norm_rope                 per-head RMSNorm * weight, then pairwise RoPE (q and k)
    layernorm_modulate           LayerNorm (no affine) then adaLN * (1 + scale) + shift
    gated_residual               adaLN-Zero x + gate * y
    residual_layernorm_modulate  gated_residual fused with the next layernorm_modulate

Each op runs Triton (forward and backward kernels) on CUDA when triton is installed, and the
PyTorch reference otherwise; SEEDANCE_KERNELS=auto|reference|triton overrides (see dispatch).
triton is optional: this package imports, and the reference works, without it.
"""

from seedance.kernels import reference
from seedance.kernels.dispatch import (
    ENV_VAR,
    Backend,
    KernelBackendError,
    launch_counts,
    select_backend,
    triton_available,
)
from seedance.kernels.ops import gated_residual, layernorm_modulate, qk_norm_rope, residual_layernorm_modulate

__all__ = [
    "ENV_VAR",
    "Backend",
    "KernelBackendError",
    "gated_residual",
    "launch_counts",
    "layernorm_modulate",
    "qk_norm_rope",
    "reference",
    "residual_layernorm_modulate",
    "select_backend",
    "triton_available",
]
